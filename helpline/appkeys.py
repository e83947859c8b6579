"""Typed application keys: the only way handlers reach shared state."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from helpline.channels.twilio.signature import TwilioSignature
from helpline.clock import Clock
from helpline.conversations.service import ConversationService
from helpline.db import Database
from helpline.inbox.service import Inbox
from helpline.inbox.worker import InboxWorker
from helpline.jobs.runner import JobRunner
from helpline.keys import KeyRing
from helpline.outbox.providers import LoopbackProvider, Provider
from helpline.outbox.sender import OutboxSender
from helpline.outbox.service import Outbox
from helpline.routing.alerts import AlertService
from helpline.routing.commands import VolunteerCommands
from helpline.routing.queue import Queue
from helpline.settings import Settings
from helpline.triage.flows.loader import FlowRegistry
from helpline.triage.responder import TriageResponder

SETTINGS = web.AppKey("settings", Settings)
CLOCK = web.AppKey("clock", Clock)
DB = web.AppKey("db", Database)
KEYS = web.AppKey("keys", KeyRing)
OUTBOX = web.AppKey("outbox", Outbox)
PROVIDER = web.AppKey("provider", Provider)
LOOPBACK = web.AppKey("loopback", LoopbackProvider | None)
SENDER = web.AppKey("sender", OutboxSender)
JOBS = web.AppKey("jobs", JobRunner)
# Domain set-up functions append here to register their job handlers once the runner exists.
JOB_HANDLERS = web.AppKey("job_handlers", list[Callable[[web.Application, JobRunner], None]])
CONVERSATIONS = web.AppKey("conversations", ConversationService)
TWILIO_SIGNATURE = web.AppKey("twilio_signature", TwilioSignature)
FLOWS = web.AppKey("flows", FlowRegistry)
TRIAGE = web.AppKey("triage", TriageResponder)
QUEUE = web.AppKey("queue", Queue)
ALERTS = web.AppKey("alerts", AlertService)
VOLUNTEER_COMMANDS = web.AppKey("volunteer_commands", VolunteerCommands)
INBOX = web.AppKey("inbox", Inbox)
INBOX_WORKER = web.AppKey("inbox_worker", InboxWorker)
