"""Golden transcripts of whole conversations, run through the flow engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpline.triage.flows.engine import FlowEngine
from tests.flows import transcripts

FILES = sorted(transcripts.DIRECTORY.glob("*.yaml"))


def test_there_are_transcripts() -> None:
    """Test that the transcript folder is not empty (a glob typo would pass silently)."""
    assert len(FILES) >= 5


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_transcript(engine: FlowEngine, path: Path) -> None:
    """Test that the conversation in the transcript file goes as written."""
    assert transcripts.run(engine, transcripts.load(path)) == []
