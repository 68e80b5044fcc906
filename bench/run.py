"""``make bench``: DIEF Forum against the bare limit of its stack, as ratios measured in one run.

    python bench/run.py [--scale 10k|100k|200k|1m] [--duration 8] [--rounds 3]
                        [--connections 16] [--scaling 10k,100k,1m | --no-scaling]
                        [--no-workers] [--no-storm] [--load wrk|python] [--profile]
                        [--compare-source DIR] [--json FILE] [--tiny]

What one run does
    1. Seeds the dataset of ``--scale`` through the service's code (``bench/seed.py``), or
       reuses the seed cached under ``var/bench/`` (the output says which), and clones it into
       a throw-away database on the same embedded PostgreSQL server.
    2. Starts the baseline (``bench/baseline_app.py``: bare aiohttp + asyncpg, three routes) and
       DIEF Forum (the real ``dief serve``, one process, production settings: argon2id
       m=64 MiB t=3 p=4, JSON logs, the posting limit raised to its maximum so the bench is not
       throttled), each in its own process.
    3. Signs bench delegates and moderators in over HTTP (password + TOTP); wrk sends their
       session cookies (and the CSRF token on writes), rotating users and threads.
    4. Runs every scenario for ``--duration`` seconds, ``--rounds`` times, interleaved with
       its baseline route (baseline, forum, forum, …, baseline, …), after a warm-up pass. Each
       round gives a ratio forum/baseline; the table shows medians over the rounds. A shared,
       noisy machine moves absolute numbers between runs; the ratios of one run are what count.
    5. Sign-in storm: 20 connections signing in (right password) while a paced probe reads
       thread pages; p99 of those reads against the same probe without the storm.
    6. Scaling: thread page and thread list on three more seeded databases (10k, 100k, 1M
       posts by default), interleaved; ratio largest/smallest.
    7. Workers: ``dief serve --workers 2`` against the one-process server on the same
       database, interleaved.
    8. Peak RSS (``VmHWM``) of the service process, before and after the sign-in storm.
    9. Optionally (``--profile``) py-spy profiles of the thread page and create post, and
       (``--compare-source DIR``) the same scenarios served by an older source tree.

Load generator: ``wrk`` (the Debian package; installed with apt-get when missing and allowed,
otherwise explained). Without it the harness falls back to a small Python load generator in a
separate process (``python -m bench.common load``); its numbers are labelled NOT FOR REAL
NUMBERS: Python is too slow to load a server on the same two cores and would eat the CPU it
measures.

Exit status: 0 when the table was printed (whatever the figures), 1 when the harness failed.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime as dt
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as `python bench/run.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp

from bench import seed as seeding
from bench.common import (
    REPO_ROOT,
    HarnessError,
    ServerUnderTest,
    child_pids,
    cpu_seconds,
    free_port,
    vm_hwm_kib,
)

WRK_SCRIPTS = Path(__file__).resolve().parent / "wrk_scripts"
PRODUCTION = {
    "DIEF_ARGON2_MEMORY_KIB": "65536", "DIEF_ARGON2_TIME_COST": "3",
    "DIEF_ARGON2_PARALLELISM": "4", "DIEF_MAX_CONCURRENT_HASHES": "2",
    "DIEF_LOG_FORMAT": "json",
    # Bench-only relaxations, each because the bench would otherwise measure the limiter:
    "DIEF_POSTS_PER_MINUTE": "1000",  # the maximum; writes rotate over 64 accounts
    "DIEF_LOGIN_MAX_PER_ACCOUNT": "1000", "DIEF_LOGIN_MAX_PER_CLIENT": "10000",
    "DIEF_LOGIN_WINDOW_MINUTES": "1",
}
TARGETS = {"thread_page": 0.5, "create_post": 0.5, "scaling": 0.8, "storm": 3.0,
           "rss_mb": 200.0}
STORM_CONNECTIONS = 20
PROBE_PACE_MS = 10.0
SIGNIN_PARALLEL = 4


# --- requests and load -----------------------------------------------------------------------

@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None


@dataclass(frozen=True)
class Spec:
    """What one load run sends: a list of requests cycled through, and the status expected."""

    requests: list[Request]
    expect: tuple[int, ...] = (200,)
    pace_ms: float = 0.0


@dataclass(frozen=True)
class LoadResult:
    tool: str
    requests: int
    seconds: float
    errors: int  # socket errors and timeouts, plus answers with an unexpected status
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    cpu_ms_per_request: float | None = None  # of the server process(es)
    unexpected_status: int = 0  # the last unexpected HTTP status seen, if any

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def _lua_string(text: str) -> str:
    out = []
    for byte in text.encode("utf-8"):
        if byte in (34, 92):
            out.append("\\" + chr(byte))
        elif 32 <= byte < 127:
            out.append(chr(byte))
        else:
            out.append(f"\\{byte:03d}")
    return '"' + "".join(out) + '"'


def spec_as_lua(spec: Spec) -> str:
    lines = ["return { requests = {"]
    for r in spec.requests:
        headers = ", ".join(f"[{_lua_string(k)}] = {_lua_string(v)}"
                            for k, v in r.headers.items())
        body = _lua_string(r.body) if r.body is not None else "nil"
        lines.append(f"  {{method = {_lua_string(r.method)}, path = {_lua_string(r.path)}, "
                     f"headers = {{{headers}}}, body = {body}}},")
    lines.append(f"}}, expect = {{{', '.join(str(s) for s in spec.expect)}}}, "
                 f"pace_ms = {spec.pace_ms:g} }}")
    return "\n".join(lines) + "\n"


def spec_as_json(spec: Spec) -> str:
    return json.dumps({"requests": [asdict(r) for r in spec.requests],
                       "expect": list(spec.expect), "pace_ms": spec.pace_ms})


def ensure_wrk(allow_install: bool) -> str | None:
    """wrk's path; installs the Debian package when missing and allowed (root + apt-get)."""
    found = shutil.which("wrk")
    if found or not allow_install:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("wrk is not installed: apt-get install -y wrk", flush=True)
        done = subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], capture_output=True,
                              text=True, check=False)
        if done.returncode != 0:
            print("  apt-get failed:\n  " + done.stderr.strip().replace("\n", "\n  "))
    return shutil.which("wrk")


class LoadTool:
    """Runs one load in a separate process (wrk, or the Python fallback) and reads its summary."""

    def __init__(self, wrk: str | None, workdir: Path) -> None:
        self.wrk = wrk
        self.kind = "wrk" if wrk else "python"
        self.workdir = workdir
        self._files = 0

    def _spec_file(self, spec: Spec) -> Path:
        self._files += 1
        if self.wrk:
            path = self.workdir / f"spec{self._files}.lua"
            path.write_text(spec_as_lua(spec), encoding="utf-8")
        else:
            path = self.workdir / f"spec{self._files}.json"
            path.write_text(spec_as_json(spec), encoding="utf-8")
        return path

    def argv(self, base_url: str, spec: Spec, connections: int, duration: float,
             timeout: float) -> list[str]:
        path = self._spec_file(spec)
        if self.wrk:
            script = WRK_SCRIPTS / ("paced.lua" if spec.pace_ms else "requests.lua")
            return [self.wrk, "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s",
                    "--timeout", f"{timeout:g}s", "-s", str(script), base_url, "--",
                    str(path)]
        return [sys.executable, "-m", "bench.common", "load", "--url", base_url, "--spec",
                str(path), "--connections", str(connections), "--duration", str(duration)]

    def start(self, base_url: str, spec: Spec, connections: int, duration: float,
              timeout: float = 10.0) -> subprocess.Popen[str]:
        return subprocess.Popen(self.argv(base_url, spec, connections, duration, timeout),
                                cwd=REPO_ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def finish(self, process: subprocess.Popen[str], timeout: float) -> LoadResult:
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            raise HarnessError("the load generator did not finish in time") from None
        line = next((ln for ln in out.splitlines() if ln.startswith("BENCH_JSON ")), None)
        if process.returncode != 0 or line is None:
            raise HarnessError(f"the load generator failed ({process.returncode}):\n"
                               f"{out}\n{err}")
        data = json.loads(line[len("BENCH_JSON "):])
        errors = sum(data[k] for k in ("connect_errors", "read_errors", "write_errors",
                                       "timeouts", "unexpected"))
        return LoadResult(self.kind, data["requests"], data["duration_us"] / 1e6, errors,
                          data["p50_us"] / 1e3, data["p90_us"] / 1e3, data["p99_us"] / 1e3,
                          data["max_us"] / 1e3,
                          unexpected_status=data.get("unexpected_status", 0))

    def run(self, base_url: str, spec: Spec, connections: int, duration: float, *,
            cpu_of: Callable[[], float | None] | None = None) -> LoadResult:
        before = cpu_of() if cpu_of else None
        result = self.finish(self.start(base_url, spec, connections, duration),
                             duration + 60)
        after = cpu_of() if cpu_of else None
        if before is not None and after is not None and result.requests:
            cpu = (after - before) * 1000 / result.requests
            result = LoadResult(**{**asdict(result), "cpu_ms_per_request": cpu})
        return result


# --- processes -------------------------------------------------------------------------------

def _wait_http(url: str, process: subprocess.Popen[Any], what: str, log: Callable[[], str],
               timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise HarnessError(f"{what} exited with {process.returncode}:\n{log()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (http)
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise HarnessError(f"{what} was not ready after {timeout:.0f} s:\n{log()}")


class Baseline:
    """``bench/baseline_app.py`` in its own process."""

    def __init__(self, database_url: str, tmp: Path) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp / f"baseline-{self.port}.log"
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, str(Path(__file__).parent / "baseline_app.py"), "--port",
                 str(self.port), "--database-url", database_url], cwd=REPO_ROOT, stdout=log,
                stderr=subprocess.STDOUT)

    def wait_ready(self) -> None:
        _wait_http(self.base_url + "/json", self.process, "the baseline app",
                   lambda: self.log_path.read_text(errors="replace")[-3000:])

    def cpu(self) -> float | None:
        return cpu_seconds(self.process.pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def service_pids(server: ServerUnderTest) -> list[int]:
    """The processes that serve requests: the server itself, or its workers."""
    assert server.process is not None
    children = child_pids(server.process.pid)
    return children if "--workers" in server.serve_args else [server.process.pid]


def service_cpu(server: ServerUnderTest) -> float | None:
    values = [cpu_seconds(pid) for pid in service_pids(server)]
    return None if any(v is None for v in values) else sum(v for v in values if v)


def wait_for_listeners(server: ServerUnderTest, count: int, timeout: float = 60.0) -> None:
    """With --workers, /readyz answers as soon as one worker listens: wait for all of them."""
    port_hex = f":{server.port:04X}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        table = Path("/proc/net/tcp").read_text().splitlines()[1:]
        listening = sum(1 for line in table
                        if line.split()[1].endswith(port_hex) and line.split()[3] == "0A")
        if listening >= count:
            return
        time.sleep(0.2)
    raise HarnessError(f"only some of the {count} workers listen:\n{server.log_tail()}")


# --- signing in ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Session:
    email: str
    cookie: str  # "dief_session=…"
    csrf: str

    def headers(self, *, write: bool = False) -> dict[str, str]:
        headers = {"Cookie": self.cookie}
        if write:
            headers.update({"X-CSRF-Token": self.csrf, "Content-Type": "application/json"})
        return headers


def _totp_now(secret_b32: str) -> str:
    from crypto import totp

    secret = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    return totp.code_at(secret, totp.counter_for(time.time()))


async def _sign_in_all(base_url: str, accounts: Sequence[seeding.Account],
                       password: str) -> list[Session]:
    limit = asyncio.Semaphore(SIGNIN_PARALLEL)
    timeout = aiohttp.ClientTimeout(total=120)

    async def one(account: seeding.Account) -> Session:
        assert account.totp_secret is not None
        async with limit, aiohttp.ClientSession(
                timeout=timeout, cookie_jar=aiohttp.DummyCookieJar()) as client:
            async with client.post(base_url + "/api/v1/session", json={
                    "email": account.email, "password": password,
                    "totp": _totp_now(account.totp_secret)}) as resp:
                data = await resp.json(content_type=None)
                if resp.status != 201 or "dief_session" not in resp.cookies:
                    raise HarnessError(f"sign-in of {account.email} answered {resp.status}: "
                                       f"{data}")
                cookie = resp.cookies["dief_session"].value
                return Session(account.email, f"dief_session={cookie}", data["csrf_token"])

    return list(await asyncio.gather(*(one(a) for a in accounts)))


def sign_in(server: ServerUnderTest, accounts: Sequence[seeding.Account],
            password: str) -> list[Session]:
    return asyncio.run(_sign_in_all(server.base_url, accounts, password))


# --- scenarios -------------------------------------------------------------------------------

POST_BODIES = [seeding.make_body(random.Random(i)) for i in range(8)]


def _mix(sessions: Sequence[Session], targets: Sequence[str],
         make: Callable[[Session, str, int], Request], size: int = 512) -> list[Request]:
    rng = random.Random(7)
    return [make(rng.choice(sessions), rng.choice(targets), i) for i in range(size)]


@dataclass(frozen=True)
class Scenario:
    key: str
    label: str
    baseline: str  # key of the baseline scenario it is compared with ("" for none)
    spec: Spec


def baseline_scenarios(manifest: seeding.Manifest) -> dict[str, Scenario]:
    threads = manifest.read_threads
    return {
        "b_json": Scenario("b_json", "baseline: small JSON", "",
                           Spec([Request("GET", "/json")])),
        "b_select": Scenario("b_select", "baseline: SELECT 20 posts → JSON", "", Spec(
            [Request("GET", f"/select?thread={t}") for t in threads])),
        "b_insert": Scenario("b_insert", "baseline: INSERT 1 row", "", Spec(
            [Request("POST", "/insert", {"Content-Type": "application/json"},
                     json.dumps({"thread": t, "body": POST_BODIES[i % len(POST_BODIES)]}))
             for i, t in enumerate(manifest.write_threads)], expect=(201,))),
    }


def forum_scenarios(manifest: seeding.Manifest, delegates: Sequence[Session],
                    moderators: Sequence[Session]) -> dict[str, Scenario]:
    reads, writes, rooms = manifest.read_threads, manifest.write_threads, manifest.list_rooms
    case_bodies = [json.dumps(seeding.case_fields(random.Random(i))) for i in range(8)]

    def get(path: str) -> Callable[[Session, str, int], Request]:
        return lambda s, target, _i: Request("GET", path.format(target), s.headers())

    return {
        "healthz": Scenario("healthz", "GET /healthz", "b_json",
                            Spec([Request("GET", "/healthz")])),
        "thread_page": Scenario("thread_page", "thread page (HTML, 20 posts)", "b_select",
                                Spec(_mix(delegates, reads, get("/threads/{}")))),
        "posts_json": Scenario("posts_json", "same posts (JSON API)", "b_select",
                               Spec(_mix(delegates, reads, get("/api/v1/threads/{}/posts")))),
        "room_html": Scenario("room_html", "thread list (HTML, 25 threads)", "b_select",
                              Spec(_mix(delegates, rooms, get("/rooms/{}")))),
        "room_json": Scenario("room_json", "thread list (JSON API)", "b_select",
                              Spec(_mix(delegates, rooms, get("/api/v1/rooms/{}/threads")))),
        "mod_queue": Scenario("mod_queue", "moderation queue (JSON, 200 items)", "b_select",
                              Spec(_mix(moderators, ["x"],
                                        get("/api/v1/moderation/queue")))),
        "create_post": Scenario("create_post", "create post (JSON API)", "b_insert", Spec(
            _mix(delegates, writes, lambda s, t, i: Request(
                "POST", f"/api/v1/threads/{t}/posts", s.headers(write=True),
                json.dumps({"body": POST_BODIES[i % len(POST_BODIES)]}))), expect=(201,))),
        "submit_case": Scenario("submit_case", "submit case (JSON API)", "b_insert", Spec(
            _mix(delegates, ["x"], lambda s, _t, i: Request(
                "POST", "/api/v1/cases", s.headers(write=True),
                case_bodies[i % len(case_bodies)])), expect=(201,))),
    }


# Each group runs interleaved; the first entry is the baseline the others are compared with.
GROUPS = (("b_json", "healthz"),
          ("b_select", "thread_page", "posts_json", "room_html", "room_json", "mod_queue"),
          ("b_insert", "create_post", "submit_case"))


# --- measuring -------------------------------------------------------------------------------

@dataclass
class Series:
    """One scenario's results over the rounds, and its per-round ratios to its baseline."""

    label: str
    baseline_label: str = ""
    results: list[LoadResult] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)

    def median(self, attribute: str) -> float:
        values = [getattr(r, attribute) for r in self.results]
        values = [v for v in values if v is not None]
        return statistics.median(values) if values else float("nan")

    @property
    def ratio(self) -> float | None:
        return statistics.median(self.ratios) if self.ratios else None

    @property
    def errors(self) -> int:
        return sum(r.errors for r in self.results)


def measure_groups(tool: LoadTool, server: ServerUnderTest, baseline: Baseline,
                   scenarios: dict[str, Scenario], args: argparse.Namespace,
                   ) -> dict[str, Series]:
    series = {key: Series(s.label, scenarios[s.baseline].label if s.baseline else "")
              for key, s in scenarios.items()}

    def target(key: str) -> tuple[str, Callable[[], float | None]]:
        if key.startswith("b_"):
            return baseline.base_url, baseline.cpu
        return server.base_url, lambda: service_cpu(server)

    if args.warmup > 0:
        print(f"warm-up: {args.warmup:g} s per scenario", flush=True)
        for group in GROUPS:
            for key in group:
                url, _cpu = target(key)
                tool.run(url, scenarios[key].spec, args.connections, args.warmup)
    for number in range(1, args.rounds + 1):
        print(f"round {number}/{args.rounds}: ", end="", flush=True)
        for group in GROUPS:
            order = list(group) if number % 2 else [group[0], *reversed(group[1:])]
            results = {}
            for key in order:
                url, cpu = target(key)
                results[key] = tool.run(url, scenarios[key].spec, args.connections,
                                        args.duration, cpu_of=cpu)
                series[key].results.append(results[key])
                print(".", end="", flush=True)
            base = results[group[0]]
            for key in group[1:]:
                if base.rps:
                    series[key].ratios.append(results[key].rps / base.rps)
        print(flush=True)
    return series


@dataclass
class StormResult:
    alone: list[LoadResult] = field(default_factory=list)
    storm: list[LoadResult] = field(default_factory=list)
    signins: list[LoadResult] = field(default_factory=list)

    @property
    def ratio(self) -> float | None:
        ratios = [s.p99_ms / a.p99_ms for a, s in zip(self.alone, self.storm, strict=True)
                  if a.p99_ms]
        return statistics.median(ratios) if ratios else None


def measure_storm(tool: LoadTool, server: ServerUnderTest, manifest: seeding.Manifest,
                  probe_spec: Spec, args: argparse.Namespace) -> StormResult:
    """Paced thread reads alone, then the same while STORM_CONNECTIONS sign in back to back."""
    storm_spec = Spec([Request("POST", "/api/v1/session", {"Content-Type": "application/json"},
                               json.dumps({"email": a.email, "password": manifest.password}))
                       for a in manifest.storm], expect=(201,))
    probe = Spec(probe_spec.requests, probe_spec.expect, pace_ms=PROBE_PACE_MS)
    warm = max(1.0, args.warmup)
    result = StormResult()
    for _ in range(args.rounds):
        result.alone.append(tool.run(server.base_url, probe, 1, args.duration))
        storm = tool.start(server.base_url, storm_spec, STORM_CONNECTIONS,
                           args.duration + 2 * warm, timeout=60)
        time.sleep(warm)  # let the hash queue fill before measuring
        result.storm.append(tool.run(server.base_url, probe, 1, args.duration))
        result.signins.append(tool.finish(storm, args.duration + 2 * warm + 120))
        print(".", end="", flush=True)
    print(flush=True)
    return result


def measure_pairs(tool: LoadTool, targets: list[tuple[str, ServerUnderTest, Spec]],
                  args: argparse.Namespace) -> dict[str, Series]:
    """Interleaved rounds over (label, server, spec); ratios are filled in by the caller."""
    series = {label: Series(label) for label, _, _ in targets}
    for _label, server, spec in targets if args.warmup > 0 else []:
        tool.run(server.base_url, spec, args.connections, args.warmup)
    for number in range(args.rounds):
        order = targets if number % 2 == 0 else list(reversed(targets))
        for label, server, spec in order:
            series[label].results.append(tool.run(
                server.base_url, spec, args.connections, args.duration,
                cpu_of=lambda s=server: service_cpu(s)))  # type: ignore[misc]
            print(".", end="", flush=True)
    print(flush=True)
    return series


def round_ratios(top: Series, bottom: Series) -> list[float]:
    return [a.rps / b.rps for a, b in zip(top.results, bottom.results, strict=True) if b.rps]


def reset_peak_rss(server: ServerUnderTest) -> None:
    """Start VmHWM afresh (``echo 5 > /proc/PID/clear_refs``), e.g. after the sign-ins that
    precede the measured load: each argon2id hash holds 64 MiB while it runs."""
    for pid in service_pids(server):
        try:
            Path(f"/proc/{pid}/clear_refs").write_text("5")
        except OSError:
            pass  # not ours to reset (another user, no procfs): the peak then includes sign-ins


def peak_rss_mb(server: ServerUnderTest) -> float | None:
    values = [vm_hwm_kib(pid) for pid in service_pids(server)]
    known = [v for v in values if v is not None]
    return max(known) / 1024 if known else None


# --- profiling -------------------------------------------------------------------------------

def profile(tool: LoadTool, server: ServerUnderTest, scenario: Scenario,
            args: argparse.Namespace, out_dir: Path) -> Path | None:
    """py-spy (from the venv, not a project dependency) on the server during one extra run."""
    py_spy = Path(sys.executable).parent / "py-spy"
    if not py_spy.exists():
        print("profile: py-spy is not installed (.venv/bin/pip install py-spy); skipped")
        return None
    assert server.process is not None
    out = out_dir / f"profile-{scenario.key}.folded"
    # --gil: only samples holding the GIL, i.e. Python on the CPU. Without it, time the
    # process spends preempted inside a send() to PostgreSQL (which the wake-up hands the
    # core to) shows up as "socket write".
    spy = subprocess.Popen([str(py_spy), "record", "-p", str(server.process.pid), "-r", "250",
                            "-d", str(round(args.duration)), "-f", "raw", "-o", str(out),
                            "--nonblocking", "--gil"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)
    time.sleep(1)
    tool.run(server.base_url, scenario.spec, args.connections, args.duration)
    _, err = spy.communicate(timeout=60)
    if spy.returncode != 0 or not out.exists():
        print(f"profile: py-spy failed: {err.strip()[-500:]}")
        return None
    print(f"profile of {scenario.label}: {out} (folded stacks; top functions by own time):")
    for line in top_functions(out, 12):
        print("  " + line)
    return out


def top_functions(folded: Path, count: int) -> list[str]:
    own: dict[str, int] = {}
    total = 0
    for line in folded.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        if not stack or not samples.isdigit():
            continue
        n = int(samples)
        total += n
        leaf = stack.split(";")[-1]
        own[leaf] = own.get(leaf, 0) + n
    ranked = sorted(own.items(), key=lambda kv: -kv[1])[:count]
    return [f"{100 * n / total:5.1f} %  {name}" for name, n in ranked]


# --- report ----------------------------------------------------------------------------------

def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} × {model}, Python {platform.python_version()}"


def _fmt(value: float | None, spec: str = ".2f") -> str:
    return "-" if value is None or value != value else format(value, spec)


def _mark(ok: bool | None) -> str:
    return "" if ok is None else ("met" if ok else "MISSED")


def print_table(series: dict[str, Series], storm: StormResult | None,
                tool: LoadTool) -> None:
    print()
    header = (f"{'scenario':<36}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}"
              f"{'cpu ms/req':>11}  {'ratio':>6}  to")
    print(header)
    print("-" * len(header))
    for one in series.values():
        ratio = one.ratio
        print(f"{one.label:<36}{one.median('rps'):>9.0f}{one.median('p50_ms'):>9.2f}"
              f"{one.median('p99_ms'):>9.2f}{one.errors:>8}"
              f"{_fmt(one.median('cpu_ms_per_request')):>11}  {_fmt(ratio):>6}  "
              f"{one.baseline_label.removeprefix('baseline: ') if ratio is not None else ''}")
    if storm is not None and storm.signins:
        rate = statistics.median(r.rps for r in storm.signins)
        p99_alone = statistics.median(r.p99_ms for r in storm.alone)
        p99_storm = statistics.median(r.p99_ms for r in storm.storm)
        errors = sum(r.errors for r in storm.signins) + sum(r.errors for r in storm.storm)
        print(f"{'sign-in (argon2id, 20 connections)':<36}{rate:>9.1f}"
              f"{statistics.median(r.p50_ms for r in storm.signins):>9.0f}"
              f"{statistics.median(r.p99_ms for r in storm.signins):>9.0f}{errors:>8}"
              f"{'':>11}  {_fmt(storm.ratio):>6}  p99 of thread reads storm/alone "
              f"({p99_storm:.1f} / {p99_alone:.1f} ms)")
    for one in series.values():
        statuses = sorted({r.unexpected_status for r in one.results if r.unexpected_status})
        if statuses:
            print(f"  {one.label}: unexpected HTTP status {', '.join(map(str, statuses))}")
    if tool.kind != "wrk":
        print("!! NOT FOR REAL NUMBERS: the Python fallback load generator ran instead of wrk "
              "(it competes with the server for the CPU)")


# --- the run ---------------------------------------------------------------------------------

@contextmanager
def forum_server(env: dict[str, str], serve_args: Sequence[str] = (), *,
                 source: Path | None = None) -> Iterator[ServerUnderTest]:
    """``dief serve``; from another source tree (``--compare-source``) when ``source`` is set."""
    argv = None
    if source is not None:
        env = {**env, "PYTHONPATH": str(source)}
        argv = [sys.executable, "-m", "forum.cli"]
    with ServerUnderTest(env, serve_args=serve_args, argv=argv) as server:
        yield server


COMPARED = ("thread_page", "posts_json", "room_html", "create_post")


def measure_compare(tool: LoadTool, env: dict[str, str], source: Path,
                    scenarios: dict[str, Scenario], now: ServerUnderTest, stack: ExitStack,
                    args: argparse.Namespace) -> dict[str, Series]:
    """The same database served by an older tree, by this tree on asyncio's loop, and by this
    tree as configured (uvloop when installed), interleaved: what the changes bought."""
    if not (source / "forum" / "cli.py").exists():
        raise HarnessError(f"--compare-source: {source} holds no forum/ package")
    # The older tree must accept the bench database: give it today's (append-only) migrations.
    shutil.copytree(REPO_ROOT / "migrations", source / "migrations", dirs_exist_ok=True)
    before = stack.enter_context(forum_server(env, source=source))
    plain = stack.enter_context(forum_server(env, ["--loop", "asyncio"]))
    targets = []
    for key in COMPARED:
        spec = scenarios[key].spec
        targets += [(f"{key} before", before, spec), (f"{key} asyncio", plain, spec),
                    (f"{key} now", now, spec)]
    print(f"compare with {source}: ", end="", flush=True)
    return measure_pairs(tool, targets, args)


def print_compare(compare: dict[str, Series], source: Path) -> dict[str, Any]:
    print(f"\nbefore/after ({source} vs this tree; interleaved, medians; cpu = server CPU "
          "per request)")
    print(f"{'scenario':<16}{'before':>9}{'asyncio':>9}{'now':>9}   {'now/before':>10}"
          f"{'cpu before':>12}{'cpu now':>9}  {'uvloop gain':>11}")
    figures: dict[str, Any] = {}
    for key in COMPARED:
        b, a, n = (compare[f"{key} {w}"] for w in ("before", "asyncio", "now"))
        gain = round_ratios(n, b)
        loop = round_ratios(n, a)
        figures[key] = {"now_over_before": statistics.median(gain) if gain else None,
                        "uvloop_over_asyncio": statistics.median(loop) if loop else None}
        print(f"{key:<16}{b.median('rps'):>9.0f}{a.median('rps'):>9.0f}{n.median('rps'):>9.0f}"
              f"   {_fmt(figures[key]['now_over_before']):>10}"
              f"{_fmt(b.median('cpu_ms_per_request')):>12}"
              f"{_fmt(n.median('cpu_ms_per_request')):>9}"
              f"  {_fmt(figures[key]['uvloop_over_asyncio']):>11}")
    return figures


def forum_env(cluster: seeding.BenchCluster, database: str, tiny: bool) -> dict[str, str]:
    env = {**PRODUCTION, **cluster.env(database)}
    if tiny:
        env.update(seeding.TINY_ARGON2)
    return env


def run(args: argparse.Namespace) -> dict[str, Any]:
    wrk = ensure_wrk(args.load == "wrk" and not args.no_install)
    if args.load == "wrk" and wrk is None:
        print("!! wrk is not installed and could not be installed (Debian: apt-get install "
              "wrk). Falling back to the Python load generator: NOT FOR REAL NUMBERS.")
    if args.load == "python":
        wrk = None
    report: dict[str, Any] = {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                              "machine": machine(), "args": vars(args).copy()}
    cluster = seeding.BenchCluster(args.bench_dir)
    clones: list[str] = []
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="dief-bench-run-") as tmp:
        tool = LoadTool(wrk, Path(tmp))
        stack.callback(lambda: asyncio.run(_drop_all(cluster, clones)))

        def prepare(scale: str) -> tuple[seeding.Manifest, str]:
            started = time.monotonic()
            manifest, cached = asyncio.run(seeding.ensure_seeded(cluster, scale))
            how = (f"cached in {cluster.manifest_path(scale).parent}, not seeded again"
                   if cached else f"seeded in {manifest.seconds:.0f} s")
            print(f"dataset {scale}: {manifest.posts:,} posts, {manifest.threads:,} threads, "
                  f"{manifest.accounts:,} accounts, {manifest.rooms} rooms ({how})", flush=True)
            name = asyncio.run(cluster.clone(scale))
            clones.append(name)
            report.setdefault("datasets", {})[scale] = {
                "posts": manifest.posts, "threads": manifest.threads, "cached": cached,
                "prepare_seconds": round(time.monotonic() - started, 1)}
            return manifest, name

        manifest, database = prepare(args.scale)
        env = forum_env(cluster, database, args.tiny)
        baseline = Baseline(cluster.url(database), Path(tmp))  # starts while the forum does
        stack.callback(baseline.stop)
        server = stack.enter_context(forum_server(env))
        baseline.wait_ready()
        delegates = sign_in(server, manifest.delegates[:args.users], manifest.password)
        moderators = sign_in(server, manifest.moderators, manifest.password)
        print(f"signed in {len(delegates)} delegates and {len(moderators)} moderators "
              f"(password + TOTP)", flush=True)
        reset_peak_rss(server)
        scenarios = {**baseline_scenarios(manifest),
                     **forum_scenarios(manifest, delegates, moderators)}
        print(f"load: {tool.kind}, {args.connections} connections, {args.duration:g} s × "
              f"{args.rounds} rounds, interleaved with the baseline", flush=True)
        series = measure_groups(tool, server, baseline, scenarios, args)
        ordered = {k: series[k] for group in GROUPS for k in group}
        rss_load = peak_rss_mb(server)
        storm = None
        if not args.no_storm:
            print("sign-in storm: ", end="", flush=True)
            storm = measure_storm(tool, server, manifest, scenarios["thread_page"].spec, args)
        rss_storm = peak_rss_mb(server)
        if args.profile:
            for key in ("thread_page", "create_post"):
                profile(tool, server, scenarios[key], args, cluster.directory)
        compare: dict[str, Series] = {}
        if args.compare_source:
            compare = measure_compare(tool, env, args.compare_source, scenarios, server, stack,
                                      args)

        scaling: dict[str, Series] = {}
        if args.scaling:
            targets: list[tuple[str, ServerUnderTest, Spec]] = []
            for scale in args.scaling:
                scale_manifest, scale_db = prepare(scale)
                scale_server = stack.enter_context(
                    forum_server(forum_env(cluster, scale_db, args.tiny)))
                users = sign_in(scale_server, scale_manifest.delegates[:4],
                                scale_manifest.password)
                pages = forum_scenarios(scale_manifest, users, users)
                targets += [(f"thread page @ {scale}", scale_server, pages["thread_page"].spec),
                            (f"thread list @ {scale}", scale_server, pages["room_html"].spec)]
            print("scaling: ", end="", flush=True)
            scaling = measure_pairs(tool, targets, args)

        workers: dict[str, Series] = {}
        if not args.no_workers:
            multi = stack.enter_context(forum_server(env, ["--workers", "2"]))
            wait_for_listeners(multi, 2)
            print("workers: ", end="", flush=True)
            workers = measure_pairs(tool, [
                ("1 process", server, scenarios["thread_page"].spec),
                ("--workers 2", multi, scenarios["thread_page"].spec)], args)
            report["rss_workers_mb"] = peak_rss_mb(multi)

        print_table(ordered, storm, tool)
        verdicts = summarise(ordered, storm, scaling, workers, rss_load, rss_storm, args)
        if compare:
            report["compare"] = print_compare(compare, args.compare_source)
        report.update({
            "tool": tool.kind, "rss_load_mb": rss_load, "rss_storm_mb": rss_storm,
            "table": {k: {"label": s.label, "rps": s.median("rps"), "p50_ms": s.median("p50_ms"),
                          "p99_ms": s.median("p99_ms"), "errors": s.errors, "ratio": s.ratio,
                          "rounds": [asdict(r) for r in s.results]}
                      for k, s in ordered.items()},
            "storm": None if storm is None else {
                "ratio": storm.ratio, "alone": [asdict(r) for r in storm.alone],
                "storm": [asdict(r) for r in storm.storm],
                "signins": [asdict(r) for r in storm.signins]},
            "scaling": {k: [asdict(r) for r in s.results] for k, s in scaling.items()},
            "workers": {k: [asdict(r) for r in s.results] for k, s in workers.items()},
            "verdicts": verdicts})
    return report


async def _drop_all(cluster: seeding.BenchCluster, names: list[str]) -> None:
    for name in names:
        await cluster.drop(name)


def summarise(series: dict[str, Series], storm: StormResult | None,
              scaling: dict[str, Series], workers: dict[str, Series], rss_load: float | None,
              rss_storm: float | None, args: argparse.Namespace) -> dict[str, Any]:
    verdicts: dict[str, Any] = {}
    if scaling:
        print()
        print(f"{'scaling':<36}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}"
              f"{'cpu ms/req':>11}")
        for label, one in scaling.items():
            print(f"{label:<36}{one.median('rps'):>9.0f}{one.median('p50_ms'):>9.2f}"
                  f"{one.median('p99_ms'):>9.2f}{one.errors:>8}"
                  f"{_fmt(one.median('cpu_ms_per_request')):>11}")
        small, large = args.scaling[0], args.scaling[-1]
        for what in ("page", "list"):
            name = "thread page" if what == "page" else "thread list"
            ratios = round_ratios(scaling[f"{name} @ {large}"], scaling[f"{name} @ {small}"])
            ratio = statistics.median(ratios) if ratios else None
            verdicts[f"scaling_{what}"] = ratio
            print(f"{name}: {large} / {small} = {_fmt(ratio)}"
                  + (f"  (target ≥ {TARGETS['scaling']:g}: "
                     f"{_mark(ratio is not None and ratio >= TARGETS['scaling'])})"
                     if what == "page" else ""))
    if workers:
        one, two = workers["1 process"], workers["--workers 2"]
        ratios = round_ratios(two, one)
        ratio = statistics.median(ratios) if ratios else None
        verdicts["workers"] = ratio
        print(f"\nworkers (thread page): 1 process {one.median('rps'):.0f} req/s, --workers 2 "
              f"{two.median('rps'):.0f} req/s: ratio {_fmt(ratio)} on {os.cpu_count()} CPUs "
              "shared with PostgreSQL and wrk")
    print(f"\npeak RSS of the service process: {_fmt(rss_load, '.0f')} MB under read/write "
          f"load, {_fmt(rss_storm, '.0f')} MB after the sign-in storm")
    page = series["thread_page"].ratio
    post = series["create_post"].ratio
    verdicts.update({"thread_page": page, "create_post": post,
                     "storm": storm.ratio if storm else None, "rss_mb": rss_storm})
    print("\ntargets (ratios from this run):")
    rows = [("thread page ≥ 0.5 × baseline SELECT 20", page,
             page is not None and page >= TARGETS["thread_page"]),
            ("create post ≥ 0.5 × baseline INSERT", post,
             post is not None and post >= TARGETS["create_post"])]
    if "scaling_page" in verdicts:
        ratio = verdicts["scaling_page"]
        rows.append((f"thread page at {args.scaling[-1]} ≥ 0.8 × at {args.scaling[0]}", ratio,
                     ratio is not None and ratio >= TARGETS["scaling"]))
    if storm is not None:
        rows.append(("p99 of reads in a sign-in storm ≤ 3 × alone", storm.ratio,
                      storm.ratio is not None and storm.ratio <= TARGETS["storm"]))
    peak = max(v for v in (rss_load, rss_storm, 0.0) if v is not None)
    rows.append(("peak RSS < 200 MB", peak, peak < TARGETS["rss_mb"]))
    for text, value, ok in rows:
        print(f"  {text:<48}{_fmt(value):>8}  {_mark(ok)}")
    print("  encrypted ≥ 0.9 × bypassed thread page: bench/crypto_overhead.py (runs next in "
          "`make bench`)")
    return verdicts


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", default=seeding.DEFAULT_SCALE,
                        choices=[s for s in seeding.SCALES if s != "tiny"])
    parser.add_argument("--duration", type=float, default=None,
                        help="seconds per measured load run (default 8; 1 with --tiny)")
    parser.add_argument("--warmup", type=float, default=None,
                        help="seconds of unmeasured load per scenario first (default 2)")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 3)")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--users", type=int, default=seeding.BENCH_DELEGATES,
                        help="bench delegates signed in and rotated (default 64)")
    parser.add_argument("--scaling", default="10k,100k,1m",
                        help="comma-separated scales for the scaling runs, smallest first")
    parser.add_argument("--no-scaling", action="store_true")
    parser.add_argument("--no-workers", action="store_true")
    parser.add_argument("--no-storm", action="store_true")
    parser.add_argument("--load", choices=("wrk", "python"), default="wrk",
                        help="load generator (python: the fallback, not for real numbers)")
    parser.add_argument("--no-install", action="store_true",
                        help="do not try apt-get install wrk when it is missing")
    parser.add_argument("--profile", action="store_true",
                        help="also record py-spy profiles of the thread page and create post")
    parser.add_argument("--compare-source", type=Path, metavar="DIR",
                        help="also serve the bench database from an older source tree, e.g. "
                             "`git archive f3d991d forum crypto moderation migrations | tar -x "
                             "-C DIR`, and compare (its migrations/ are updated to today's)")
    parser.add_argument("--json", type=Path, help="write every figure to this file")
    parser.add_argument("--bench-dir", type=Path, default=seeding.BENCH_DIR,
                        help="where the cluster and the cached seeds live (default var/bench)")
    parser.add_argument("--tiny", action="store_true",
                        help="smoke test: the tiny dataset, 1 s runs, 1 round, cheap argon2id, "
                             "no scaling, workers or storm")
    args = parser.parse_args(argv)
    if args.tiny:
        args.scale = "tiny"
        args.no_scaling = args.no_workers = args.no_storm = True
        args.users = min(args.users, 4)
        args.connections = min(args.connections, 4)
    args.duration = args.duration or (1.0 if args.tiny else 8.0)
    args.warmup = args.warmup if args.warmup is not None else (0.0 if args.tiny else 2.0)
    args.rounds = args.rounds or (1 if args.tiny else 3)
    args.scaling = [] if args.no_scaling else [s.strip().lower() for s in args.scaling.split(",")
                                               if s.strip()]
    for scale in args.scaling:
        if scale not in seeding.SCALES:
            parser.error(f"--scaling: unknown scale {scale!r}")
    if len(args.scaling) == 1:
        parser.error("--scaling needs at least two scales")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    try:
        report = run(args)
    except (HarnessError, OSError) as exc:
        print(f"\nbench/run.py: harness failure: {exc}", file=sys.stderr)
        return 1
    print(f"\n{report['machine']}; {report['date']}; {time.monotonic() - started:.0f} s in all")
    out = args.json or args.bench_dir / "last-run.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1, default=str), encoding="utf-8")
    print(f"every figure: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
