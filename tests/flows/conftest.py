"""Fixtures for flow tests: the shipped flows and an engine that runs them."""

from __future__ import annotations

import pytest

from helpline.triage.flows.engine import FlowEngine
from helpline.triage.flows.language import LanguageGuesser
from helpline.triage.flows.loader import FlowRegistry
from tests.flows.helpers import SHIPPED


@pytest.fixture(scope="session")
def guesser() -> LanguageGuesser:
    """Share one language detector: building it once is the point."""
    return LanguageGuesser()


@pytest.fixture(scope="session")
def shipped() -> FlowRegistry:
    """Load the flows shipped in ``flows/``."""
    return FlowRegistry.load(SHIPPED)


@pytest.fixture
def engine(shipped: FlowRegistry, guesser: LanguageGuesser) -> FlowEngine:
    """Return an engine over the shipped flows."""
    return FlowEngine(shipped, guesser=guesser)
