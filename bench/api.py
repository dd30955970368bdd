"""``gridcrew bench api``: measures the mobile API against a real
uvicorn on loopback, on a throw-away database it creates and drops itself
(never the stack's own data).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from bench import procstat
from gridcrew import progress
from gridcrew.config import get_settings


def _percentiles(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)
    if not ordered:
        return {"p50_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0}

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)

    return {"p50_ms": at(0.50), "p99_ms": at(0.99), "max_ms": round(ordered[-1], 2)}


def _progress(message: str) -> None:
    progress.current().step(f"bench api: {message}")


def _api_pids(pid: int) -> list[int]:
    """The API's processes: uvicorn itself and, with several workers, its children."""
    return [pid, *procstat.children(pid)]


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds the API's processes have used so far."""
    return procstat.cpu_seconds(_api_pids(pid))


class _RssSampler(threading.Thread):
    """Samples the resident memory of the API's processes every 10 ms; keeps the peak of
    each and of their sum."""

    def __init__(self, pids: list[int]) -> None:
        super().__init__(daemon=True)
        self.pids, self._done = pids, threading.Event()
        self.peak_kb = dict.fromkeys(pids, 0)
        self.peak_total_kb = 0

    def run(self) -> None:
        while not self._done.is_set():
            sizes = {p: procstat.rss_kb(p) for p in self.pids}
            for p, kb in sizes.items():
                self.peak_kb[p] = max(self.peak_kb[p], kb)
            self.peak_total_kb = max(self.peak_total_kb, sum(sizes.values()))
            time.sleep(0.01)

    def stop(self) -> None:
        self._done.set()
        self.join()


def _prepare_database(url: str, crews: list[str], jobs_per_crew: int) -> dict[str, list[int]]:
    from gridcrew import db
    from simulators.demo.seed import seed

    with contextlib.redirect_stdout(sys.stderr):  # yoyo echoes SELECT results; stdout is JSON
        db.migrate(url)
    jobs: dict[str, list[int]] = {}
    with db.transaction(url) as conn:
        seed(conn, 1, meters=500)
        for crew in crews:
            for n in range(jobs_per_crew):
                row = conn.execute(
                    "INSERT INTO work_orders (kind, status, lon, lat, address, required_skills)"
                    " VALUES ('fault_repair', 'on_site', 120.755, 30.746, 'bench', '{}')"
                    " RETURNING id"
                ).fetchone()
                conn.execute(
                    "INSERT INTO assignments (work_order_id, crew_id, sequence)"
                    " VALUES (%s, %s, %s)",
                    (row["id"], crew, n),
                )
                jobs.setdefault(crew, []).append(row["id"])
    return jobs


def _http_request(method: str, path: str, token: str, body: dict | None = None) -> bytes:
    """One raw HTTP/1.1 request (keep-alive) for the load generator."""
    payload = json.dumps(body).encode() if body is not None else b""
    head = f"{method} {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\n"
    if body is not None:
        head += f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
    return (head + "\r\n").encode() + payload


async def _read_status(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    await reader.readexactly(length)
    return status


async def _load(
    port: int, rate: float, seconds: float, make_request, connections: int = 64
) -> dict[str, Any]:
    """Open-loop load: request *i* is due at t0 + i/rate whatever the answers do, and
    its latency counts from then (time spent waiting for a free connection included).

    A raw HTTP/1.1 keep-alive client: a general-purpose client (httpx) costs more
    CPU per request than the API does and would measure itself on this machine."""
    total = int(rate * seconds)
    queue: asyncio.Queue = asyncio.Queue()
    latencies: list[float] = []
    errors = 0

    async def worker() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while (item := await queue.get()) is not None:
            due, raw = item
            try:
                writer.write(raw)
                status = await _read_status(reader)
            except (OSError, asyncio.IncompleteReadError, ValueError):
                errors += 1
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                continue
            if status >= 400:
                errors += 1
            latencies.append((time.perf_counter() - due) * 1000)
        writer.close()

    workers = [asyncio.create_task(worker()) for _ in range(connections)]
    await asyncio.sleep(0.2)  # connections open before the clock starts
    t0 = time.perf_counter()
    for i in range(total):
        due = t0 + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait((due, make_request()))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    elapsed = time.perf_counter() - t0
    return {
        "requests": total,
        "achieved_rps": round(total / elapsed, 1),
        "errors": errors,
        **_percentiles(latencies),
    }


def _noise_jpeg(target_bytes: int) -> bytes:
    from PIL import Image

    side = int((target_bytes / 1.17) ** 0.5)  # noise at quality 95: ~1.17 bytes per pixel
    image = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=95)
    return out.getvalue()


async def _uploads(
    base: str, tokens: dict[str, str], jobs: dict[str, list[int]], count: int, size: int
) -> dict[str, Any]:
    import httpx

    photo = _noise_jpeg(size)
    crews = list(tokens)
    async with httpx.AsyncClient(base_url=base, timeout=300) as client:

        async def one(i: int) -> tuple[int, float]:
            crew = crews[i % len(crews)]
            data = photo + i.to_bytes(4, "big")  # distinct bytes: 20 photos, not one
            started = time.perf_counter()
            r = await client.post(
                f"/v1/jobs/{jobs[crew][0]}/photos",
                headers={"Authorization": f"Bearer {tokens[crew]}"},
                files={"file": (f"p{i}.jpg", data, "image/jpeg")},
                data={"stage": "construction"},
            )
            return r.status_code, time.perf_counter() - started

        t0 = time.perf_counter()
        results = await asyncio.gather(*(one(i) for i in range(count)))
    return {
        "photos": count,
        "photo_bytes": len(photo) + 4,
        "created": sum(1 for code, _ in results if code == 201),
        "wall_s": round(time.perf_counter() - t0, 2),
    }


def bench_api(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON only")] = False,
    rate: Annotated[float, typer.Option(help="Requests per second of each load phase")] = 300,
    seconds: Annotated[float, typer.Option(help="Length of each load phase")] = 10,
    photos: Annotated[int, typer.Option(help="Concurrent photo uploads")] = 20,
    photo_mb: Annotated[float, typer.Option(help="Size of each photo (MB)")] = 10,
    workers: Annotated[
        int | None, typer.Option(help="uvicorn worker processes (default: api_workers)")
    ] = None,
    metrics: Annotated[
        bool, typer.Option(help="The API counts requests and serves /metrics (off: its cost)")
    ] = True,
    access_log: Annotated[bool, typer.Option(help="The API writes its access log")] = False,
) -> None:
    """p50/p99 of check-in and my-jobs under load, and API memory during photo uploads."""
    import httpx

    from gridcrew import db
    from gridcrew.net import free_port
    from mobile_api.serve import ApiDidNotStart, api_subprocess

    s = get_settings()
    name = f"gridcrew_bench_api_{os.getpid()}"
    url = db.with_database(s.database_url, name)
    crews = [f"CREW-{i:02d}" for i in range(1, 13)]
    db.drop_database(s.database_url, name)
    proc: subprocess.Popen | None = None
    try:
        _progress(f"preparing database {name}")
        # five jobs per crew for the measured check-ins, five more for the warm-up's,
        # so that the measured phase still sets each of its jobs' arrival once
        prepared = _prepare_database(url, crews, jobs_per_crew=10)
        jobs = {crew: ids[:5] for crew, ids in prepared.items()}
        warm_jobs = {crew: ids[5:] for crew, ids in prepared.items()}
        port = free_port()
        data_dir = tempfile.mkdtemp(prefix="gridcrew-bench-api-")
        env = {
            **os.environ,
            "GRIDCREW_DATABASE_URL": url,
            "GRIDCREW_DATA_DIR": data_dir,
            "GRIDCREW_API_METRICS": str(metrics).lower(),
            "GRIDCREW_API_ACCESS_LOG": str(access_log).lower(),
        }
        try:
            workers = workers or s.api_workers
            proc = api_subprocess(port, env, workers=workers)
        except ApiDidNotStart as exc:
            raise typer.Exit(str(exc)) from None
        base = f"http://127.0.0.1:{port}"
        tokens = {
            crew: httpx.post(
                f"{base}/v1/auth/token",
                data={"username": f"crew-{crew[-2:]}", "password": s.demo_password},
            ).json()["access_token"]
            for crew in crews
        }
        rng = random.Random(1)

        def me() -> bytes:
            return _http_request("GET", "/v1/auth/me", tokens[rng.choice(crews)])

        def my_jobs() -> bytes:
            return _http_request("GET", "/v1/jobs", tokens[rng.choice(crews)])

        def check_in(jobs: dict[str, list[int]] = jobs) -> bytes:
            crew = rng.choice(crews)
            body = {
                "lon": 120.755 + rng.uniform(-0.001, 0.001),
                "lat": 30.746 + rng.uniform(-0.001, 0.001),
                "accuracy_m": 8,
                "client_time": datetime.now(UTC).isoformat(),
            }
            path = f"/v1/jobs/{rng.choice(jobs[crew])}/check-ins"
            return _http_request("POST", path, tokens[crew], body)

        _progress("API up; warming up")
        # warm-up: the pool's connections, their backends' caches and prepared
        # statements, the code paths of both measured requests (steady state is measured;
        # cold, the first ~0.1 s of check-ins took up to 140 ms: docs/api.md, Benchmark)
        asyncio.run(_load(port, rate, 2, my_jobs))
        asyncio.run(_load(port, rate, 2, lambda: check_in(warm_jobs)))
        phases: dict[str, dict[str, Any]] = {}
        for phase, make in (("baseline_auth_me", me), ("my_jobs", my_jobs), ("check_in", check_in)):
            _progress(f"{phase}: {rate:g} req/s for {seconds:g} s")
            cpu_before = _cpu_s(proc.pid)
            phases[phase] = asyncio.run(_load(port, rate, seconds, make))
            used_ms = (_cpu_s(proc.pid) - cpu_before) * 1000
            phases[phase]["api_cpu_ms_per_request"] = round(used_ms / phases[phase]["requests"], 2)
        _progress(f"load phases done; uploading {photos} photos")
        # the process(es) serving requests: uvicorn itself, or its workers
        servers = _api_pids(proc.pid)[1:] or [proc.pid]
        idle_kb = {p: procstat.rss_kb(p) for p in servers}
        sampler = _RssSampler(servers)
        sampler.start()
        upload = asyncio.run(_uploads(base, tokens, jobs, photos, int(photo_mb * 1_000_000)))
        sampler.stop()
        biggest = max(servers, key=lambda p: sampler.peak_kb[p])
        result = {
            "benchmark": "api",
            "command": "gridcrew bench api --json",
            "rate_rps": rate,
            "workers": workers,
            "metrics": metrics,
            "access_log": access_log,
            "seconds_per_phase": seconds,
            **phases,
            "photo_upload": {
                **upload,
                # of the worker process whose peak was highest (the only one with 1 worker)
                "rss_idle_mb": round(idle_kb[biggest] / 1024, 1),
                "rss_peak_mb": round(sampler.peak_kb[biggest] / 1024, 1),
                "rss_growth_mb": round((sampler.peak_kb[biggest] - idle_kb[biggest]) / 1024, 1),
                "rss_peak_all_workers_mb": round(sampler.peak_total_kb / 1024, 1),
            },
            "goal": {"p99_ms": 50, "rss_peak_mb": 150},
        }
    finally:
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        db.drop_database(s.database_url, name)
    if as_json:
        typer.echo(json.dumps(result))
        return
    for phase in ("baseline_auth_me", "my_jobs", "check_in"):
        p = result[phase]
        typer.echo(
            f"{phase:18} {p['achieved_rps']:7.1f} req/s  p50 {p['p50_ms']:7.2f} ms"
            f"  p99 {p['p99_ms']:7.2f} ms  API CPU {p['api_cpu_ms_per_request']:5.2f} ms/req"
            f"  errors {p['errors']}"
        )
    u = result["photo_upload"]
    typer.echo(
        f"{u['photos']} x {u['photo_bytes'] / 1e6:.1f} MB photos: {u['created']} stored in"
        f" {u['wall_s']} s, API RSS {u['rss_idle_mb']} -> peak {u['rss_peak_mb']} MB"
    )
