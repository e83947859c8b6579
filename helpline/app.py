"""The application factory: ``create_app(settings)`` wires every part; nothing runs at import."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any, Protocol, TypeVar

from aiohttp import web
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from helpline import appkeys
from helpline.audit.views import setup_audit_views
from helpline.background import running
from helpline.channels.twilio.signature import TwilioSignature
from helpline.channels.twilio.views import setup_twilio_routes
from helpline.clock import Clock, SystemClock
from helpline.console.auth import setup_auth
from helpline.console.views import setup_console_api
from helpline.conversations.service import ConversationService, Inbound, Responder
from helpline.db import Database
from helpline.dev.views import setup_dev_pages
from helpline.errors import setup_errors
from helpline.health import setup_health
from helpline.inbox.service import Inbox
from helpline.inbox.worker import InboxWorker
from helpline.jobs.models import Job
from helpline.jobs.runner import Handler, JobRunner
from helpline.keys import load_keys
from helpline.migrate import current_revision, head_revision
from helpline.outbox.providers import LoopbackProvider, Provider, TwilioProvider
from helpline.outbox.sender import OutboxSender
from helpline.outbox.service import Outbox
from helpline.privacy.retention import PURGE_JOB, close_inactive, purge, schedule_next
from helpline.routing.alerts import ALERT_STEP, REPLY_CHECK, AlertService
from helpline.routing.commands import VolunteerCommands
from helpline.routing.escalation import EscalationConfig
from helpline.routing.hours import OpeningHours
from helpline.routing.queue import TARGET_CHECK, Queue
from helpline.routing.rota import Rota
from helpline.settings import RetentionSettings, Settings
from helpline.triage.flows.engine import FlowEngine
from helpline.triage.flows.loader import FlowRegistry, watch
from helpline.triage.lexicon import RiskLexicon
from helpline.triage.priority import Priority
from helpline.triage.responder import FLOW_TIMER, TriageResponder, flow_timer_handler

log = logging.getLogger(__name__)

FORGET_SECONDS = 60.0  # how often what texts left in memory is let go (_forget_old_texts)


class Worker(Protocol):
    """A background worker: ``run`` loops until cancelled."""

    async def run(self) -> None:
        """Work until cancelled."""
        ...


W = TypeVar("W", bound=Worker)


class SchemaNotReady(RuntimeError):
    """The database is not at the newest migration."""


async def freeze_after_startup(_app: web.Application) -> None:
    """Keep what startup built (lexicon, flows, mappers) out of the garbage collector's scans.

    For long-running processes only (``serve``, ``worker``). A full collection walked
    every one of those objects: measured under ``bench_sms.py``, it stopped the loop for
    about 100 ms twice a run, right in the webhook's p99; frozen, the longest was 9 ms.
    """
    gc.collect()
    gc.freeze()


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    provider: Provider | None = None,
    responder: Responder | None = None,
    lexicon: RiskLexicon | None = None,
    run_workers: bool = True,
) -> web.Application:
    """Build the web application; resources open and close with its lifecycle.

    ``clock``, ``provider``, ``responder`` and an already loaded ``lexicon`` may be passed
    in (tests, the simulator); ``run_workers=False`` leaves the sender and job runner to
    be driven by hand with ``run_once()``.
    """
    app = web.Application(client_max_size=256 * 1024)
    keys = load_keys(settings)
    app[appkeys.SETTINGS] = settings
    app[appkeys.CLOCK] = clock or SystemClock()
    app[appkeys.KEYS] = keys
    app[appkeys.OUTBOX] = Outbox(cipher=keys.cipher)
    app[appkeys.JOB_HANDLERS] = []
    app[appkeys.TWILIO_SIGNATURE] = TwilioSignature(
        auth_token=settings.auth_token,
        public_url=settings.public_url,
        trust_proxy_headers=settings.trust_proxy_headers,
    )
    rota = Rota.load(settings.rota_file)
    escalation = EscalationConfig.load(settings.escalation_file, tiers=rota.tiers)
    app[appkeys.QUEUE] = queue = Queue(escalation=escalation)
    app[appkeys.ALERTS] = alerts = AlertService(
        rota=rota, escalation=escalation, queue=queue, outbox=app[appkeys.OUTBOX],
        cipher=keys.cipher)
    app[appkeys.VOLUNTEER_COMMANDS] = VolunteerCommands(alerts=alerts,
                                                        pseudonyms=keys.pseudonyms)
    registry = FlowRegistry.load(settings.flows_dir)
    app[appkeys.FLOWS] = registry
    lexicon = lexicon or RiskLexicon.load(settings.lexicon_dir)
    app[appkeys.INBOX] = Inbox(
        cipher=keys.cipher, pseudonyms=keys.pseudonyms, region=settings.default_region,
        is_urgent=lambda text: lexicon.assess(text).priority is Priority.URGENT,
        flood_rate=settings.inbox_flood_rate)
    app[appkeys.TRIAGE] = triage = TriageResponder(
        engine=FlowEngine(registry),
        lexicon=lexicon,
        hours=OpeningHours.load(settings.opening_hours_file),
        flow_for_channel=settings.flow_for_channel,
        alerts=alerts,
        queue=queue,
    )
    app[appkeys.CONVERSATIONS] = conversations = ConversationService(
        cipher=keys.cipher,
        pseudonyms=keys.pseudonyms,
        outbox=app[appkeys.OUTBOX],
        responder=responder or triage,
    )
    app[appkeys.JOB_HANDLERS].append(lambda _app, runner: _register_jobs(
        runner, flow_timer=flow_timer_handler(triage, conversations), alerts=alerts,
        retention=settings.retention))
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_provider(provider))
    app.cleanup_ctx.append(_background(appkeys.INBOX_WORKER, build_inbox_worker, run_workers))
    app.cleanup_ctx.append(_background(appkeys.SENDER, _build_sender, run_workers))
    app.cleanup_ctx.append(_jobs(run_workers))
    app.cleanup_ctx.append(_forget_old_texts)
    if run_workers:
        app.cleanup_ctx.append(_flow_watcher)
        app.cleanup_ctx.append(_retention_schedule)
    setup_errors(app)
    setup_health(app)
    setup_twilio_routes(app)
    setup_auth(app)
    setup_audit_views(app)
    setup_console_api(app)
    if settings.env == "development" and not settings.twilio_configured:
        setup_dev_pages(app)
    return app


async def _database(app: web.Application) -> AsyncIterator[None]:
    db = Database(app[appkeys.SETTINGS].effective_database_url)
    try:
        current, head = await current_revision(db.engine), head_revision()
        if current != head:
            raise SchemaNotReady(
                f"database is at migration {current or 'none'}, code needs {head}: "
                "run `helpline db upgrade` first"
            )
        app[appkeys.DB] = db
        async with contextlib.AsyncExitStack() as tasks:
            await tasks.enter_async_context(
                running(app[appkeys.INBOX].write_forever(db), "inbox-writer"))
            for checkpointer in db.checkpointers():  # SQLite: the main file and the inbox's
                await tasks.enter_async_context(running(checkpointer.run(), "wal-checkpoint"))
            yield
    finally:
        await db.dispose()


def _provider(given: Provider | None):
    async def provider_ctx(app: web.Application) -> AsyncIterator[None]:
        settings = app[appkeys.SETTINGS]
        provider: Provider
        if given is not None:
            provider = given
        elif settings.twilio_configured:
            provider = TwilioProvider(
                account_sid=settings.twilio_account_sid or "",
                auth_token=settings.auth_token,
                from_number=settings.twilio_from or "",
                whatsapp_from=settings.twilio_whatsapp_from,
                status_callback=f"{settings.public_url}/twilio/status",
                api_url=settings.twilio_api_url,
                timeout=settings.sender.request_timeout_seconds,
            )
        else:
            log.warning("no Twilio credentials: outgoing texts stay on the loopback provider")
            provider = LoopbackProvider(clock=app[appkeys.CLOCK])
        app[appkeys.PROVIDER] = provider
        app[appkeys.LOOPBACK] = provider if isinstance(provider, LoopbackProvider) else None
        try:
            yield
        finally:
            if given is None:
                await provider.close()

    return provider_ctx


def _register_jobs(runner: JobRunner, *, flow_timer: Handler, alerts: AlertService,
                   retention: RetentionSettings) -> None:
    async def purge_and_reschedule(db: Database, job_id: int, now: datetime) -> None:
        await close_inactive(db, policy=retention, now=now)
        await purge(db, policy=retention, now=now)
        async with db.transaction() as session:
            # Free the key, so that the next run can be scheduled under it.
            await session.execute(update(Job).where(Job.id == job_id).values(key=None))
            await schedule_next(session, policy=retention, now=now)

    runner.register(FLOW_TIMER, flow_timer)
    runner.register_own_transactions(PURGE_JOB, purge_and_reschedule)
    runner.register(ALERT_STEP, alerts.on_step)
    runner.register(REPLY_CHECK, alerts.on_reply_check)
    runner.register(TARGET_CHECK, alerts.on_target_check)


def build_inbox_worker(app: web.Application, **options: Any) -> InboxWorker:
    """Build an inbox worker on the app's parts (``options``: ``InboxWorker``'s settings)."""
    commands, conversations = app[appkeys.VOLUNTEER_COMMANDS], app[appkeys.CONVERSATIONS]

    async def handle(session: AsyncSession, inbound: Inbound) -> None:
        # Texts from a volunteer's registered phone are commands, never a conversation.
        if not await commands.handle(session, inbound=inbound):
            await conversations.receive(session, inbound=inbound)

    options.setdefault("flood_share", app[appkeys.SETTINGS].inbox_flood_share)
    return InboxWorker(db=app[appkeys.DB], inbox=app[appkeys.INBOX],
                       cipher=app[appkeys.KEYS].cipher, clock=app[appkeys.CLOCK], handle=handle,
                       **options)


def _build_sender(app: web.Application) -> OutboxSender:
    return OutboxSender(
        db=app[appkeys.DB],
        outbox=app[appkeys.OUTBOX],
        provider=app[appkeys.PROVIDER],
        cipher=app[appkeys.KEYS].cipher,
        clock=app[appkeys.CLOCK],
        settings=app[appkeys.SETTINGS].sender,
    )


def _build_jobs(app: web.Application) -> JobRunner:
    runner = JobRunner(db=app[appkeys.DB], clock=app[appkeys.CLOCK])
    for register in app[appkeys.JOB_HANDLERS]:
        register(app, runner)
    return runner


def _background(key: web.AppKey[W], build: Callable[[web.Application], W], run: bool):
    """Return a cleanup_ctx that builds a worker into ``key`` and runs it unless told not to."""

    async def worker_ctx(app: web.Application) -> AsyncIterator[None]:
        worker = build(app)
        app[key] = worker
        if not run:  # tests drive the worker themselves with run_once()
            yield
            return
        async with running(worker.run(), build.__name__.removeprefix("_build_")):
            yield

    return worker_ctx


def _jobs(run: bool):
    """Return the job runner's cleanup_ctx: as ``_background``, and its long work stopped."""
    background = contextlib.asynccontextmanager(_background(appkeys.JOBS, _build_jobs, run))

    async def jobs_ctx(app: web.Application) -> AsyncIterator[None]:
        try:
            async with background(app):
                yield
        finally:  # once run() is cancelled, or in tests, which call run_once() themselves
            await app[appkeys.JOBS].stop_long_work()

    return jobs_ctx


async def _flow_watcher(app: web.Application) -> AsyncIterator[None]:
    """Reload edited flow files (on change or SIGHUP) without a restart; warm up detection."""
    registry = app[appkeys.FLOWS]
    engine = app[appkeys.TRIAGE].engine
    for flow_id in registry.ids():
        await asyncio.to_thread(engine.guesser.warm_up, registry.get(flow_id).languages)
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError):  # no signals off the main thread
        loop.add_signal_handler(signal.SIGHUP, registry.reload)
    try:
        async with running(watch(registry, interval=app[appkeys.SETTINGS].flow_reload_seconds),
                           "flow-watcher"):
            yield
    finally:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.remove_signal_handler(signal.SIGHUP)


async def _forget_old_texts(app: web.Application) -> AsyncIterator[None]:
    """Every minute, let go of what old texts left in memory, through quiet spells too.

    The lexicon's words, and the inbox's recent senders (a busy line sweeps those anyway).
    """
    lexicon, inbox = app[appkeys.TRIAGE].lexicon, app[appkeys.INBOX]

    async def forget_forever() -> None:
        while True:
            await asyncio.sleep(FORGET_SECONDS)
            lexicon.forget_old_words()
            inbox.forget_expired_senders()

    async with running(forget_forever(), "forget-old-texts"):
        yield


async def _retention_schedule(app: web.Application) -> AsyncIterator[None]:
    """Make sure a retention purge is scheduled (the job reschedules itself after each run)."""
    async with app[appkeys.DB].transaction() as session:
        await schedule_next(session, policy=app[appkeys.SETTINGS].retention,
                            now=app[appkeys.CLOCK].now(), first=True)
    yield
