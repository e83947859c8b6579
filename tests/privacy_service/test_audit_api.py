"""``GET /api/audit``: supervisors and admins read it; volunteers and managers get 403."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient

from helpline import appkeys
from helpline.users.service import create_user

PASSWORD = "a long enough password"


async def signed_in(client: TestClient, role: str) -> TestClient:
    """Create a user with ``role``, sign in, and return the client holding the cookie."""
    app = client.app
    keys = app[appkeys.KEYS]
    async with app[appkeys.DB].transaction() as session:
        await create_user(session, login=f"{role}-one", role=role,
                          now=app[appkeys.CLOCK].now(), cipher=keys.cipher,
                          pseudonyms=keys.pseudonyms, password=PASSWORD)
    response = await client.post("/api/login", json={"login": f"{role}-one",
                                                     "password": PASSWORD})
    assert response.status == 200
    # The cookie is Secure (the public URL is https); hand it over for the plain test server.
    client.session.cookie_jar.update_cookies(
        {"helpline_session": response.cookies["helpline_session"].value})
    return client


async def test_signed_out_gets_401(client: TestClient) -> None:
    """Test that the audit log needs a signed-in user."""
    assert (await client.get("/api/audit")).status == 401


@pytest.mark.parametrize("role", ["volunteer", "manager"])
async def test_volunteers_and_managers_get_403(client: TestClient, role: str) -> None:
    """Test that volunteers and managers may not read the audit log."""
    await signed_in(client, role)
    assert (await client.get("/api/audit")).status == 403


@pytest.mark.parametrize("role", ["supervisor", "admin"])
async def test_supervisors_and_admins_read_it_and_are_audited(client: TestClient,
                                                              role: str) -> None:
    """Test that supervisors and admins read the log, and that reading it is an event."""
    await signed_in(client, role)
    first = await (await client.get("/api/audit")).json()
    assert [e["action"] for e in first["events"]][:1] == ["user.login"]
    second = await (await client.get("/api/audit?limit=1")).json()
    assert second["events"][0]["action"] == "audit.viewed"


async def test_wrong_password_is_refused_and_audited(client: TestClient) -> None:
    """Test that a wrong password gets 401 and a login_failed event."""
    await signed_in(client, "supervisor")
    response = await client.post("/api/login", json={"login": "supervisor-one",
                                                     "password": "wrong"})
    assert response.status == 401
    events = await (await client.get("/api/audit?action=user.login_failed")).json()
    assert len(events["events"]) == 1


async def test_logout_ends_the_session(client: TestClient) -> None:
    """Test that after logout the cookie no longer opens the audit log."""
    await signed_in(client, "admin")
    token = client.session.cookie_jar.filter_cookies(client.make_url("/"))["helpline_session"]
    await client.post("/api/logout")
    client.session.cookie_jar.update_cookies({"helpline_session": token.value})
    assert token.value
    assert (await client.get("/api/audit")).status == 401


async def test_bad_login_body_gets_400(client: TestClient) -> None:
    """Test that a login without JSON gets a 400 with a reason."""
    response = await client.post("/api/login", data="login=x")
    assert response.status == 400
    assert "JSON" in await response.text()
