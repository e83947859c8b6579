"""Fixtures: the routing app (volunteers, rota) for privacy tests across the service."""

from tests.routing_service.conftest import (  # noqa: F401 - fixtures shared on purpose
    client,
    clock,
    routing_settings,
    staff,
    texter,
)
