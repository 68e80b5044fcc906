"""Does a sign-in storm stall the service? (issue 2, "Done when")

Starts a throw-away ``dief serve`` (embedded PostgreSQL, production argon2id settings unless
``--tiny``), creates bench accounts, then:

1. probes ``GET /healthz`` alone for ``--duration`` seconds → p99_base;
2. runs ``--concurrency`` sign-in loops against ``POST /api/v1/session`` (alternating right
   and wrong passwords, so both the 201 and the 401 path hash), waits for them to fill the hash
   queue, and probes again for the same time → p99_storm, plus the sign-in rate.

The probe runs in its own process (see ``bench/common.py``). Machines differ and are noisy, so
the result is a ratio measured within one run, never an absolute time. Exit status: 0 when the
measurement was made (whatever the ratio), 1 when the harness could not make it.

    python bench/login_storm.py [--duration 5] [--concurrency 20] [--probe python|wrk] [--tiny]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):  # run as `python bench/login_storm.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp

from bench.common import (
    REPO_ROOT,
    HarnessError,
    ProbeResult,
    ServerUnderTest,
    create_accounts,
    fallback_note,
    probe_command,
    read_probe_output,
    run_probe,
)

TARGET = 3.0
FIRST_ANSWER_TIMEOUT = 60.0
DRAIN_TIMEOUT = 120.0
PASSWORD = "violet tractor harbour lantern 1987"  # noqa: S105 (bench accounts only)
WRONG_PASSWORD = "violet tractor harbour lantern 1988"  # noqa: S105

PRODUCTION_ARGON2 = {"DIEF_ARGON2_MEMORY_KIB": "65536", "DIEF_ARGON2_TIME_COST": "3",
                     "DIEF_ARGON2_PARALLELISM": "4", "DIEF_MAX_CONCURRENT_HASHES": "2"}
TINY_ARGON2 = {"DIEF_ARGON2_MEMORY_KIB": "64", "DIEF_ARGON2_TIME_COST": "1",
               "DIEF_ARGON2_PARALLELISM": "1", "DIEF_MAX_CONCURRENT_HASHES": "2"}
# Throttling would answer 429 before hashing and hide the cost we are measuring.
NO_THROTTLE = {"DIEF_LOGIN_MAX_PER_ACCOUNT": "1000", "DIEF_LOGIN_MAX_PER_CLIENT": "10000",
               "DIEF_LOGIN_WINDOW_MINUTES": "1"}


@dataclass
class StormStats:
    completions: list[float] = field(default_factory=list)  # epoch seconds of each answer
    statuses: collections.Counter[int] = field(default_factory=collections.Counter)
    errors: collections.Counter[str] = field(default_factory=collections.Counter)

    def rate(self, started: float, ended: float) -> float:
        inside = sum(1 for t in self.completions if started <= t <= ended)
        return inside / (ended - started) if ended > started else 0.0


async def _sign_in_loop(session: aiohttp.ClientSession, url: str, email: str,
                        stats: StormStats, stop: asyncio.Event, first: int) -> None:
    attempt = first  # odd loops start with the wrong password: both paths from the start
    while not stop.is_set():
        password = PASSWORD if attempt % 2 == 0 else WRONG_PASSWORD
        attempt += 1
        try:
            async with session.post(url, json={"email": email, "password": password}) as resp:
                await resp.read()
                stats.statuses[resp.status] += 1
        except (aiohttp.ClientError, TimeoutError) as exc:
            stats.errors[type(exc).__name__] += 1
            await asyncio.sleep(0.1)
            continue
        stats.completions.append(time.time())


async def storm_phase(server: ServerUnderTest, emails: list[str], *, concurrency: int,
                      duration: float, warmup: float, tool: str,
                      interval_ms: float) -> tuple[ProbeResult, StormStats]:
    """Sign-in loops in this process's event loop; the probe in another process meanwhile."""
    stats = StormStats()
    stop = asyncio.Event()
    url = server.base_url + "/api/v1/session"
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout,
                                     cookie_jar=aiohttp.DummyCookieJar()) as session:
        loops = [asyncio.create_task(_sign_in_loop(session, url, emails[i % len(emails)],
                                                   stats, stop, i))
                 for i in range(concurrency)]
        try:
            # Let every loop get a request in and fill the hash queue, and see hashes finish.
            await asyncio.sleep(warmup)
            waited = 0.0
            while not stats.completions:
                if waited > FIRST_ANSWER_TIMEOUT:
                    raise HarnessError("no sign-in answered within "
                                       f"{warmup + waited:.0f} s of storm")
                await asyncio.sleep(0.1)
                waited += 0.1
            argv, ran = probe_command(tool, server.host, server.port, duration, interval_ms)
            started = time.time()
            proc = await asyncio.create_subprocess_exec(
                *argv, cwd=str(REPO_ROOT),
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            out, err = await proc.communicate()
            ended = time.time()
            if proc.returncode != 0:
                raise HarnessError(f"the probe failed ({proc.returncode}): {err.decode()}")
            result = read_probe_output(ran, out.decode(), started, ended)
        finally:
            stop.set()  # each loop finishes its request: the server is idle when we return
            _, pending = await asyncio.wait(loops, timeout=DRAIN_TIMEOUT)
            for task in pending:
                task.cancel()
            await asyncio.gather(*loops, return_exceptions=True)
    note = fallback_note(tool, ran)
    if note:
        result = ProbeResult(**{**result.__dict__, "note": note})
    return result, stats


def check_sign_in_works(server: ServerUnderTest, email: str) -> None:
    """One right and one wrong password, before measuring: the harness itself must be sound."""

    async def attempt(password: str) -> int:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session, \
                session.post(server.base_url + "/api/v1/session",
                             json={"email": email, "password": password}) as resp:
            await resp.read()
            return resp.status

    async def both() -> tuple[int, int]:
        return await attempt(PASSWORD), await attempt(WRONG_PASSWORD)

    right, wrong = asyncio.run(both())
    if (right, wrong) != (201, 401):
        raise HarnessError(f"sign-in answered {right} (right password) and {wrong} (wrong "
                           "password); expected 201 and 401\n" + server.log_tail())


@dataclass(frozen=True)
class Round:
    base: ProbeResult
    storm: ProbeResult
    stats: StormStats

    @property
    def rate(self) -> float:
        return self.stats.rate(self.storm.started, self.storm.ended)

    @property
    def ratio(self) -> float:
        return self.storm.p99_ms / self.base.p99_ms


def print_report(args: argparse.Namespace, env: dict[str, str], rounds: list[Round]) -> float:
    first = rounds[0].base
    print(f"login storm: {args.concurrency} concurrent sign-in loops (right/wrong password "
          f"alternating), argon2id m={env['DIEF_ARGON2_MEMORY_KIB']} KiB "
          f"t={env['DIEF_ARGON2_TIME_COST']} p={env['DIEF_ARGON2_PARALLELISM']}, "
          f"{env['DIEF_MAX_CONCURRENT_HASHES']} concurrent hashes, {os.cpu_count()} CPUs")
    interval = f", paced {args.probe_interval_ms:g} ms" if first.tool == "python" else ""
    print(f"probe: {first.tool} (sequential GET /healthz in its own process{interval}), "
          f"{first.seconds:.1f} s per phase" + (f"  [{first.note}]" if first.note else ""))
    print(f"{'phase':<10}{'requests':>10}{'errors':>8}{'p50 ms':>10}{'p90 ms':>10}"
          f"{'p99 ms':>10}{'max ms':>10}{'sign-ins/s':>12}")
    for number, one in enumerate(rounds, 1):
        suffix = f" {number}" if len(rounds) > 1 else ""
        for name, result, rate in (("alone", one.base, "-"),
                                   ("storm", one.storm, f"{one.rate:.2f}")):
            print(f"{name + suffix:<10}{result.requests:>10}{result.errors:>8}"
                  f"{result.p50_ms:>10.3f}{result.p90_ms:>10.3f}{result.p99_ms:>10.3f}"
                  f"{result.max_ms:>10.3f}{rate:>12}")
    statuses: collections.Counter[int] = collections.Counter()
    errors: collections.Counter[str] = collections.Counter()
    for one in rounds:
        statuses.update(one.stats.statuses)
        errors.update(one.stats.errors)
    answers = ", ".join(f"{status}: {n}" for status, n in sorted(statuses.items()))
    shown_errors = ", ".join(f"{name}: {n}" for name, n in errors.items())
    print(f"sign-in answers (storm phases, warm-up included): {answers}"
          + (f"; client errors {shown_errors}" if shown_errors else ""))
    if statuses.get(429):
        print("warning: some sign-ins were throttled (429) and did not hash")
    if not all(one.rate for one in rounds):
        print("warning: no sign-in finished while the probe ran (is the machine overloaded?)")
    ratios = [one.ratio for one in rounds]
    ratio = statistics.median(ratios)
    of_rounds = (f", median of {len(rounds)} rounds: "
                 + " ".join(f"{r:.2f}" for r in ratios)) if len(rounds) > 1 else ""
    print(f"ratio p99_storm/p99_base = {ratio:.2f} (target ≤ {TARGET:g}{of_rounds})")
    return ratio


def run(args: argparse.Namespace) -> None:
    env = {**(TINY_ARGON2 if args.tiny else PRODUCTION_ARGON2), **NO_THROTTLE}
    accounts = min(args.concurrency, 20)
    rounds: list[Round] = []
    with ServerUnderTest(env) as server:
        emails = create_accounts(server, accounts, PASSWORD)
        check_sign_in_works(server, emails[0])
        for _ in range(args.rounds):
            base = run_probe(server.host, server.port, args.duration, tool=args.probe,
                             interval_ms=args.probe_interval_ms)
            storm, stats = asyncio.run(storm_phase(
                server, emails, concurrency=args.concurrency, duration=args.duration,
                warmup=args.warmup, tool=args.probe, interval_ms=args.probe_interval_ms))
            if base.errors or storm.errors:
                raise HarnessError(f"/healthz failed during the probe ({base.errors} alone, "
                                   f"{storm.errors} in the storm)\n" + server.log_tail())
            unexpected = set(stats.statuses) - {201, 401, 429}
            if unexpected:
                raise HarnessError(f"unexpected sign-in answers {dict(stats.statuses)}\n"
                                   + server.log_tail())
            rounds.append(Round(base, storm, stats))
    print_report(args, env, rounds)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=None,
                        help="seconds per probe phase (default 5; 1 with --tiny)")
    parser.add_argument("--concurrency", type=int, default=20,
                        help="concurrent sign-in loops (default 20)")
    parser.add_argument("--warmup", type=float, default=None,
                        help="seconds of storm before the probe starts (default 2; 0.5 with "
                             "--tiny)")
    parser.add_argument("--probe", choices=("python", "wrk"), default="python",
                        help="latency probe: python (paced, default) or wrk (back to back; "
                             "falls back to python when wrk is not installed)")
    parser.add_argument("--probe-interval-ms", type=float, default=1.0,
                        help="python probe: at most one request per interval (0: back to back)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="alone/storm pairs on the same server; the ratio printed is the "
                             "median of the rounds' ratios (default 1)")
    parser.add_argument("--tiny", action="store_true",
                        help="smoke test: cheap argon2id, 1 s phases")
    args = parser.parse_args(argv)
    if args.duration is None:
        args.duration = 1.0 if args.tiny else 5.0
    if args.warmup is None:
        args.warmup = 0.5 if args.tiny else 2.0
    if args.duration <= 0 or args.concurrency < 1 or args.rounds < 1 or args.warmup < 0:
        parser.error("--duration, --concurrency and --rounds must be positive, --warmup not "
                     "negative")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        run(args)
    except (HarnessError, OSError) as exc:
        print(f"login_storm: harness failure: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
