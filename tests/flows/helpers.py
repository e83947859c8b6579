"""Build small flow files for tests."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

SHIPPED = Path(__file__).resolve().parents[2] / "flows"

TINY: dict[str, Any] = {
    "id": "tiny",
    "version": 1,
    "type": "messaging",
    "default_language": "en",
    "languages": {"en": "English", "ar": "العربية"},
    "start": "ask",
    "nodes": {
        "ask": {
            "ask": {"en": "Question?", "ar": "سؤال؟"},
            "save_as": {"result": "answer"},
            "timeout": {
                "reminder_after": 60,
                "reminder": {"en": "Still there?", "ar": "هل ما زلت هنا؟"},
                "expire_after": 300,
                "goto": "bye",
            },
            "cases": [{"means": "yes", "value": "yes", "goto": "bye"}],
            "other": {"goto": "bye", "value": "other"},
        },
        "bye": {"end": {"en": "Bye.", "ar": "مع السلامة."}},
    },
}


def tiny(**changes: Any) -> dict[str, Any]:
    """Return a copy of the tiny valid flow with top-level ``changes``."""
    flow = copy.deepcopy(TINY)
    flow.update(changes)
    return flow


def write_flow(directory: Path, data: dict[str, Any], name: str | None = None) -> Path:
    """Write ``data`` as a flow file in ``directory`` and return its path."""
    path = directory / (name or f"{data['id']}.yaml")
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path
