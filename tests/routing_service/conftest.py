"""Fixtures for routing through the whole service: volunteers, a rota, a texter."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from helpline import appkeys
from helpline.app import create_app
from helpline.clock import FrozenClock
from helpline.outbox.providers import LoopbackProvider
from helpline.settings import Settings
from helpline.triage.lexicon import RiskLexicon
from helpline.users.models import User
from helpline.users.service import create_user
from tests.service.helpers import OPEN_TIME, Texter

# Page phones of volunteers, from the UK drama range like every test number.
PHONES = {"vol-amira": "+447700900201", "vol-ben": "+447700900202",
          "vol-chen": "+447700900203", "sup-dana": "+447700900204"}
ROTA = """\
timezone: Europe/London
tiers:
  first_line:
    shifts:
      - {days: [mon, tue, wed, thu, fri, sat, sun], start: "00:00", end: "00:00",
         people: [vol-amira]}
  second_line:
    shifts:
      - {days: [mon, tue, wed, thu, fri, sat, sun], start: "00:00", end: "00:00",
         people: [vol-ben]}
  supervisor:
    shifts:
      - {days: [mon, tue, wed, thu, fri, sat, sun], start: "00:00", end: "00:00",
         people: [sup-dana]}
"""


def write_rota(directory: Path) -> Path:
    """Write a rota with one person per tier around the clock; return its path."""
    path = directory / "rota.yaml"
    path.write_text(ROTA)
    return path


@pytest.fixture
def clock() -> FrozenClock:
    """Return a clock set to opening hours."""
    return FrozenClock(OPEN_TIME)


@pytest.fixture
def routing_settings(settings: Settings, tmp_path: Path) -> Settings:
    """Return settings with the test rota."""
    return settings.model_copy(update={"rota_file": write_rota(tmp_path)})


@pytest.fixture
async def client(aiohttp_client: Any, routing_settings: Settings, clock: FrozenClock,
                 loopback: LoopbackProvider, lexicon: RiskLexicon) -> TestClient:
    """Return the real app with the test rota; workers driven by the test."""
    app = create_app(routing_settings, clock=clock, provider=loopback, lexicon=lexicon,
                     run_workers=False)
    return await aiohttp_client(app)


@pytest.fixture
async def staff(client: TestClient, clock: FrozenClock) -> dict[str, User]:
    """Create the volunteers of the rota, with page phones, available."""
    app = client.app
    keys = app[appkeys.KEYS]
    users = {}
    async with app[appkeys.DB].transaction() as session:
        for login, phone in PHONES.items():
            user = await create_user(
                session, login=login, role="supervisor" if login.startswith("sup") else
                "volunteer", now=clock.now(), cipher=keys.cipher, pseudonyms=keys.pseudonyms,
                phone=phone)
            user.availability = "available"
            users[login] = user
    return users


@pytest.fixture
def texter(client: TestClient, loopback: LoopbackProvider, clock: FrozenClock) -> Texter:
    """Return a young person texting the app."""
    return Texter(client, loopback, clock)
