"""Fixtures for whole-service tests."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient

from helpline.clock import FrozenClock
from helpline.outbox.providers import LoopbackProvider
from tests.service.helpers import OPEN_TIME, Texter


@pytest.fixture
def clock() -> FrozenClock:
    """Return a clock set to opening hours."""
    return FrozenClock(OPEN_TIME)


@pytest.fixture
def texter(client: TestClient, loopback: LoopbackProvider, clock: FrozenClock) -> Texter:
    """Return a texter talking to the real app."""
    return Texter(client, loopback, clock)
