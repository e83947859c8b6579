"""Texts from a volunteer's registered phone are commands (ACK), never a child's conversation."""

from __future__ import annotations

import logging
import re

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from helpline.audit import service as audit
from helpline.conversations.service import Inbound
from helpline.db import insert_for
from helpline.privacy.pseudonym import Pseudonymizer
from helpline.routing.alerts import AlertService
from helpline.routing.models import OPEN, Alert, AlertPage, VolunteerCommand
from helpline.users.models import User
from helpline.users.service import find_by_phone

log = logging.getLogger(__name__)

ACK = re.compile(r"^\s*(?:ack|take|1)\s*#?\s*(\d+)?\s*[.!]*\s*$", re.IGNORECASE)
HELP = "Reply ACK and the number in the page (e.g. ACK 417) to take an urgent contact."


class VolunteerCommands:
    """Recognise a volunteer by the pseudonym of their phone and carry out their command."""

    def __init__(self, *, alerts: AlertService, pseudonyms: Pseudonymizer) -> None:
        self.alerts = alerts
        self.pseudonyms = pseudonyms

    async def handle(self, session: AsyncSession, *, inbound: Inbound) -> bool:
        """Carry out a volunteer's text; return False if it is not from a volunteer."""
        user = await find_by_phone(session, pseudonyms=self.pseudonyms,
                                   e164=inbound.address.e164)
        if user is None:
            return False
        now = inbound.received_at
        if inbound.provider_sid is not None:
            first = await session.scalar(
                insert_for(session, VolunteerCommand)
                .values(provider_sid=inbound.provider_sid, user_id=user.id, received_at=now)
                .on_conflict_do_nothing().returning(VolunteerCommand.id))
            if first is None:
                return True  # a redelivery of a command already carried out
        match = ACK.match(inbound.text)
        if match is None:
            audit.record(session, at=now, actor=f"user:{user.id}", action="volunteer.sms_unknown",
                         subject_type="user", subject_id=user.id)
            await self.alerts.page_user(session, user=user, text=HELP, now=now)
            return True
        alert_id = int(match[1]) if match[1] else await self._latest_paged(session, user)
        alert = None
        if alert_id is not None:
            alert = await self.alerts.acknowledge(session, alert_id=alert_id, user=user,
                                                  now=now, via="sms")
        if alert is not None:
            answer = f"You have #{alert.id}. Open the console to reply to them now."
        elif alert_id is not None:
            answer = f"#{alert_id} is already taken or closed. Thank you."
        else:
            answer = "No urgent contact is waiting for you. Thank you."
        await self.alerts.page_user(session, user=user, text=answer, now=now)
        return True

    async def _latest_paged(self, session: AsyncSession, user: User) -> int | None:
        return await session.scalar(
            select(Alert.id).join(AlertPage, AlertPage.alert_id == Alert.id)
            .where(AlertPage.user_id == user.id, Alert.status == OPEN)
            .order_by(AlertPage.paged_at.desc(), Alert.id.desc()).limit(1))
