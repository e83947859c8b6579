"""Load benchmark for ``POST /twilio/sms``: open- and closed-loop runs against a real server.

Prints throughput and latency for each run, the ceiling ratio (closed-loop throughput of
the service over the bare handler's), and the servers' own CPU a request in the closed
loops, which the load generator on the same cores does not distort.

Run: ``.venv/bin/python tests/bench/bench_sms.py [--rate 200] [--duration 20] ...``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from helpline.channels.twilio.signature import TwilioSignature
from helpline.db import Database
from helpline.inbox.models import DONE, InboxMessage
from helpline.settings import DEVELOPMENT_AUTH_TOKEN

ROOT = Path(__file__).resolve().parents[2]
BARE_SERVER = Path(__file__).with_name("bare_server.py")
FLOOR_SERVER = Path(__file__).with_name("floor_server.py")
LOOP_STALLS = Path(__file__).with_name("loop_stalls.py")
PATH = "/twilio/sms"
BODIES = (
    "hi", "hello is anyone there", "i dont know who else to talk to",
    "can i talk to someone please", "i left home last night and i'm scared",
    "my mum doesn't know where i am", "ok", "thanks", "i'm at the bus station",
    "is this really confidential?", "i don't feel safe going back", "yeah",
)
Request = tuple[bytes, dict[str, str]]


@dataclass
class Result:
    """Latencies and errors of one run."""

    mode: str
    sent: int = 0
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    elapsed: float = 0.0

    def throughput(self) -> float:
        """Return successful requests per second."""
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0

    def percentile(self, p: float) -> float:
        """Return the ``p``-th percentile latency in ms (nearest rank)."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))] * 1e3


def signed_requests(n: int, url: str, texters: int) -> list[Request]:
    """Build ``n`` signed webhook bodies, each with a distinct MessageSid."""
    signer = TwilioSignature(auth_token=DEVELOPMENT_AUTH_TOKEN, public_url=url,
                             trust_proxy_headers=False)
    rng, account = random.Random(n), "AC" + "0" * 32
    requests = []
    for _ in range(n):
        sid = "SM" + uuid.uuid4().hex
        params = {"ToCountry": "GB", "SmsMessageSid": sid, "NumMedia": "0", "SmsSid": sid,
                  "SmsStatus": "received", "Body": rng.choice(BODIES), "FromCountry": "GB",
                  "To": "+447700900000", "NumSegments": "1", "MessageSid": sid,
                  "AccountSid": account, "ApiVersion": "2010-04-01",
                  "From": f"+447700900{rng.randrange(texters):03d}"}
        headers = {"Content-Type": "application/x-www-form-urlencoded",
                   "X-Twilio-Signature": signer.sign(url + PATH, params)}
        requests.append((urlencode(params).encode(), headers))
    return requests


async def send(http: aiohttp.ClientSession, url: str, req: Request, since: float,
               result: Result) -> None:
    """Post one request; record latency from ``since`` on 200, else the error."""
    result.sent += 1
    try:
        async with http.post(url + PATH, data=req[0], headers=req[1]) as resp:
            await resp.read()
            if resp.status == 200:
                result.latencies.append(time.perf_counter() - since)
            else:
                result.errors[f"HTTP {resp.status}"] += 1
    except (aiohttp.ClientError, TimeoutError) as exc:
        result.errors[type(exc).__name__] += 1


def client(connections: int) -> aiohttp.ClientSession:
    """Return a client session with a bounded connection pool."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections),
                                 timeout=aiohttp.ClientTimeout(total=30))


async def open_loop(url: str, reqs: list[Request], rate: float, connections: int) -> Result:
    """Send request i at t0 + i/rate; latency counts from that scheduled time."""
    result = Result(f"open {rate:g}/s")
    async with client(connections) as http:
        t0 = time.perf_counter() + 0.05
        tasks = []
        for i, req in enumerate(reqs):
            scheduled = t0 + i / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(send(http, url, req, scheduled, result)))
        await asyncio.gather(*tasks)
        result.elapsed = time.perf_counter() - t0
    return result


async def closed_loop(url: str, reqs: list[Request], connections: int, duration: float,
                      label: str, *, replay: bool = False) -> Result:
    """Keep ``connections`` requests in flight for ``duration`` seconds (``replay``: cycle)."""
    result = Result(f"closed {connections} conn {label}")
    pending = itertools.cycle(reqs) if replay else iter(reqs)
    async with client(connections) as http:
        start = time.perf_counter()
        deadline = start + duration

        async def worker() -> None:
            for req in pending:
                if time.perf_counter() >= deadline:
                    return
                await send(http, url, req, time.perf_counter(), result)

        await asyncio.gather(*(worker() for _ in range(connections)))
        result.elapsed = time.perf_counter() - start
    if result.sent == len(reqs) and not replay and label != "warm-up":
        print(f"note: {label} used all {len(reqs)} precomputed requests", file=sys.stderr)
    return result


def cpu_seconds(*procs: subprocess.Popen[bytes] | None) -> float:
    """Return the CPU time the running ``procs`` have used so far (Linux's /proc)."""
    total = 0.0
    for proc in procs:
        if proc is not None and proc.poll() is None:
            fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def free_port() -> int:
    """Return a free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def wait_healthy(url: str, proc: subprocess.Popen[bytes], seconds: float = 30) -> None:
    """Poll ``GET /healthz`` until it answers 200; fail if the process dies or time runs out."""
    async with aiohttp.ClientSession() as http:
        for _ in range(int(seconds * 10)):
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with status {proc.returncode}")
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(url + "/healthz") as resp:
                    if resp.status == 200:
                        return
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} not healthy after {seconds}s")


def spawn(argv: list[str], env: dict[str, str], stderr: Path | None = None,
          cwd: Path = ROOT) -> subprocess.Popen[bytes]:
    """Start ``python argv`` in ``cwd``, appending its stderr to ``stderr``."""
    with stderr.open("ab") if stderr else contextlib.nullcontext() as err:
        return subprocess.Popen([sys.executable, *argv], env=env, cwd=cwd,  # noqa: S603
                                stdout=subprocess.DEVNULL, stderr=err)


def loop_stalls(service: subprocess.Popen[bytes], out: Path, top: int = 12) -> str:
    """Have the service write its long loop steps so far (``loop_stalls.py``); return them."""
    out.unlink(missing_ok=True)
    service.send_signal(signal.SIGUSR1)
    for _ in range(100):
        if out.exists() and out.stat().st_size:
            break
        time.sleep(0.05)
    return "\n".join(out.read_text().splitlines()[:top + 1]) if out.exists() else "(none written)"


def stop(proc: subprocess.Popen[bytes] | None) -> None:
    """Stop a server gracefully (SIGINT lets cProfile write), killing it if it hangs."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def postgres_database(url: str, drop: str | None = None) -> str:
    """Create a throw-away database next to ``url`` and return its URL (or drop ``drop``)."""
    import asyncpg

    parsed = make_url(url)
    conn = await asyncpg.connect(host=parsed.host or "127.0.0.1", port=parsed.port or 5432,
                                 user=parsed.username, password=parsed.password,
                                 database=parsed.database or "postgres")
    try:
        if drop:
            await conn.execute(f'DROP DATABASE IF EXISTS "{drop}" WITH (FORCE)')
            return drop
        name = f"bench_{uuid.uuid4().hex[:12]}"
        await conn.execute(f'CREATE DATABASE "{name}"')
        return parsed.set(database=name).render_as_string(hide_password=False)
    finally:
        await conn.close()


async def filed_between(db_url: str, start: datetime, end: datetime) -> tuple[int, int]:
    """Return how many texts (and how many urgent) the inbox worker filed in [start, end]."""
    db = Database(db_url)
    try:
        async with db.reader() as session:
            row = (await session.execute(
                select(func.count(), func.count().filter(InboxMessage.urgent))
                .where(InboxMessage.status == DONE,
                       InboxMessage.processed_at.between(start, end)))).one()
    finally:
        await db.dispose()
    return row[0], row[1]


def report(results: list[Result]) -> None:
    """Print one row per run."""
    head = f"{'mode':<28}{'sent':>7}{'ok':>7}{'errors':>8}{'msg/s':>9}"
    print(head + "".join(f"{p:>9}" for p in ("p50 ms", "p90 ms", "p99 ms", "max ms")))
    for r in results:
        pcts = "".join(f"{r.percentile(p):>9.1f}" for p in (50, 90, 99, 100))
        print(f"{r.mode:<28}{r.sent:>7}{len(r.latencies):>7}{sum(r.errors.values()):>8}"
              f"{r.throughput():>9.1f}{pcts}")
        for kind, count in sorted(r.errors.items()):
            print(f"{'':<4}error {kind}: {count}")


async def bench(args: argparse.Namespace, tmp: Path) -> bool:
    """Run every phase and print the table; return whether the targets were met."""
    port, bare_port = args.port or free_port(), free_port()
    url, bare_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{bare_port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPLINE_")}
    db_url = args.database_url or f"sqlite+aiosqlite:///{tmp / 'helpline.db'}"
    pg_name = None
    if db_url.startswith("postgres"):
        db_url = await postgres_database(db_url)
        pg_name = make_url(db_url).database
    env.update(HELPLINE_VAR_DIR=str(tmp), HELPLINE_DATABASE_URL=db_url,
               HELPLINE_PORT=str(port), HELPLINE_PUBLIC_URL=url, HELPLINE_LOG_LEVEL="WARNING",
               HELPLINE_CONFIG=str(tmp / "no-config.toml"))
    stderr_path = tmp / "server.stderr"
    service = bare = worker = floor = None
    results: list[Result] = []
    print(f"signing requests (database {make_url(db_url).get_backend_name()}) ...",
          file=sys.stderr)
    warm = signed_requests(args.rate, url, args.texters)
    steady = signed_requests(int(args.rate * args.duration), url, args.texters)
    pool = signed_requests(int(args.closed_duration * args.max_rate), url, args.texters)
    try:
        if spawn(["-m", "helpline", "db", "upgrade"], env, cwd=args.source).wait(timeout=120):
            raise RuntimeError("helpline db upgrade failed")
        prof = ["-m", "cProfile", "-o", args.profile] if args.profile else []
        web_only = args.split or args.web_only
        serve = ["-m", "helpline", "serve", *(["--web-only"] if web_only else [])]
        if args.loop_stalls:
            serve = [str(LOOP_STALLS), str(tmp / "stalls.txt"), *serve[2:]]
        service = spawn([*prof, *serve], env, stderr_path, args.source)
        if args.split:  # the workers in a process of their own, as when scaling out
            worker = spawn(["-m", "helpline", "worker"], env, tmp / "worker.stderr",
                           args.source)
        await wait_healthy(url, service)
        await closed_loop(url, warm, 10, 5, "warm-up")
        if args.loop_stalls:  # count from here: not start-up, not the warm-up
            await asyncio.to_thread(loop_stalls, service, tmp / "stalls.txt")
        print(f"open loop: {args.rate}/s for {args.duration}s ...", file=sys.stderr)
        open_started = datetime.now(UTC)
        results.append(await open_loop(url, steady, args.rate, args.connections))
        filed_open = await filed_between(db_url, open_started, datetime.now(UTC))
        if args.loop_stalls:
            stalls = await asyncio.to_thread(loop_stalls, service, tmp / "stalls.txt")
        await asyncio.sleep(1)  # let the outbox sender catch up between runs
        print(f"closed loop: {args.connections} connections ...", file=sys.stderr)
        used, loop_started = cpu_seconds(service, worker), datetime.now(UTC)
        results.append(await closed_loop(url, pool, args.connections, args.closed_duration,
                                         "service"))
        cpu = {"service": cpu_seconds(service, worker) - used}
        filed = await filed_between(db_url, loop_started, datetime.now(UTC))
        stop(service)
        stop(worker)
        bare = spawn([str(BARE_SERVER), "--port", str(bare_port), "--public-url", url], env)
        await wait_healthy(bare_url, bare)
        await closed_loop(bare_url, warm, 10, 2, "warm-up", replay=True)
        print("closed loop against the bare handler ...", file=sys.stderr)
        used = cpu_seconds(bare)
        results.append(await closed_loop(bare_url, pool, args.connections,
                                         args.closed_duration, "bare", replay=True))
        cpu["bare"] = cpu_seconds(bare) - used
        stop(bare)
        if args.floor:
            floor = spawn([str(FLOOR_SERVER), "--port", str(bare_port), "--public-url", url,
                           "--database", str(tmp / "floor.db")], env)
            await wait_healthy(bare_url, floor)
            print("closed loop against the floor ...", file=sys.stderr)
            used = cpu_seconds(floor)
            results.append(await closed_loop(bare_url, pool, args.connections,
                                             args.closed_duration, "floor"))
            cpu["floor"] = cpu_seconds(floor) - used
    finally:
        stop(service)
        stop(worker)
        stop(bare)
        stop(floor)
        if pg_name:
            await postgres_database(args.database_url, drop=pg_name)
    log = "".join(p.read_text(errors="replace") for p in (stderr_path, tmp / "worker.stderr")
                  if p.exists())
    locked = log.lower().count("database is locked")
    steady_r, service_r, bare_r, *floor_r = results
    ratio = service_r.throughput() / bare_r.throughput()
    print()
    report(results)
    if args.loop_stalls:
        print("\nthe service's loop steps over 4 ms during the open loop "
              f"(tests/bench/loop_stalls.py):\n{stalls}")
    print()
    for what, (texts, urgent), run in (("open", filed_open, steady_r),
                                       ("closed", filed, service_r)):
        print(f"filed while the service's {what} loop ran: {texts} texts ({urgent} urgent), "
              f"{texts / (run.elapsed or 1):.0f} a second")
    print(f"\n'database is locked' in server stderr: {locked}")
    print(f"tracebacks in server stderr: {log.count('Traceback')}")
    print(f"ceiling ratio service/bare = {ratio:.2f}")
    # The load generator shares the machine; the servers' own CPU a request does not.
    runs = (("service", service_r), ("bare", bare_r), *(("floor", r) for r in floor_r))
    per_request = {name: cpu[name] / max(1, len(r.latencies)) * 1e6 for name, r in runs}
    print(f"server CPU a request (closed loop): service {per_request['service']:.0f} µs, "
          f"bare {per_request['bare']:.0f} µs, ratio bare/service "
          f"{per_request['bare'] / max(per_request['service'], 1e-9):.2f}")
    if floor_r:
        floor_ratio = floor_r[0].throughput() / bare_r.throughput()
        print(f"floor (bare + one token + group commit): {per_request['floor']:.0f} µs a "
              f"request, ceiling ratio floor/bare {floor_ratio:.2f}")
    checks = {
        f"p99 at {args.rate}/s < 50 ms": steady_r.percentile(99) < 50,
        "no errors at the steady rate": not steady_r.errors,
        "no errors in the closed loop": not service_r.errors,
        "no 'database is locked'": locked == 0,
        "ceiling >= 0.5 x bare": ratio >= 0.5,
    }
    for name, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}  {name}")
    return all(checks.values())


def main() -> int:
    """Parse arguments, run the benchmark in a temp dir, and clean up."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=200, help="open-loop messages a second")
    parser.add_argument("--duration", type=float, default=20, help="open-loop seconds")
    parser.add_argument("--texters", type=int, default=1000, choices=range(1, 1001),
                        metavar="1..1000")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--closed-duration", type=float, default=15)
    parser.add_argument("--max-rate", type=int, default=8000,
                        help="service closed-loop requests to sign per second of run "
                             "(the bare handler replays them)")
    parser.add_argument("--database-url", help="e.g. postgresql+asyncpg://postgres@127.0.0.1/x")
    parser.add_argument("--port", type=int, help="service port (default: a free one)")
    parser.add_argument("--source", type=Path, default=ROOT,
                        help="checkout whose helpline package to serve (default: this one)")
    parser.add_argument("--split", action="store_true",
                        help="serve --web-only with a separate `helpline worker` process")
    parser.add_argument("--web-only", action="store_true",
                        help="serve --web-only and file nothing: the webhook path alone")
    parser.add_argument("--loop-stalls", action="store_true",
                        help="print the service's loop steps over 4 ms during the open loop")
    parser.add_argument("--profile", help="run the service under cProfile, writing here")
    parser.add_argument("--floor", action="store_true",
                        help="also measure floor_server.py: the bare handler plus one "
                             "encrypted row committed before answering")
    return run_in_temp_dir(bench, parser.parse_args(), "helpline-bench-")


def run_in_temp_dir(run: Callable[[argparse.Namespace, Path], Awaitable[bool]],
                    args: argparse.Namespace, prefix: str) -> int:
    """Run a benchmark in a fresh temp dir; show the server's stderr if it fails; clean up."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        return 0 if asyncio.run(run(args, tmp)) else 1
    except Exception:
        log = tmp / "server.stderr"
        if log.exists():
            print("server stderr (tail):\n" + log.read_text(errors="replace")[-3000:],
                  file=sys.stderr)
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
