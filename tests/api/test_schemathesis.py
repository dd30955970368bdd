"""Property-based run over the OpenAPI schema, as a crew and as a dispatcher: no 5xx.

Fixed seed (derandomised) and a bounded number of examples per operation, so the
run is repeatable and quick. Some jobs exist and belong to crew-01 so that small
generated ids reach the handlers, not only the 404 path.
"""

from __future__ import annotations

from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.conftest import make_job

EXAMPLES = 15
# Endless server-sent-event streams: a generated request would never finish
# (the board stream has its own tests in tests/map, the crew's in tests/crew).
STREAMS = {"/v1/board/stream", "/v1/crew/plan/stream"}


@pytest.fixture(scope="module")
def owned_jobs(api) -> list[int]:
    return [
        make_job(api.database_url, "CREW-01", status=status)
        for status in ("assigned", "accepted", "en_route", "on_site", "work_done")
    ]


@pytest.fixture(scope="module")
def api_schema(api):
    return schemathesis.openapi.from_url(f"{api.base_url}/openapi.json")


@pytest.fixture(scope="module")
def tokens(api) -> dict[str, str]:
    return {
        role: api.login(name) for role, name in (("crew", "crew-01"), ("dispatcher", "dispatcher"))
    }


_hypothesis = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)


def _run_all(schema, token: str, job_ids: list[int], seen: Counter) -> list[str]:
    """Every operation, EXAMPLES generated requests each; the 5xx answers found.
    A generated ``job_id`` is mostly swapped for one of *job_ids* (crew-01's jobs)."""
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path in STREAMS:
            continue

        @_hypothesis
        @given(case=operation.as_strategy(), job_id=st.sampled_from([*job_ids, None]))
        def run(case, job_id: int | None) -> None:
            if job_id is not None and "job_id" in (case.path_parameters or {}):
                case.path_parameters["job_id"] = job_id
            response = case.call(headers={"Authorization": f"Bearer {token}"}, timeout=30)
            seen[(case.method, case.path, response.status_code // 100)] += 1
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.formatted_path} -> {response.status_code}:"
                    f" {response.text[:300]}"
                )

        run()
    return failures


def test_no_server_errors_as_crew(api_schema, tokens, owned_jobs):
    seen: Counter = Counter()
    assert _run_all(api_schema, tokens["crew"], owned_jobs, seen) == []
    # The generated requests reached the handlers, not only the permission checks.
    assert seen[("GET", "/v1/jobs/{job_id}", 2)] > 0
    assert seen[("POST", "/v1/jobs/{job_id}/check-ins", 2)] > 0


def test_no_server_errors_as_dispatcher(api_schema, tokens, owned_jobs):
    seen: Counter = Counter()
    assert _run_all(api_schema, tokens["dispatcher"], owned_jobs, seen) == []
    assert seen[("GET", "/v1/jobs/{job_id}", 2)] > 0
