"""Benchmark paging latency: urgent SMS committed -> page handed to (fake) Twilio, under load.

Each round posts 50 ordinary messages and 1 urgent first message concurrently to a real
``helpline serve``; latency is from the urgent webhook's 200 (its message is committed by
then) to the fake Twilio API receiving the page to the volunteer on call. Target: p95 < 1 s.
The others come from 07700 900000-899 in turn, so after 18 rounds they are returning texters.

Run: ``.venv/bin/python tests/bench/bench_alerts.py [--rounds 40] [--database-url URL]``
(a PostgreSQL URL gets a throw-away database next to it, dropped afterwards).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import re
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
from aiohttp import web
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from helpline.channels.twilio.signature import TwilioSignature

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # ``tests`` when run as a file
from tests.bench import bench_sms as sms
from tests.fakes.twilio_api import FakeTwilioApi, start_fake_twilio

ACCOUNT, TOKEN = "AC" + "bench" + "x" * 27, "bench-auth-token"
HELPLINE, VOLUNTEER, LOGIN = "+447700900999", "+447700900950", "vol-bench"
URGENT_TEXT = "im going to kill myself tonight"
PAGE = re.compile(r"Urgent contact waiting \(#(\d+)\)")
OTHERS = 50
# Ordinary bodies the risk lexicon does not rate (bench_sms's list has urgent ones), and that
# a returning texter's "are you safe?" step does not read as "no".
BODIES = ("hi", "hello", "hey", "hi there", "hello is anyone there", "is anyone there",
          "is this really confidential?", "i need some advice")
ROTA = "timezone: Europe/London\ntiers:\n" + "".join(
    f"  {tier}:\n    shifts:\n      - {{start: \"00:00\", end: \"00:00\", people: [{LOGIN}]}}\n"
    for tier in ("first_line", "second_line", "supervisor"))
# Urgent texters come from 07700 900900-998 (skipping the volunteer's phone).
URGENT_TEXTERS = [f"+447700900{n}" for n in range(900, 999) if f"+447700900{n}" != VOLUNTEER]


class TimedTwilio(FakeTwilioApi):
    """The fake Messages API, noting when each request arrived and the first page per alert."""

    def __init__(self) -> None:
        super().__init__(account_sid=ACCOUNT, auth_token=TOKEN)
        self.pages: dict[int, float] = {}  # alert number -> arrival of its first page
        self.page_calls = self.other_calls = 0
        self.other_times: list[float] = []
        self.last_call = time.perf_counter()
        self.paged = asyncio.Event()

    async def _create(self, request: web.Request) -> web.Response:
        arrived = self.last_call = time.perf_counter()
        form = await request.post()
        match = PAGE.search(str(form.get("Body", "")))
        if str(form.get("To")) == VOLUNTEER and match:
            self.page_calls += 1
            self.pages.setdefault(int(match[1]), arrived)
            self.paged.set()
        else:
            self.other_calls += 1
            self.other_times.append(arrived)
        return await super()._create(request)


def signed(signer: TwilioSignature, url: str, texter: str, body: str) -> tuple[bytes, dict]:
    """Return one signed inbound-SMS webhook (body, headers)."""
    sid = "SM" + uuid.uuid4().hex
    params = {"ToCountry": "GB", "SmsMessageSid": sid, "NumMedia": "0", "SmsSid": sid,
              "SmsStatus": "received", "Body": body, "FromCountry": "GB", "To": HELPLINE,
              "NumSegments": "1", "MessageSid": sid, "AccountSid": ACCOUNT,
              "ApiVersion": "2010-04-01", "From": texter}
    headers = {"Content-Type": "application/x-www-form-urlencoded",
               "X-Twilio-Signature": signer.sign(url + sms.PATH, params)}
    return urlencode(params).encode(), headers


async def post(http: aiohttp.ClientSession, url: str, req: tuple[bytes, dict]) -> tuple[str, float]:
    """Post one webhook; return its outcome ("200", "HTTP 500", an error name) and when."""
    try:
        async with http.post(url + sms.PATH, data=req[0], headers=req[1]) as resp:
            await resp.read()
            return ("200" if resp.status == 200 else f"HTTP {resp.status}"), time.perf_counter()
    except (aiohttp.ClientError, TimeoutError) as exc:
        return type(exc).__name__, time.perf_counter()


@dataclass
class Stats:
    """What the measured rounds saw."""

    latency: sms.Result = field(default_factory=lambda: sms.Result("urgent page"))
    background: sms.Result = field(default_factory=lambda: sms.Result("background"))
    ahead: list[int] = field(default_factory=list)  # other texts sent between commit and page
    texts: int = 0  # other texts sent during the rounds
    wall: float = 0.0  # from each round's start until its outbox drained


async def run_round(http: aiohttp.ClientSession, url: str, signer: TwilioSignature,
                    fake: TimedTwilio, index: int, rng: random.Random, stats: Stats) -> None:
    """Send 50 ordinary messages and 1 urgent at once; time the urgent one's page."""
    latency, background, calls_before = stats.latency, stats.background, fake.other_calls
    others = [signed(signer, url, f"+447700900{(index * OTHERS + k) % 900:03d}",
                     rng.choice(BODIES)) for k in range(OTHERS)]
    urgent = signed(signer, url, URGENT_TEXTERS[index], URGENT_TEXT)
    position = rng.randrange(OTHERS + 1)
    reqs = [*others[:position], urgent, *others[position:]]
    known, started = set(fake.pages), time.perf_counter()
    fake.paged.clear()
    outcomes = await asyncio.gather(*(post(http, url, req) for req in reqs))
    status, answered = outcomes.pop(position)
    background.elapsed += max(t for _, t in outcomes) - started
    for outcome, at in outcomes:
        background.sent += 1
        if outcome == "200":
            background.latencies.append(at - started)
        else:
            background.errors[outcome] += 1
    latency.sent += 1
    deadline = time.perf_counter() + 10
    while not set(fake.pages) - known and (left := deadline - time.perf_counter()) > 0:
        fake.paged.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(fake.paged.wait(), left)
    new = set(fake.pages) - known
    if status != "200":
        latency.errors[f"urgent webhook {status}"] += 1
    elif not new:
        latency.errors["no page within 10 s"] += 1
    else:  # alerts open in round order: a late page from a missed round has a lower number
        paged_at = fake.pages[max(new)]
        latency.latencies.append(paged_at - answered)
        stats.ahead.append(sum(answered <= t <= paged_at for t in fake.other_times))
        if len(new) > 1:
            latency.errors["more than one new alert in a round"] += 1
    # Let the background replies drain so that rounds do not overlap (bounded).
    for _ in range(300):
        if time.perf_counter() - fake.last_call >= 0.25:
            break
        await asyncio.sleep(0.05)
    stats.texts += fake.other_calls - calls_before
    stats.wall += fake.last_call - started


async def outbox_counts(db_url: str) -> list[tuple[str, str, int]]:
    """Return (purpose, status, count) rows of the outbox after the run."""
    engine = create_async_engine(db_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(text(
                "SELECT purpose, status, count(*) FROM outbox GROUP BY purpose, status "
                "ORDER BY purpose, status"))
            return [(p, s, n) for p, s, n in rows]
    finally:
        await engine.dispose()


async def bench(args: argparse.Namespace, tmp: Path) -> bool:
    """Start the fake API and the service, run the rounds, print results; return PASS."""
    port = sms.free_port()
    url = f"http://127.0.0.1:{port}"
    db_url = args.database_url or f"sqlite+aiosqlite:///{tmp / 'helpline.db'}"
    fake = TimedTwilio()
    fake_server = await start_fake_twilio(fake)
    pg_name = service = None
    (tmp / "rota.yaml").write_text(ROTA)
    stderr_path = tmp / "server.stderr"
    signer = TwilioSignature(auth_token=TOKEN, public_url=url, trust_proxy_headers=False)
    rng, stats = random.Random(args.seed), Stats()
    try:
        if db_url.startswith("postgres"):
            db_url = await sms.postgres_database(db_url)
            pg_name = make_url(db_url).database
        env = {k: v for k, v in os.environ.items() if not k.startswith("HELPLINE_")}
        env.update(HELPLINE_VAR_DIR=str(tmp), HELPLINE_DATABASE_URL=db_url,
                   HELPLINE_PORT=str(port), HELPLINE_PUBLIC_URL=url,
                   HELPLINE_LOG_LEVEL="WARNING", HELPLINE_CONFIG=str(tmp / "no-config.toml"),
                   HELPLINE_TWILIO_ACCOUNT_SID=ACCOUNT, HELPLINE_TWILIO_AUTH_TOKEN=TOKEN,
                   HELPLINE_TWILIO_FROM=HELPLINE,
                   HELPLINE_TWILIO_API_URL=str(fake_server.make_url("")).rstrip("/"),
                   HELPLINE_ROTA_FILE=str(tmp / "rota.yaml"))
        for argv in (["db", "upgrade"],
                     ["users", "add", LOGIN, "--role", "volunteer", "--phone", VOLUNTEER]):
            if sms.spawn(["-m", "helpline", *argv], env, stderr_path).wait(timeout=120):
                raise RuntimeError(f"helpline {' '.join(argv)} failed")
        prof = ["-m", "cProfile", "-o", args.profile] if args.profile else []
        service = sms.spawn([*prof, "-m", "helpline", "serve"], env, stderr_path)
        await sms.wait_healthy(url, service)
        connector = aiohttp.TCPConnector(limit=OTHERS + 1)
        async with aiohttp.ClientSession(connector=connector,
                                         timeout=aiohttp.ClientTimeout(total=30)) as http:
            await run_round(http, url, signer, fake, 0, rng, Stats())
            print(f"{args.rounds} rounds ({make_url(db_url).get_backend_name()}) ...",
                  file=sys.stderr)
            for index in range(1, args.rounds + 1):
                await run_round(http, url, signer, fake, index, rng, stats)
        sms.stop(service)
        counts = await outbox_counts(db_url)
    finally:
        sms.stop(service)
        await fake_server.close()
        if pg_name:
            await sms.postgres_database(args.database_url, drop=pg_name)
    log = stderr_path.read_text(errors="replace")
    latency, bg, ahead = stats.latency, stats.background, sorted(stats.ahead)
    lat = [x * 1e3 for x in latency.latencies]
    print(f"database: {make_url(db_url).get_backend_name()}, rounds: {args.rounds}, "
          f"{OTHERS} other conversations + 1 urgent per round")
    print(f"urgent commit -> page at fake Twilio: n={len(lat)}  "
          + "  ".join(f"{name}={latency.percentile(p):.1f}" for name, p in
                      (("p50", 50), ("p95", 95), ("p99", 99), ("max", 100)))
          + f"  min={min(lat, default=float('nan')):.1f} ms")
    for kind, count in sorted(latency.errors.items()):
        print(f"  error {kind}: {count}")
    print(f"background: {bg.sent} sent, {len(bg.latencies)} ok, {sum(bg.errors.values())} "
          f"errors, {bg.throughput():.1f} msg/s while in flight, webhook p50="
          f"{bg.percentile(50):.1f} p99={bg.percentile(99):.1f} ms")
    for kind, count in sorted(bg.errors.items()):
        print(f"  error {kind}: {count}")
    print(f"other texts handed to Twilio between the urgent commit and its page: "
          f"p50={ahead[len(ahead) // 2] if ahead else 'n/a'} max={max(ahead, default='n/a')}; "
          f"outbox drain rate {stats.texts / stats.wall if stats.wall else 0:.1f} texts/s")
    print(f"fake Twilio calls (incl. warm-up): {fake.attempts} total, {fake.page_calls} pages "
          f"({len(fake.pages)} alerts), {fake.other_calls} other")
    print("outbox rows: " + ", ".join(f"{p}/{s}={n}" for p, s, n in counts))
    print(f"server stderr: {log.count('Traceback')} tracebacks, "
          f"{log.lower().count('database is locked')} 'database is locked'")
    ok = bool(lat) and not latency.errors and latency.percentile(95) < 1000
    print(f"{'PASS' if ok else 'FAIL'}  p95 commit -> page < 1000 ms (every round paged)")
    return ok


def main() -> int:
    """Parse arguments, run in a temp dir, clean up."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40, choices=range(1, len(URGENT_TEXTERS)),
                        metavar=f"1..{len(URGENT_TEXTERS) - 1}")
    parser.add_argument("--database-url", help="e.g. postgresql+asyncpg://postgres@127.0.0.1/x")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", help="run the service under cProfile, writing here")
    return sms.run_in_temp_dir(bench, parser.parse_args(), "helpline-bench-alerts-")


if __name__ == "__main__":
    sys.exit(main())
