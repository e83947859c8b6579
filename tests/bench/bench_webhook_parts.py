"""Where a webhook's CPU goes: each step of ``POST /twilio/sms``, timed on its own.

Prints the CPU microseconds of each step the service takes for one inbound text, marks
the ones the bare handler of ``bench_sms.py`` takes too (parsing the form and checking
the signature), and sums the rest: the work the ceiling ratio charges the service for.
The webhook itself parses, checks and validates; the inbox's writer then prepares each
waiting text (number, urgency, pseudonym, encryption) and commits them together. Storing
is timed through ``Inbox.store`` with its writer running, as the webhook uses it
(preparing, then committing), for a lone text and for batches of 10 and 50 (a flood
shares each commit).

Run: ``.venv/bin/python tests/bench/bench_webhook_parts.py [--rounds 5000]``
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from aiohttp import web
from twilio.request_validator import RequestValidator

from helpline import appkeys
from helpline.channels.twilio.params import InboundMessage
from helpline.channels.twilio.signature import parse_form
from helpline.clock import SystemClock
from helpline.inbox.service import Arrival
from helpline.privacy.addresses import parse_address
from helpline.settings import DEVELOPMENT_AUTH_TOKEN

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # ``tests`` when run as a file
from tests.bench import bench_sms as sms
from tests.bench.bench_inbox import started_app

URL = "http://127.0.0.1:8080"


def cpu_us(step: Callable[[], object], rounds: int) -> float:
    """Return the mean CPU microseconds of ``step``."""
    step()  # warm caches
    started = time.process_time()
    for _ in range(rounds):
        step()
    return (time.process_time() - started) / rounds * 1e6


async def commit_us(app: web.Application, batch: int, rounds: int) -> float:
    """Return the CPU microseconds per text of storing ``batch`` texts at once."""
    inbox, now = app[appkeys.INBOX], SystemClock().now()
    texts = itertools.cycle(sms.BODIES)
    started = time.process_time()
    for _ in range(max(1, rounds // batch)):
        await asyncio.gather(*(
            inbox.store(Arrival(provider_sid="SM" + uuid.uuid4().hex, sender="+447700900123",
                                text=next(texts), received_at=now)) for _ in range(batch)))
    return (time.process_time() - started) / (max(1, rounds // batch) * batch) * 1e6


async def bench(rounds: int, tmp: Path) -> None:
    """Time each step and print the table."""
    async with started_app(f"sqlite+aiosqlite:///{tmp / 'helpline.db'}", tmp) as app:
        body, headers = sms.signed_requests(1, URL, 1000)[0]
        form = parse_form(body)
        params = InboundMessage.model_validate(dict(form))
        address = parse_address(params.from_)
        validator = RequestValidator(DEVELOPMENT_AUTH_TOKEN)
        keys, lexicon = app[appkeys.KEYS], app[appkeys.TRIAGE].lexicon
        texts = itertools.cycle(sms.BODIES)
        bare = {
            "parse the form": cpu_us(lambda: parse_form(body), rounds),
            "check the signature": cpu_us(lambda: validator.validate(
                URL + sms.PATH, form, headers["X-Twilio-Signature"]), rounds),
        }
        service = {
            "validate the parameters": cpu_us(
                lambda: InboundMessage.model_validate(dict(form)), rounds),
            "(writer) normalise the number": cpu_us(lambda: parse_address(params.from_), rounds),
            "(writer) rate urgency (lexicon)": cpu_us(lambda: lexicon.assess(next(texts)), rounds),
            "(writer) pseudonym (HMAC)": cpu_us(lambda: keys.pseudonyms.pseudonym(address.e164),
                                       rounds),
        }
        encrypt = cpu_us(lambda: (keys.cipher.encrypt(address.twilio),
                                  keys.cipher.encrypt(params.body)), rounds)
        commits = {size: await commit_us(app, size, rounds) for size in (1, 10, 50)}
    print(f"{'step':<34}{'CPU µs':>8}  bare handler too")
    for name, value in bare.items():
        print(f"{name:<34}{value:>8.1f}  yes")
    for name, value in service.items():
        print(f"{name:<34}{value:>8.1f}")
    for size, value in commits.items():
        print(f"{f'store in the inbox, {size} at once':<34}{value:>8.1f}")
    print(f"  of which (writer) encrypting number and text {encrypt:.1f}, and the three "
          "(writer) steps above")
    own = service["validate the parameters"]
    print(f"\nbare steps {sum(bare.values()):.0f} µs; the webhook's own steps {own:.0f} µs "
          f"+ storing {commits[50]:.0f}-{commits[1]:.0f} µs a text, the writer's steps "
          "included (aiohttp's own work, the same for both, comes on top)")


def main() -> int:
    """Parse arguments and run in a throw-away directory."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(bench(args.rounds, Path(tmp)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
