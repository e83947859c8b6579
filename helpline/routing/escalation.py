"""The escalation chain and first-reply targets, from ``config/escalation.yaml``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from helpline.configfile import read_yaml_model
from helpline.triage.priority import Priority


class EscalationError(ValueError):
    """The escalation file is wrong; the message names the file and the field."""


def _seconds(value: Any) -> Any:
    """Accept 90, "90s", "2m" or "1h" as a number of seconds."""
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(\d+)\s*([smh]?)\s*", value)
        if not match:
            raise ValueError(f"{value!r} is not a duration like 90s, 2m or 1h")
        return int(match[1]) * {"": 1, "s": 1, "m": 60, "h": 3600}[match[2]]
    return value


Seconds = Annotated[int, BeforeValidator(_seconds), Field(ge=1, le=86_400)]


def _tiers(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


Tiers = Annotated[list[str], BeforeValidator(_tiers), Field(min_length=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PageStep(_Strict):
    """Page everyone on call in these tiers."""

    page: Tiers


class WaitStep(_Strict):
    """Wait before the next step."""

    wait: Seconds


class FinalStep(_Strict):
    """What happens when the chain has run ``repeat`` times without an acknowledgement."""

    page: Tiers


class Chain(_Strict):
    """The part of the configuration copied into each alert when it opens."""

    steps: list[PageStep | WaitStep] = Field(min_length=1)
    repeat: int = Field(3, ge=1, le=20)
    final: FinalStep | None = None


class EscalationConfig(_Strict):
    """Everything routing reads from the escalation file."""

    chain: Chain
    reply_within: Seconds = 300
    targets: dict[Priority, Seconds] = Field(
        default_factory=lambda: {Priority.URGENT: 120, Priority.HIGH: 600,
                                 Priority.STANDARD: 1800})

    @classmethod
    def load(cls, path: Path, *, tiers: tuple[str, ...] | None = None) -> EscalationConfig:
        """Read and check the file; every tier it pages must exist in ``tiers``."""
        config = read_yaml_model(path, cls, EscalationError)
        if tiers is not None:
            for step in [*config.chain.steps, *([config.chain.final] if config.chain.final
                                                else [])]:
                for tier in getattr(step, "page", []):
                    if tier not in tiers:
                        raise EscalationError(
                            f"{path}: pages tier {tier!r}, which the rota does not have "
                            f"(tiers: {', '.join(tiers)})")
        return config

    def target_for(self, priority: str) -> int:
        """Return the first-reply target in seconds for a priority."""
        return self.targets.get(Priority(priority), self.targets.get(Priority.STANDARD, 1800))
