"""The registry: versions kept for conversations in flight, safe reloads, file watching."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

import pytest

from helpline.triage.flows.engine import FlowContext, FlowEngine
from helpline.triage.flows.loader import FlowError, FlowRegistry, watch
from tests.flows.helpers import tiny, write_flow

OPEN = FlowContext()


def with_goodbye(version: int, text: str) -> dict:
    """Return the tiny flow at ``version`` saying ``text`` at the end."""
    data = tiny(version=version)
    data["nodes"]["bye"]["end"] = {"en": text, "ar": text}
    return data


def test_first_load_lists_every_problem(tmp_path: Path) -> None:
    """Test that loading a directory with invalid files raises one error listing them all."""
    bad = tiny(id="bad1", start="missing")
    worse = tiny(id="bad2")
    worse["nodes"]["bye"] = {"sned": "x"}
    write_flow(tmp_path, bad)
    write_flow(tmp_path, worse)
    with pytest.raises(FlowError) as caught:
        FlowRegistry.load(tmp_path)
    text = str(caught.value)
    assert "bad1.yaml" in text and "bad2.yaml" in text
    assert len(caught.value.problems) >= 2


def test_conversation_finishes_on_the_version_it_started(tmp_path: Path) -> None:
    """Test that a conversation started on v1 continues on v1 after v2 is loaded."""
    path = write_flow(tmp_path, with_goodbye(1, "Bye from one."))
    registry = FlowRegistry.load(tmp_path)
    engine = FlowEngine(registry)
    old = engine.start(flow_id="tiny", first_text=None, context=OPEN)
    write_flow(tmp_path, with_goodbye(2, "Bye from two."), path.name)
    assert registry.reload() == []
    assert registry.get("tiny").version == 2
    assert registry.versions("tiny") == ["1", "2"]
    assert engine.handle_reply(old.state, "yes", context=OPEN).replies == ["Bye from one."]
    new = engine.start(flow_id="tiny", first_text=None, context=OPEN)
    assert engine.handle_reply(new.state, "yes", context=OPEN).replies == ["Bye from two."]


def test_invalid_edit_keeps_last_good_version(tmp_path: Path, caplog) -> None:
    """Test that a broken edit is reported loudly and the last good version stays latest."""
    path = write_flow(tmp_path, with_goodbye(1, "Bye."))
    registry = FlowRegistry.load(tmp_path)
    broken = with_goodbye(2, "Bye.")
    broken["nodes"]["ask"]["other"] = {"goto": "nowhere"}
    write_flow(tmp_path, broken, path.name)
    with caplog.at_level(logging.ERROR):
        problems = registry.reload()
    assert problems and 'node "ask"' in problems[0]
    assert any("nowhere" in r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)
    assert registry.get("tiny").version == 1


def test_changed_content_without_new_version_is_refused(tmp_path: Path) -> None:
    """Test that editing a flow without raising its version keeps the old content."""
    path = write_flow(tmp_path, with_goodbye(1, "Bye."))
    registry = FlowRegistry.load(tmp_path)
    write_flow(tmp_path, with_goodbye(1, "Changed."), path.name)
    problems = registry.reload()
    assert problems and "raise `version`" in problems[0]
    assert registry.get("tiny", 1).nodes["bye"].end["en"] == "Bye."


def test_unknown_flow_raises_flow_error(tmp_path: Path) -> None:
    """Test that asking for a flow that was never loaded raises FlowError."""
    write_flow(tmp_path, tiny())
    with pytest.raises(FlowError):
        FlowRegistry.load(tmp_path).get("nope")


def test_highest_version_is_latest_at_first_load(tmp_path: Path) -> None:
    """Test that with two files of one flow the higher version starts new conversations."""
    write_flow(tmp_path, with_goodbye(2, "Two."), "a_v2.yaml")
    write_flow(tmp_path, with_goodbye(1, "One."), "b_v1.yaml")
    registry = FlowRegistry.load(tmp_path)
    assert registry.get("tiny").version == 2
    assert registry.get("tiny", 1).version == 1


async def test_watch_reloads_changed_files(tmp_path: Path) -> None:
    """Test that the watcher loads a new version soon after the file changes."""
    path = write_flow(tmp_path, with_goodbye(1, "Bye."))
    registry = FlowRegistry.load(tmp_path)
    task = asyncio.create_task(watch(registry, interval=0.01))
    try:
        write_flow(tmp_path, with_goodbye(2, "Bye."), path.name)
        os.utime(path, ns=(1, 1))  # a different mtime even on coarse file systems
        for _ in range(200):
            await asyncio.sleep(0.01)
            if registry.get("tiny").version == 2:
                break
        assert registry.get("tiny").version == 2
    finally:
        task.cancel()


def test_archived_version_serves_old_conversations_after_restart(tmp_path: Path) -> None:
    """Test that a version kept in archive/ is loaded but never starts new conversations."""
    (tmp_path / "archive").mkdir()
    write_flow(tmp_path / "archive", with_goodbye(3, "Old."), "tiny_v3.yaml")
    write_flow(tmp_path, with_goodbye(2, "New."))
    registry = FlowRegistry.load(tmp_path)
    assert registry.get("tiny").version == 2
    assert registry.get("tiny", 3).nodes["bye"].end["en"] == "Old."
