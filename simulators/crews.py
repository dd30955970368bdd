"""Crews on handheld terminals against the mobile API (the shell around :mod:`fieldwork`).

Each crew logs in (``crew-01`` … ``crew-12``), reads its plan (``GET /v1/jobs``), drives
to the first job posting GPS fixes, checks in, sets its statuses, uploads a survey photo,
works, marks work done and captures the customer's sign-off. Some crews lose signal on
site and send those actions later in one ``POST /v1/sync`` with idempotency keys. Only
the HTTP contract of docs/contracts.md is used; *speed* compresses driving and work.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from gridcrew.config import get_settings
from simulators.clock import sleep_or_stop
from simulators.fieldwork import JobPlan, Point, job_plan, survey_photo
from simulators.grid import Grid
from simulators.seeding import rng_for

log = logging.getLogger("gridcrew.simulators.crews")

ACTIVE = ("assigned", "accepted", "en_route", "on_site", "work_done")
IDLE_POLL_S = 30.0  # scenario seconds between plan reads when there is nothing to do


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _until_leave(job: dict | None) -> float:
    """Seconds until the plan's ``leave_at`` for a job not yet started (0: go now)."""
    if job is None or job.get("status") not in ("assigned", "accepted"):
        return 0.0
    leave = (job.get("explanation") or {}).get("leave_at")
    if not leave:
        return 0.0
    return max(0.0, (datetime.fromisoformat(leave) - datetime.now(UTC)).total_seconds())


class JobGone(Exception):
    """The job was taken away (reassigned, cancelled) while we worked on it."""


@dataclass
class CrewStats:
    jobs_done: int = 0
    positions: int = 0
    synced_actions: int = 0
    errors: list[str] = field(default_factory=list)


class CrewAgent:
    def __init__(
        self,
        http: httpx.AsyncClient,
        username: str,
        grid: Grid,
        seed: int,
        speed: float,
        stop: asyncio.Event,
        *,
        max_jobs: int | None = None,
        offline: bool | None = None,
    ) -> None:
        self.http = http
        self.offline = offline  # None: as each job's plan says
        self.username = username
        self.grid = grid
        self.seed = seed
        self.speed = speed
        self.stop = stop
        self.max_jobs = max_jobs
        self.stats = CrewStats()
        self.token = ""
        self.refresh_token = ""
        self.crew_id = ""
        self.here: Point = (0.0, 0.0)
        self._last_problem = ""

    # -- plumbing ----------------------------------------------------------------
    def log(self, text: str) -> None:
        log.info("%s: %s", self.username, text)

    def problem(self, text: str) -> None:
        """Log a recurring problem once, not at every retry."""
        if text != self._last_problem:
            self.log(text)
            self._last_problem = text

    def key(self, *parts: object) -> str:
        """A deterministic idempotency key for one action."""
        return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(map(str, (self.seed, *parts)))))

    async def wait(self, scenario_s: float) -> bool:
        return await sleep_or_stop(self.stop, scenario_s / self.speed)

    async def login(self) -> bool:
        """Log in, retrying while the API is not up; False when stopped first."""
        form = {"username": self.username, "password": get_settings().demo_password}
        warned = False
        while not self.stop.is_set():
            try:
                r = await self.http.post("/v1/auth/token", data=form)
            except httpx.HTTPError as exc:
                if not warned:
                    self.log(f"API not reachable at {self.http.base_url} ({exc}); retrying")
                    warned = True
                await sleep_or_stop(self.stop, 2.0)
                continue
            if r.status_code != 200:
                self.problem(f"login refused: HTTP {r.status_code} {r.text[:200]}; retrying")
                await sleep_or_stop(self.stop, 5.0)
                continue
            body = r.json()
            self.token, self.refresh_token = body["access_token"], body.get("refresh_token", "")
            self.crew_id = body.get("crew_id") or f"CREW-{self.username[-2:]}"
            return True
        return False

    async def call(
        self, method: str, path: str, *, key: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        for attempt in range(2):
            headers = {"Authorization": f"Bearer {self.token}"}
            if key:
                headers["Idempotency-Key"] = key
            r = await self.http.request(method, path, headers=headers, **kwargs)
            if r.status_code != 401 or attempt:
                break
            if not await self._refresh():
                await self.login()
        if r.status_code in (403, 404):
            raise JobGone(f"{method} {path}: HTTP {r.status_code} {r.text[:200]}")
        if r.status_code >= 400:
            self.stats.errors.append(f"{method} {path}: {r.status_code} {r.text[:200]}")
            self.log(f"{method} {path}: HTTP {r.status_code} {r.text[:200]}")
        return r

    async def _refresh(self) -> bool:
        if not self.refresh_token:
            return False
        r = await self.http.post("/v1/auth/refresh", json={"refresh_token": self.refresh_token})
        if r.status_code != 200:
            return False
        body = r.json()
        self.token = body["access_token"]
        self.refresh_token = body.get("refresh_token", self.refresh_token)
        return True

    # -- the day -------------------------------------------------------------------
    async def run(self) -> CrewStats:
        if not await self.login():
            return self.stats
        crew = next(c for c in self.grid.territory.crews if c.id == self.crew_id)
        depot = next(d for d in self.grid.territory.depots if d.id == crew.depot_id)
        self.here = (depot.lon, depot.lat)
        idle = 0
        while not self.stop.is_set():
            if self.max_jobs is not None and self.stats.jobs_done >= self.max_jobs:
                break
            try:
                jobs = (await self.call("GET", "/v1/jobs")).json()
            except (httpx.HTTPError, ValueError, JobGone) as exc:
                self.problem(f"cannot read the plan: {exc}")
                jobs = []
            if not isinstance(jobs, list):
                jobs = []
            job = next((j for j in jobs if j.get("status") in ACTIVE), None)
            hold = _until_leave(job)
            if hold > 0:  # the plan says when to leave for an appointment (real time)
                if await sleep_or_stop(self.stop, min(hold, IDLE_POLL_S)):
                    break
                continue
            if job is None:
                idle += 1
                if idle % 10 == 1:
                    await self._post_position(self.here, 5.0, 0.0, 0.0)
                if await self.wait(IDLE_POLL_S):
                    break
                continue
            try:
                await self.work(job)
            except JobGone as exc:
                self.log(f"job {job.get('number')} left our plan ({exc})")
            except httpx.HTTPError as exc:
                self.log(f"job {job.get('number')}: network error {exc}; retrying")
                await self.wait(IDLE_POLL_S)
        return self.stats

    def plan_for(self, job: dict) -> JobPlan:
        site = (float(job["lon"]), float(job["lat"]))
        area = self.grid.territory.area_of(*site).kind
        rng = rng_for(self.seed, "crew", self.crew_id, job["id"])
        return job_plan(rng, self.here, site, area, job.get("kind", "fault_repair"))

    async def status(self, job: dict, status: str, *, offline: list | None = None) -> None:
        body = {"status": status, "client_time": _now()}
        key = self.key(self.crew_id, job["id"], "status", status)
        if offline is not None:
            offline.append(
                {"idempotency_key": key, "type": "status", "job_id": job["id"], "body": body}
            )
            return
        await self.call("POST", f"/v1/jobs/{job['id']}/status", json=body, key=key)
        job["status"] = status

    async def _post_position(self, p: Point, acc: float, v: float, heading: float) -> None:
        body = {"lon": p[0], "lat": p[1], "accuracy_m": acc, "time": _now()}
        if v:
            body |= {"speed_mps": v, "heading_deg": heading}
        try:
            await self.call("POST", "/v1/positions", json=body)
            self.stats.positions += 1
        except httpx.HTTPError as exc:
            self.log(f"position not sent: {exc}")

    async def work(self, job: dict) -> None:
        plan = self.plan_for(job)
        number = job.get("number", job["id"])
        state = job["status"]
        if state == "assigned":
            await self.status(job, "accepted")
            state = "accepted"
        if state == "accepted":
            await self.status(job, "en_route")
            self.log(f"{number}: en route, {len(plan.fixes)} fixes")
            last_t = 0.0
            for fix in plan.fixes:
                if await self.wait(fix.t - last_t):
                    return
                last_t = fix.t
                await self._post_position(
                    (fix.lon, fix.lat), fix.accuracy_m, fix.speed_mps, fix.heading_deg
                )
                self.here = plan.path[-1] if fix is plan.fixes[-1] else (fix.lon, fix.lat)
            state = "en_route"
        self.here = plan.path[-1]
        works_offline = plan.offline if self.offline is None else self.offline
        offline: list | None = [] if works_offline and state in ("en_route", "on_site") else None
        if offline is not None:
            self.log(f"{number}: lost signal on arrival; working offline")
            lon, lat, acc = plan.arrival
            body = {"lon": lon, "lat": lat, "accuracy_m": acc, "time": _now()}
            key = self.key(self.crew_id, job["id"], "position", "arrival")
            offline.append({"idempotency_key": key, "type": "position", "body": body})
        if state == "en_route":
            lon, lat, acc = plan.arrival
            body = {"lon": lon, "lat": lat, "accuracy_m": acc, "client_time": _now()}
            key = self.key(self.crew_id, job["id"], "check_in")
            if offline is not None:
                offline.append(
                    {"idempotency_key": key, "type": "check_in", "job_id": job["id"], "body": body}
                )
            else:
                r = await self.call("POST", f"/v1/jobs/{job['id']}/check-ins", json=body, key=key)
                if r.status_code < 400 and not r.json().get("accepted", True):
                    self.log(f"{number}: check-in not accepted ({r.json()})")
            await self.status(job, "on_site", offline=offline)
            state = "on_site"
        photo = survey_photo(*plan.arrival[:2], str(number), rng_for(self.seed, "photo", job["id"]))
        if offline is None and state == "on_site":
            await self._photo(job, photo)
        if state == "on_site":
            if await self.wait(plan.work_min * 60):
                return
            await self.status(job, "work_done", offline=offline)
            state = "work_done"
        signoff = {
            "customer_name": (job.get("customer") or {}).get("name") or "customer",
            "signed_at": _now(),
            "work_summary": f"{job.get('kind', 'job')} {number} done in {plan.work_min:.0f} min",
            "strokes": plan.strokes,
            "ratings": plan.ratings,
            "comment": "",
        }
        key = self.key(self.crew_id, job["id"], "signoff")
        if offline is not None:
            offline.append(
                {"idempotency_key": key, "type": "signoff", "job_id": job["id"], "body": signoff}
            )
            await self._sync(number, offline)
            await self._photo(job, photo)
        else:
            await self.call("POST", f"/v1/jobs/{job['id']}/signoff", json=signoff, key=key)
        self.stats.jobs_done += 1
        self.log(f"{number}: signed off")

    async def _photo(self, job: dict, jpeg: bytes) -> None:
        await self.call(
            "POST",
            f"/v1/jobs/{job['id']}/photos",
            files={"file": (f"survey-{job['id']}.jpg", jpeg, "image/jpeg")},
            data={"stage": "survey"},
            key=self.key(self.crew_id, job["id"], "photo", "survey"),
        )

    async def _sync(self, number: str, actions: list[dict]) -> None:
        self.log(f"{number}: signal back; syncing {len(actions)} actions")
        r = await self.call("POST", "/v1/sync", json={"actions": actions})
        if r.status_code < 400:
            results = r.json().get("results", [])
            bad = [x for x in results if int(x.get("status", 200)) >= 400]
            if bad:
                self.log(f"{number}: {len(bad)} synced actions failed: {bad[:3]}")
            self.stats.synced_actions += len(results)


async def run_crews(
    grid: Grid,
    api_url: str,
    seed: int,
    speed: float,
    stop: asyncio.Event,
    *,
    crews: list[str] | None = None,
    max_jobs: int | None = None,
    offline: dict[str, bool] | None = None,
) -> dict[str, CrewStats]:
    """Every crew (``crew-01`` … ``crew-12``) working its plan until *stop* (or *max_jobs*);
    *offline* forces a crew to work on or off signal."""
    names = crews or [f"crew-{i + 1:02d}" for i in range(len(grid.territory.crews))]
    offline = offline or {}
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
        agents = [
            CrewAgent(http, n, grid, seed, speed, stop, max_jobs=max_jobs, offline=offline.get(n))
            for n in names
        ]
        results = await asyncio.gather(*(a.run() for a in agents))
    return dict(zip(names, results, strict=True))
