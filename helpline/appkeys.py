"""Typed application keys: the only way handlers reach shared state."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from helpline.channels.twilio.signature import TwilioSignature
    from helpline.clock import Clock
    from helpline.conversations.service import ConversationService
    from helpline.db import Database
    from helpline.keys import KeyRing
    from helpline.outbox.providers import LoopbackProvider, Provider
    from helpline.outbox.sender import OutboxSender
    from helpline.outbox.service import Outbox
    from helpline.settings import Settings

SETTINGS = web.AppKey("settings", "Settings")
CLOCK = web.AppKey("clock", "Clock")
DB = web.AppKey("db", "Database")
KEYS = web.AppKey("keys", "KeyRing")
OUTBOX = web.AppKey("outbox", "Outbox")
PROVIDER = web.AppKey("provider", "Provider")
LOOPBACK = web.AppKey("loopback", "LoopbackProvider | None")
SENDER = web.AppKey("sender", "OutboxSender")
CONVERSATIONS = web.AppKey("conversations", "ConversationService")
TWILIO_SIGNATURE = web.AppKey("twilio_signature", "TwilioSignature")
