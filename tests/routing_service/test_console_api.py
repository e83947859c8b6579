"""Console APIs: the alarm list, taking an alert, and a supervisor's audited reveal."""

from __future__ import annotations

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from helpline import appkeys
from helpline.audit.models import AuditEvent
from helpline.users.models import User
from helpline.users.service import create_user
from tests.service.helpers import Texter

PASSWORD = "a long enough password"


async def sign_in(client: TestClient, login: str, role: str) -> User:
    """Create a user, sign them in on ``client`` and return them."""
    app = client.app
    keys = app[appkeys.KEYS]
    async with app[appkeys.DB].transaction() as session:
        user = await create_user(session, login=login, role=role,
                                 now=app[appkeys.CLOCK].now(), cipher=keys.cipher,
                                 pseudonyms=keys.pseudonyms, password=PASSWORD)
    response = await client.post("/api/login", json={"login": login, "password": PASSWORD})
    client.session.cookie_jar.update_cookies(
        {"helpline_session": response.cookies["helpline_session"].value})
    return user


async def urgent_case(texter: Texter) -> None:
    """Have a child in danger text the service."""
    await texter.send("hi")
    await texter.send("no")


async def test_open_alerts_are_listed_and_taken_once(client: TestClient, texter: Texter,
                                                     staff: dict[str, User]) -> None:
    """Test that a volunteer sees the alarm, takes it, and a second take gets 409."""
    await urgent_case(texter)
    await sign_in(client, "vol-console", "volunteer")
    [alert] = (await (await client.get("/api/alerts")).json())["alerts"]
    taken = await client.post(f"/api/alerts/{alert['id']}/ack")
    assert taken.status == 200
    assert (await texter.conversation()).status == "assigned"
    assert (await client.post(f"/api/alerts/{alert['id']}/ack")).status == 409
    assert (await (await client.get("/api/alerts")).json())["alerts"] == []


async def test_manager_cannot_see_alerts(client: TestClient, texter: Texter,
                                         staff: dict[str, User]) -> None:
    """Test that a manager gets 403 on the alarm list."""
    await sign_in(client, "mgr-one", "manager")
    assert (await client.get("/api/alerts")).status == 403


async def test_supervisor_reveals_number_with_reason_audited(client: TestClient,
                                                             texter: Texter,
                                                             staff: dict[str, User]) -> None:
    """Test that a reveal returns the number and audits who, why and when, never the number."""
    await urgent_case(texter)
    supervisor = await sign_in(client, "sup-console", "supervisor")
    conversation = await texter.conversation()
    response = await client.post(f"/api/conversations/{conversation.id}/reveal",
                                 json={"reason": "safeguarding referral to police"})
    assert response.status == 200
    assert (await response.json())["address"] == texter.number
    async with client.app[appkeys.DB].reader() as session:
        event = (await session.execute(select(AuditEvent).where(
            AuditEvent.action == "contact.number_revealed"))).scalar_one()
    assert event.actor == f"user:{supervisor.id}"
    assert event.details == {"reason": "safeguarding referral to police"}


async def test_volunteer_may_not_reveal(client: TestClient, texter: Texter,
                                        staff: dict[str, User]) -> None:
    """Test that a volunteer gets 403 and no number."""
    await urgent_case(texter)
    await sign_in(client, "vol-two", "volunteer")
    conversation = await texter.conversation()
    response = await client.post(f"/api/conversations/{conversation.id}/reveal",
                                 json={"reason": "i would like to call them"})
    assert response.status == 403


async def test_reveal_without_reason_is_refused(client: TestClient, texter: Texter,
                                                staff: dict[str, User]) -> None:
    """Test that a reveal needs a reason."""
    await urgent_case(texter)
    await sign_in(client, "sup-two", "supervisor")
    conversation = await texter.conversation()
    response = await client.post(f"/api/conversations/{conversation.id}/reveal", json={})
    assert response.status == 400
