"""The one logging setup (gridcrew/logs.py): JSON lines with level, logger, message and
request id; tokens never reach a line, in particular the board stream's ``?access_token=``
in the API's access log (a real uvicorn, its stderr read back)."""

from __future__ import annotations

import io
import json
import logging
import tempfile

import httpx

from gridcrew import logs
from gridcrew.net import free_port
from mobile_api.serve import api_subprocess
from tests.conftest import ROOT, service_env, stop_process


def _capture(fmt: str) -> tuple[logging.Logger, io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logs.formatter(fmt))
    handler.addFilter(logs.Redact("test"))
    logger = logging.getLogger(f"gridcrew.test.{fmt}")
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger, out


def test_logging_json_line_has_level_logger_message_and_request_id():
    logger, out = _capture("json")
    token = logs.request_id_var.set("req-42")
    try:
        logger.warning("job %s checked in by %s", 17, "crew-01")
    finally:
        logs.request_id_var.reset(token)
    logger.info("outside any request")
    inside, outside = (json.loads(line) for line in out.getvalue().splitlines())
    assert inside["level"] == "WARNING" and inside["logger"] == "gridcrew.test.json"
    assert inside["message"] == "job 17 checked in by crew-01"
    assert inside["request_id"] == "req-42" and inside["service"] == "test"
    assert inside["time"]
    assert outside["request_id"] == "-"


def test_logging_masks_tokens_in_messages_and_arguments():
    logger, out = _capture("text")
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjcmV3LTAxIn0.c2lnbmF0dXJlLXBhcnQ"
    logger.info("GET /v1/board/stream?access_token=%s&x=1", jwt)
    logger.info("Authorization: Bearer %s", "opaque-secret-value")
    logger.info("form %s", "username=crew-01&password=gridcrew")
    logger.info("%(path)s", {"path": f"/v1/x?token={jwt}"})
    try:
        raise ValueError(f"refused {jwt}")
    except ValueError:
        logger.exception("login failed")
    text = out.getvalue()
    for secret in (jwt, "opaque-secret-value", "gridcrew\n", "password=gridcrew"):
        assert secret not in text
    assert "access_token=***&x=1" in text and "Bearer ***" in text
    assert "password=***" in text and "token=***" in text
    assert "ValueError: refused ***" in text  # the traceback is masked too


def test_logging_api_access_log_has_request_ids_and_never_a_token(db_url):
    """Every request's access line is JSON with its request id (the client's X-Request-ID
    or a new one, echoed back); the token of ``?access_token=`` and of the login answer
    appears in no line, whether the stream accepted the token or refused it."""
    port = free_port()
    with tempfile.TemporaryFile() as err:
        proc = api_subprocess(
            port,
            service_env(db_url, GRIDCREW_LOG_FORMAT="json"),
            cwd=ROOT,
            timeout=30,
            stderr=err,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            login = httpx.post(
                f"{base}/v1/auth/token",
                data={"username": "dispatcher", "password": "gridcrew"},
                headers={"X-Request-ID": "login-1"},
            )
            token = login.json()["access_token"]
            assert login.headers["x-request-id"] == "login-1"
            with httpx.stream(
                "GET",
                f"{base}/v1/board/stream",
                params={"access_token": token},
                headers={"X-Request-ID": "stream-1"},
                timeout=10,
            ) as r:
                assert r.status_code == 200
                next(r.iter_lines())  # the stream's first event: it was served
            refused = httpx.get(f"{base}/v1/board/stream", params={"access_token": token[:-4]})
            assert refused.status_code == 401
            generated = refused.headers["x-request-id"]
        finally:
            stop_process(proc)
        err.seek(0)
        text = err.read().decode()
    assert token not in text and token[:-4] not in text
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    access = {line["request_id"]: line for line in lines if line["logger"] == "gridcrew.api.access"}
    assert {"login-1", "stream-1", generated} <= set(access)
    assert "/v1/board/stream?access_token=***" in access["stream-1"]["message"]
    assert access[generated]["message"].split()[2] == "401"
    for line in lines:
        assert {"time", "level", "logger", "message", "request_id"} <= set(line)
