"""Urgent alerts: page on call, escalate on durable timers, stop at acknowledgement."""

from __future__ import annotations

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from helpline import appkeys
from helpline.conversations.models import Conversation
from helpline.db import Database
from helpline.routing.models import Alert
from helpline.routing.replies import reply_as_volunteer
from helpline.users.models import User
from tests.routing_service.conftest import PHONES
from tests.service.helpers import Texter


def pages_to(texter: Texter, login: str) -> list[str]:
    """Return the texts the loopback delivered to a volunteer's phone."""
    masked_end = PHONES[login][-3:]
    return [t.body for t in texter.loopback.sent if t.to_masked.endswith(masked_end)
            and t.to_masked.startswith("•")]


async def make_urgent(texter: Texter) -> None:
    """Text the service as a child in danger and deliver everything queued."""
    await texter.send("hi")
    await texter.send("no")


async def alert_of(db: Database) -> Alert:
    """Return the only alert."""
    async with db.reader() as session:
        return (await session.execute(select(Alert))).scalar_one()


async def run_jobs_after(texter: Texter, seconds: float) -> None:
    """Let time pass, fire due jobs and deliver what they queued."""
    texter.clock.advance(seconds)
    await texter.client.app[appkeys.JOBS].run_once()
    await texter.client.app[appkeys.JOBS].long_work_done()  # a purge runs in a task of its own
    await texter.received()


async def volunteer_texts(texter: Texter, login: str, text: str,
                          sid: str | None = None) -> None:
    """Text the service from a volunteer's page phone."""
    response = await texter.webhooks.sms(text, sender=PHONES[login], sid=sid)
    assert response.status == 200
    await texter.received()


async def test_urgent_case_pages_first_tier_without_content(texter: Texter,
                                                            staff: dict[str, User]) -> None:
    """Test that an urgent case pages the first tier at once, with no words of the child."""
    await make_urgent(texter)
    alert = await alert_of(texter.db)
    [page] = pages_to(texter, "vol-amira")
    assert page == f"Urgent contact waiting (#{alert.id}). Reply ACK {alert.id} to take it."
    assert pages_to(texter, "vol-ben") == []


async def test_escalates_to_second_tier_after_the_wait(texter: Texter,
                                                      staff: dict[str, User]) -> None:
    """Test that without acknowledgement the second tier is paged after two minutes."""
    await make_urgent(texter)
    await run_jobs_after(texter, 60)
    assert pages_to(texter, "vol-ben") == []
    await run_jobs_after(texter, 61)
    assert len(pages_to(texter, "vol-ben")) == 1
    assert len(pages_to(texter, "vol-amira")) == 2


async def test_ack_by_sms_stops_escalation_and_assigns(texter: Texter,
                                                       staff: dict[str, User]) -> None:
    """Test that 'ACK 417' from the paged phone assigns the case and stops the pages."""
    await make_urgent(texter)
    alert = await alert_of(texter.db)
    await volunteer_texts(texter, "vol-amira", f"ack {alert.id}")
    assert pages_to(texter, "vol-amira")[-1].startswith(f"You have #{alert.id}")
    conversation = await texter.conversation()
    assert (conversation.status, conversation.assigned_to) == ("assigned",
                                                                staff["vol-amira"].id)
    await run_jobs_after(texter, 290)  # within the five minutes the volunteer has to reply
    assert pages_to(texter, "vol-ben") == []
    assert (await alert_of(texter.db)).status == "acknowledged"


async def test_bare_one_acknowledges_the_latest_page(texter: Texter,
                                                     staff: dict[str, User]) -> None:
    """Test that replying '1' acknowledges the alert the volunteer was last paged for."""
    await make_urgent(texter)
    await volunteer_texts(texter, "vol-amira", "1")
    assert (await alert_of(texter.db)).acknowledged_by == staff["vol-amira"].id


async def test_volunteer_texts_are_never_a_conversation(texter: Texter,
                                                       staff: dict[str, User]) -> None:
    """Test that a text from a registered volunteer phone opens no conversation."""
    await volunteer_texts(texter, "vol-ben", "hello?")
    async with texter.db.reader() as session:
        assert (await session.execute(select(Conversation))).first() is None
    assert "ACK" in pages_to(texter, "vol-ben")[-1]


async def test_ack_from_unknown_number_is_a_normal_contact(texter: Texter,
                                                          staff: dict[str, User]) -> None:
    """Test that ACK from a number no volunteer registered is treated as a young person."""
    await make_urgent(texter)
    alert = await alert_of(texter.db)
    stranger = Texter(texter.client, texter.loopback, texter.clock, number="+447700900666")
    replies = await stranger.send(f"ACK {alert.id}")
    assert any("safe right now" in r.lower() for r in replies)
    assert (await alert_of(texter.db)).status == "open"


async def test_redelivered_ack_is_carried_out_once(texter: Texter,
                                                   staff: dict[str, User]) -> None:
    """Test that the same ACK delivered twice sends one confirmation."""
    await make_urgent(texter)
    alert = await alert_of(texter.db)
    for _ in range(2):
        await volunteer_texts(texter, "vol-amira", f"ACK {alert.id}", sid="SM" + "5" * 32)
    confirmations = [p for p in pages_to(texter, "vol-amira") if p.startswith("You have")]
    assert len(confirmations) == 1


async def test_second_ack_is_told_it_is_taken(texter: Texter, staff: dict[str, User]) -> None:
    """Test that a later ACK from another volunteer is told the case is taken."""
    await make_urgent(texter)
    await run_jobs_after(texter, 121)
    alert = await alert_of(texter.db)
    await volunteer_texts(texter, "vol-amira", f"ACK {alert.id}")
    await volunteer_texts(texter, "vol-ben", f"ACK {alert.id}")
    assert "already taken" in pages_to(texter, "vol-ben")[-1]
    assert (await alert_of(texter.db)).acknowledged_by == staff["vol-amira"].id


async def test_no_reply_after_ack_reopens_and_escalates(texter: Texter,
                                                        staff: dict[str, User]) -> None:
    """Test that an ACK with no reply to the child within 5 minutes re-opens the alert."""
    await make_urgent(texter)
    alert = await alert_of(texter.db)
    await volunteer_texts(texter, "vol-amira", f"ACK {alert.id}")
    await run_jobs_after(texter, 301)
    reopened = await alert_of(texter.db)
    assert reopened.status == "open"
    assert (await texter.conversation()).status == "queued"
    await run_jobs_after(texter, 121)
    assert pages_to(texter, "vol-ben")  # escalation resumed


async def test_reply_after_ack_resolves_the_alert(client: TestClient, texter: Texter,
                                                  staff: dict[str, User]) -> None:
    """Test that the volunteer's first reply to the child resolves the alert."""
    await make_urgent(texter)
    alert = await alert_of(texter.db)
    await volunteer_texts(texter, "vol-amira", f"ACK {alert.id}")
    app = client.app
    async with app[appkeys.DB].transaction() as session:
        conversation = await session.get_one(Conversation, (await texter.conversation()).id)
        user = await session.get_one(User, staff["vol-amira"].id)
        await reply_as_volunteer(session, service=app[appkeys.CONVERSATIONS],
                                 alerts=app[appkeys.ALERTS], conversation=conversation,
                                 user=user, text="I'm here. Are you somewhere safe?",
                                 now=texter.clock.now())
    assert (await alert_of(texter.db)).status == "resolved"
    assert any("I'm here" in r for r in await texter.received())
    await run_jobs_after(texter, 600)
    assert (await alert_of(texter.db)).status == "resolved"


async def test_escalation_continues_after_a_restart(client: TestClient, texter: Texter,
                                                    staff: dict[str, User],
                                                    routing_settings: object,
                                                    aiohttp_client: object) -> None:
    """Test that a new process picks up the escalation where the old one stopped."""
    from helpline.app import create_app
    from helpline.outbox.providers import LoopbackProvider

    await make_urgent(texter)
    await client.close()  # the first process is gone mid-escalation
    loopback = LoopbackProvider(clock=texter.clock)
    restarted = await aiohttp_client(create_app(  # type: ignore[operator]
        routing_settings, clock=texter.clock, provider=loopback,
        lexicon=client.app[appkeys.TRIAGE].lexicon, run_workers=False))
    texter.clock.advance(121)
    await restarted.app[appkeys.JOBS].run_once()
    await restarted.app[appkeys.JOBS].long_work_done()  # a purge runs in a task of its own
    await restarted.app[appkeys.SENDER].run_once()
    assert [t.body for t in loopback.sent if t.to_masked.endswith("202")]


async def test_editing_the_chain_does_not_change_alerts_in_flight(
        texter: Texter, staff: dict[str, User]) -> None:
    """Test that the chain is a snapshot: changing the config leaves the open alert alone."""
    await make_urgent(texter)
    alerts = texter.client.app[appkeys.ALERTS]
    original = alerts.escalation
    alerts.escalation = original.model_copy(
        update={"chain": original.chain.model_copy(update={"steps": original.chain.steps[:1],
                                                            "repeat": 1})})
    await run_jobs_after(texter, 121)
    assert len(pages_to(texter, "vol-ben")) == 1


async def test_every_step_is_audited(texter: Texter, staff: dict[str, User]) -> None:
    """Test that opening, paging, escalation and acknowledgement are audit events."""
    await make_urgent(texter)
    alert = await alert_of(texter.db)
    await run_jobs_after(texter, 121)
    await volunteer_texts(texter, "vol-ben", f"ACK {alert.id}")
    actions = await texter.audit_actions()
    for action in ("alert.opened", "alert.paged", "alert.escalation_step",
                   "alert.acknowledged"):
        assert action in actions


async def test_volunteer_can_raise_a_case_to_urgent(client: TestClient, texter: Texter,
                                                    staff: dict[str, User]) -> None:
    """Test that a volunteer's judgement makes a case urgent and pages on call."""
    await texter.send("hi")
    await texter.send("talk to someone")
    app = client.app
    async with app[appkeys.DB].transaction() as session:
        conversation = await session.get_one(Conversation, (await texter.conversation()).id)
        user = await session.get_one(User, staff["vol-chen"].id)
        await app[appkeys.ALERTS].raise_by_volunteer(session, conversation=conversation,
                                                     user=user, now=texter.clock.now())
    await texter.received()
    assert (await texter.conversation()).priority == "urgent"
    assert (await alert_of(texter.db)).source == "volunteer"
    assert pages_to(texter, "vol-amira")
    assert "conversation.priority_raised" in await texter.audit_actions()
