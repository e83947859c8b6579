"""``helpline simulate``: text a flow from the terminal, through the real conversation service."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import secrets
import sys
import tempfile
from datetime import datetime
from pathlib import Path

from aiohttp import web

from helpline import appkeys
from helpline.app import create_app
from helpline.clock import FrozenClock, SystemClock
from helpline.conversations.models import Conversation
from helpline.conversations.service import Inbound
from helpline.keys import generate_encryption_key, generate_pseudonym_key
from helpline.logs import setup_logging
from helpline.migrate import upgrade_sync
from helpline.outbox.providers import LoopbackProvider
from helpline.privacy.addresses import parse_address
from helpline.settings import load_settings

SIMULATED_NUMBER = "+447700900001"  # UK drama range
HELP = "Type what a young person would text. /wait SECONDS lets time pass; /quit ends."


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``simulate`` command."""
    parser = subparsers.add_parser(
        "simulate", help="text a triage flow from the terminal (no HTTP, no Twilio)",
        description="Chat with a flow as a young person would. Reads one message per line; "
                    "when stdin is not a terminal, prints each reply and finally one JSON "
                    "line with the conversation's priority, flags and results.",
    )
    parser.add_argument("--flow", help="flow id to run (default: the channel's flow)")
    parser.add_argument("--lang", help="language code to start in (default: detected)")
    parser.add_argument("--channel", default="sms", choices=("sms", "whatsapp"),
                        help="channel to simulate (default: sms)")
    parser.add_argument("--at", type=datetime.fromisoformat, metavar="TIME",
                        help="pretend it is this ISO time, e.g. 2026-01-05T03:00+00:00")
    parser.set_defaults(func=simulate)


def simulate(args: argparse.Namespace) -> int:
    """Run the simulation; exit 0, or 2 when the flow is unknown."""
    setup_logging("WARNING")  # to stderr, redacted like the service's logs
    logging.getLogger("helpline.keys").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="helpline-simulate-") as tmp:
        return asyncio.run(_simulate(args, Path(tmp)))


async def _simulate(args: argparse.Namespace, tmp: Path) -> int:
    settings = load_settings(
        args.config, env="development", var_dir=tmp, database_url=f"sqlite:///{tmp}/sim.db",
        encryption_keys=generate_encryption_key(), pseudonym_keys=generate_pseudonym_key(1),
        twilio_account_sid=None, twilio_auth_token=None, twilio_from=None,
    )
    await asyncio.to_thread(upgrade_sync, settings.effective_database_url)
    clock = FrozenClock(args.at or SystemClock().now())
    loopback = LoopbackProvider(clock=clock)
    app = create_app(settings, clock=clock, provider=loopback, run_workers=False)
    triage = app[appkeys.TRIAGE]
    if args.flow:
        if args.flow not in app[appkeys.FLOWS].ids():
            print(f"helpline: no flow {args.flow!r}; known: {', '.join(app[appkeys.FLOWS].ids())}",
                  file=sys.stderr)
            return 2
        triage.flow_for_channel = {**triage.flow_for_channel, args.channel: args.flow}
    triage.forced_language = args.lang
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        return await _chat(app, args.channel, clock, loopback)
    finally:
        await runner.cleanup()


async def _chat(app: web.Application, channel: str, clock: FrozenClock,
                loopback: LoopbackProvider) -> int:
    interactive = sys.stdin.isatty()
    address = parse_address(("whatsapp:" if channel == "whatsapp" else "") + SIMULATED_NUMBER)
    shown = 0
    if interactive:
        print(HELP)
    while True:
        if interactive:
            print("you> ", end="", flush=True)
        line = await asyncio.to_thread(sys.stdin.readline)
        if not line:
            break
        text = line.rstrip("\n")
        if text.strip() == "/quit":
            break
        if text.startswith("/wait"):
            clock.advance(float(text.split()[1]) if len(text.split()) > 1 else 60)
            await app[appkeys.JOBS].run_once()
        elif text.strip():
            inbound = Inbound(address=address, text=text, received_at=clock.now(),
                              provider_sid="SMsim" + secrets.token_hex(13))
            async with app[appkeys.DB].transaction() as session:
                await app[appkeys.CONVERSATIONS].receive(session, inbound=inbound)
        await app[appkeys.SENDER].run_once()
        for sent in list(loopback.sent)[shown:]:
            print(f"helpline> {sent.body}" if interactive else sent.body, flush=True)
        shown = len(loopback.sent)
    summary = await _summary(app)
    print(json.dumps(summary, ensure_ascii=False) if not interactive else
          f"-- {json.dumps(summary, ensure_ascii=False)}")
    return 0


async def _summary(app: web.Application) -> dict[str, object]:
    from sqlalchemy import select

    async with app[appkeys.DB].reader() as session:
        conversation = (await session.execute(
            select(Conversation).order_by(Conversation.id.desc()).limit(1)
        )).scalar_one_or_none()
    if conversation is None:
        return {"priority": None, "flags": [], "results": {}}
    return {
        "priority": conversation.priority,
        "status": conversation.status,
        "flags": conversation.flags,
        "results": conversation.results,
        "language": conversation.language,
        "flow": conversation.flow_id,
        "flow_version": conversation.flow_version,
    }
