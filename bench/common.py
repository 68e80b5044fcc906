"""Benchmark helpers: a throw-away ``dief serve``, bench accounts, and a latency probe.

``ServerUnderTest`` starts ``dief serve`` as a subprocess on a free port with a temporary
``DIEF_DATA_DIR`` (so it starts its own embedded PostgreSQL there) and a fresh 0600 master key,
waits for ``/readyz``, and stops it, the database and the temporary directory afterwards.

The latency probe runs in a SEPARATE process, so it never shares an event loop (or a GIL) with
the server or with the load generator. Two implementations:

- ``python`` (default): ``python -m bench.common probe``, one keep-alive connection, sequential
  ``GET /healthz``, paced to at most one request per ``interval`` (1 ms by default) so that the
  probe itself does not eat a core of a small machine; each latency is send → last byte read,
  timed with ``perf_counter_ns``. GC is off while measuring.
- ``wrk`` (``wrk -t1 -c1 --latency``): one connection, back to back (wrk cannot pace), its
  HdrHistogram percentiles. Used only when asked for and installed; otherwise the Python probe
  runs and the result says so.

A sequential probe is closed-loop: while one request is stalled it sends no other, so a stall is
counted once however long it lasts (coordinated omission). The maximum is reported beside the
percentiles for that reason.

Command line (used by the harness itself; run from the repository root)::

    python -m bench.common probe --port P [--host H] [--duration S] [--interval-ms MS]
    python -m bench.common create-accounts --count N --password-stdin   # DIEF_* from the env
    python -m bench.common load --url URL --spec SPEC.json [--connections C] [--duration S]

``load`` is the fallback load generator of ``bench/run.py`` for machines without ``wrk``: a
small keep-alive HTTP/1.1 client on asyncio streams, in its own process. It is much slower than
wrk and shares the CPU with the server it measures: its figures are labelled "not for real
numbers" wherever they are printed.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import http.client
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
BENCH_EMAIL = "bench{}@example.org"


class HarnessError(Exception):
    """The benchmark could not run (server would not start, probe failed...), not a slow result."""


# --- statistics ------------------------------------------------------------------------------

def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (the smallest value with at least p % of the values at or below).

    ``sorted_values`` must be sorted ascending and non-empty; p in (0, 100].
    """
    if not sorted_values:
        raise ValueError("percentile of no values")
    if not 0 < p <= 100:
        raise ValueError("p must be in (0, 100]")
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass(frozen=True)
class ProbeResult:
    """Latencies of sequential ``GET /healthz`` in milliseconds, over [started, ended] (epoch)."""

    tool: str
    requests: int
    errors: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    started: float
    ended: float
    note: str = ""

    @property
    def seconds(self) -> float:
        return self.ended - self.started

    @classmethod
    def from_latencies(cls, tool: str, latencies_ns: Sequence[int], errors: int,
                       started: float, ended: float) -> ProbeResult:
        if not latencies_ns:
            raise HarnessError(f"the probe got no answer at all ({errors} errors)")
        values = sorted(ns / 1e6 for ns in latencies_ns)
        return cls(tool, len(values), errors, percentile(values, 50), percentile(values, 90),
                   percentile(values, 99), values[-1], started, ended)


# --- the probe (runs in its own process) -----------------------------------------------------

def _probe_loop(host: str, port: int, duration: float, interval: float,
                warmup: int = 50) -> ProbeResult:
    conn = http.client.HTTPConnection(host, port, timeout=30)
    for _ in range(warmup):  # connect, warm the server's caches; not measured
        conn.request("GET", "/healthz")
        conn.getresponse().read()
    latencies: list[int] = []
    errors = 0
    gc.collect()
    gc.disable()
    try:
        started = time.time()
        deadline = time.perf_counter() + duration
        next_at = time.perf_counter()
        while True:
            now = time.perf_counter()
            if now >= deadline:
                break
            if next_at > now:
                time.sleep(next_at - now)
            t0 = time.perf_counter_ns()
            try:
                conn.request("GET", "/healthz")
                response = conn.getresponse()
                response.read()
            except (OSError, http.client.HTTPException):
                errors += 1
                conn.close()
                conn = http.client.HTTPConnection(host, port, timeout=30)
                continue
            latencies.append(time.perf_counter_ns() - t0)
            if response.status != 200:
                errors += 1
            # Pace from the previous slot, but never build up a burst after a stall.
            next_at = max(next_at + interval, time.perf_counter())
        ended = time.time()
    finally:
        gc.enable()
        conn.close()
    return ProbeResult.from_latencies("python", latencies, errors, started, ended)


def _wrk_duration_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        raise HarnessError(f"cannot read wrk latency {text!r}")
    scale = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}[match.group(2)]
    return float(match.group(1)) * scale


def parse_wrk(output: str, started: float, ended: float) -> ProbeResult:
    """Read ``wrk --latency`` output (one thread, one connection)."""
    dist = dict(re.findall(r"^\s+(50|90|99)%\s+(\S+)\s*$", output, re.MULTILINE))
    requests = re.search(r"^\s*(\d+) requests in", output, re.MULTILINE)
    maximum = re.search(r"^\s+Latency\s+\S+\s+\S+\s+(\S+)", output, re.MULTILINE)
    if set(dist) != {"50", "90", "99"} or requests is None or maximum is None:
        raise HarnessError("unexpected wrk output:\n" + output)
    errors = 0
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if non2xx:
        errors += int(non2xx.group(1))
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), "
                              r"timeout (\d+)", output)
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    return ProbeResult("wrk", int(requests.group(1)), errors, _wrk_duration_ms(dist["50"]),
                       _wrk_duration_ms(dist["90"]), _wrk_duration_ms(dist["99"]),
                       _wrk_duration_ms(maximum.group(1)), started, ended)


def probe_command(tool: str, host: str, port: int, duration: float,
                  interval_ms: float) -> tuple[list[str], str]:
    """The probe's argv and the tool that will really run (``wrk`` falls back to ``python``)."""
    if tool == "wrk":
        wrk = shutil.which("wrk")
        if wrk is not None:
            seconds = max(1, round(duration))
            return [wrk, "-t1", "-c1", f"-d{seconds}s", "--timeout", "30s", "--latency",
                    f"http://{host}:{port}/healthz"], "wrk"
    return [sys.executable, "-m", "bench.common", "probe", "--host", host, "--port", str(port),
            "--duration", str(duration), "--interval-ms", str(interval_ms)], "python"


def read_probe_output(tool: str, stdout: str, started: float, ended: float) -> ProbeResult:
    if tool == "wrk":
        return parse_wrk(stdout, started, ended)
    try:
        return ProbeResult(**json.loads(stdout.strip().splitlines()[-1]))
    except (ValueError, TypeError, IndexError) as exc:
        raise HarnessError(f"unreadable probe output {stdout!r}: {exc}") from None


def fallback_note(requested: str, ran: str) -> str:
    return f"{requested} is not installed; the Python probe ran" if requested != ran else ""


def run_probe(host: str, port: int, duration: float, *, tool: str = "python",
              interval_ms: float = 1.0) -> ProbeResult:
    """Run the probe in a separate process and wait for it (blocking)."""
    argv, ran = probe_command(tool, host, port, duration, interval_ms)
    started = time.time()
    done = subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=duration + 60, check=False)
    ended = time.time()
    if done.returncode != 0:
        raise HarnessError(f"the probe failed ({done.returncode}): {done.stderr.strip()}")
    result = read_probe_output(ran, done.stdout, started, ended)
    note = fallback_note(tool, ran)
    return ProbeResult(**{**asdict(result), "note": note}) if note else result


# --- the server under test -------------------------------------------------------------------

def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _dief_argv() -> list[str]:
    script = Path(sys.executable).parent / "dief"
    return [str(script)] if script.exists() else [sys.executable, "-m", "forum.cli"]


def _http_status(url: str, timeout: float = 2.0) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (http only)
            status: int = response.status
            return status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


class ServerUnderTest:
    """``dief serve`` in a subprocess with its own data directory; use as a context manager."""

    def __init__(self, settings_env: Mapping[str, str] | None = None, *,
                 host: str = "127.0.0.1", start_timeout: float = 120.0,
                 serve_args: Sequence[str] = (), argv: Sequence[str] | None = None) -> None:
        self.host = host
        self.serve_args = list(serve_args)  # e.g. ["--workers", "2"]
        self.argv = list(argv) if argv is not None else _dief_argv()  # the `dief` to run
        self.port = free_port(host)
        self.start_timeout = start_timeout
        self.tmp = Path(tempfile.mkdtemp(prefix="dief-bench-"))
        self.data_dir = self.tmp / "data"
        self.log_path = self.tmp / "serve.log"
        self.env = self._environment(settings_env or {})
        self.process: subprocess.Popen[bytes] | None = None

    def _environment(self, settings_env: Mapping[str, str]) -> dict[str, str]:
        from crypto.masterkey import create_master_key_file

        key_file = self.tmp / "master.key"
        create_master_key_file(key_file)  # O_EXCL, mode 0600
        env = {name: value for name, value in os.environ.items()
               if not name.startswith("DIEF_")}
        env.update({
            "DIEF_DATA_DIR": str(self.data_dir),
            "DIEF_MASTER_KEY_FILE": str(key_file),
            "DIEF_BASE_URL": f"http://{self.host}:{self.port}",
            "DIEF_LOG_FORMAT": "text",
        })
        env.update(settings_env)
        return env

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [*self.argv, "serve", "--host", self.host, "--port", str(self.port),
                 *self.serve_args],
                cwd=self.tmp, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise HarnessError(f"dief serve exited with {self.process.returncode}:\n"
                                   + self.log_tail())
            if _http_status(self.base_url + "/readyz") == 200:
                return
            time.sleep(0.2)
        raise HarnessError(f"dief serve was not ready after {self.start_timeout:.0f} s:\n"
                           + self.log_tail())

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no server log)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._stop_leftover_postgres()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _stop_leftover_postgres(self) -> None:
        """``dief serve`` stops its embedded PostgreSQL on exit; if it could not, we do."""
        pid_file = self.data_dir / "pgdata" / "postmaster.pid"
        try:
            pid = int(pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGINT)  # PostgreSQL's "fast shutdown"
            for _ in range(100):
                os.kill(pid, 0)
                time.sleep(0.1)

    def __enter__(self) -> ServerUnderTest:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def vm_hwm_kib(pid: int) -> int | None:
    """Peak resident set size of a process (``VmHWM`` in /proc), in KiB; None if unknown."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(r"^VmHWM:\s+(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) if match else None


def child_pids(pid: int) -> list[int]:
    """Direct children of a process (Linux)."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(part) for part in text.split()]


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time a process has used so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def create_accounts(server: ServerUnderTest, count: int, password: str) -> list[str]:
    """Create ``count`` observer accounts sharing ``password``; returns their emails.

    Runs in a subprocess with the server's ``DIEF_*`` settings, so it joins the same embedded
    PostgreSQL and hashes with the server's argon2 parameters (no rehash at first sign-in).
    """
    done = subprocess.run(
        [sys.executable, "-m", "bench.common", "create-accounts", "--count", str(count),
         "--password-stdin"],
        cwd=REPO_ROOT, env=server.env, input=password + "\n", capture_output=True, text=True,
        timeout=300, check=False)
    if done.returncode != 0:
        raise HarnessError(f"creating bench accounts failed:\n{done.stderr.strip()}")
    return [BENCH_EMAIL.format(i) for i in range(count)]


class _PrecomputedHash:
    """Stands in for PasswordService in ``create_user``: every account gets one hash."""

    def __init__(self, stored: str) -> None:
        self.stored = stored

    async def hash(self, password: str) -> str:
        return self.stored


async def _create_accounts(count: int, password: str) -> None:
    import unicodedata

    from crypto.passwords import Argon2Params, PasswordHashing
    from forum import db
    from forum.auth.service import create_user
    from forum.cli import operator_context
    from forum.settings import Settings

    settings = Settings.from_env(os.environ)
    params = Argon2Params(settings.argon2_time_cost, settings.argon2_memory_kib,
                          settings.argon2_parallelism)
    stored = PasswordHashing(params).hash(unicodedata.normalize("NFKC", password))
    hasher: Any = _PrecomputedHash(stored)
    async with operator_context(settings, apply_migrations=False) as op:
        for i in range(count):
            async with db.transaction(op.pool) as conn:
                await create_user(conn, hasher, op.keyring, email=BENCH_EMAIL.format(i),
                                  display_name=f"Bench {i}", role="observer", state=None,
                                  password=password, created_by=None)


# --- the fallback load generator (no wrk) ------------------------------------------------------

async def _load(url: str, spec: Mapping[str, Any], connections: int,
                duration: float) -> dict[str, Any]:
    """Closed-loop load like ``wrk -cC``: each connection sends the next request of the list as
    soon as the previous answer is read (after ``pace_ms``, if any). Keep-alive HTTP/1.1;
    answers must carry Content-Length (aiohttp's do)."""
    import asyncio
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    raw = []
    for r in spec["requests"]:
        body = (r.get("body") or "").encode()
        head = [f"{r['method']} {r['path']} HTTP/1.1", f"Host: {host}:{port}"]
        head += [f"{k}: {v}" for k, v in (r.get("headers") or {}).items()]
        if body:
            head.append(f"Content-Length: {len(body)}")
        raw.append(("\r\n".join(head) + "\r\n\r\n").encode() + body)
    expected = set(spec["expect"])
    pace = float(spec.get("pace_ms") or 0) / 1000
    latencies: list[int] = []
    counts = {"errors": 0, "unexpected": 0, "unexpected_status": 0}
    deadline = time.perf_counter() + duration

    async def one_connection(start: int) -> None:
        reader, writer = await asyncio.open_connection(host, port)
        index = start
        try:
            while time.perf_counter() < deadline:
                t0 = time.perf_counter_ns()
                writer.write(raw[index % len(raw)])
                index += 1
                try:
                    status_line = await reader.readline()
                    status = int(status_line.split()[1])
                    length = 0
                    while (line := await reader.readline()) not in (b"\r\n", b""):
                        name, _, value = line.decode("latin-1").partition(":")
                        if name.strip().lower() == "content-length":
                            length = int(value)
                    await reader.readexactly(length)
                except (OSError, ValueError, IndexError, asyncio.IncompleteReadError):
                    counts["errors"] += 1
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, port)
                    continue
                latencies.append(time.perf_counter_ns() - t0)
                if status not in expected:
                    counts["unexpected"] += 1
                    counts["unexpected_status"] = status
                if pace:
                    await asyncio.sleep(pace)
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(one_connection(i * 7) for i in range(connections)))
    seconds = time.perf_counter() - started
    values = sorted(latencies) or [0]
    return {"requests": len(latencies), "duration_us": int(seconds * 1e6), "bytes": 0,
            "connect_errors": 0, "read_errors": counts["errors"], "write_errors": 0,
            "timeouts": 0, "status_errors": 0, "unexpected": counts["unexpected"],
            "unexpected_status": counts["unexpected_status"],
            **{f"p{p}_us": int(percentile(values, p) / 1000) for p in (50, 90, 99)},
            "max_us": int(values[-1] / 1000)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.common")
    sub = parser.add_subparsers(dest="command", required=True)
    probe = sub.add_parser("probe", help="sequential GET /healthz; prints one JSON line")
    probe.add_argument("--host", default="127.0.0.1")
    probe.add_argument("--port", type=int, required=True)
    probe.add_argument("--duration", type=float, default=5.0)
    probe.add_argument("--interval-ms", type=float, default=1.0,
                       help="at most one request per interval (0: back to back)")
    load = sub.add_parser("load", help="fallback load generator; prints one BENCH_JSON line")
    load.add_argument("--url", required=True)
    load.add_argument("--spec", type=Path, required=True)
    load.add_argument("--connections", type=int, default=8)
    load.add_argument("--duration", type=float, default=5.0)
    accounts = sub.add_parser("create-accounts", help="bench accounts (DIEF_* from the env)")
    accounts.add_argument("--count", type=int, required=True)
    accounts.add_argument("--password-stdin", action="store_true", required=True)
    args = parser.parse_args(argv)
    if args.command == "probe":
        result = _probe_loop(args.host, args.port, args.duration, args.interval_ms / 1000)
        print(json.dumps(asdict(result)))
        return 0
    import asyncio

    if args.command == "load":
        spec = json.loads(args.spec.read_text(encoding="utf-8"))
        summary = asyncio.run(_load(args.url, spec, args.connections, args.duration))
        print("BENCH_JSON " + json.dumps(summary))
        return 0
    password = sys.stdin.readline().rstrip("\r\n")
    asyncio.run(_create_accounts(args.count, password))
    return 0


if __name__ == "__main__":
    sys.exit(main())
