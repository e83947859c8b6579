"""The checker: every problem names the file, the node and what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpline.cli import build_parser
from helpline.cli import flows as flows_cli
from helpline.triage.flows.loader import FlowRegistry, read_flow
from tests.flows.helpers import SHIPPED, tiny, write_flow


def problems_of(tmp_path: Path, data: dict) -> list[str]:
    """Return the problems found in ``data`` written as a flow file."""
    path = write_flow(tmp_path, data)
    _, problems = read_flow(path)
    lines = [str(p) for p in problems]
    assert all(line.startswith(f"{path}: ") for line in lines)  # every line names the file
    return lines


def run_cli(*args: str) -> int:
    """Run ``helpline flows check`` with ``args`` and return its exit status."""
    parsed = build_parser().parse_args(["flows", "check", *args])
    return parsed.func(parsed)


SHIPPED_FILES = FlowRegistry(SHIPPED).files()


@pytest.mark.parametrize("path", SHIPPED_FILES, ids=lambda p: p.name)
def test_shipped_flow_passes_the_checker(path: Path) -> None:
    """Test that a shipped flow has no problem at all, not even a warning."""
    flow, problems = read_flow(path)
    assert flow is not None
    assert [str(p) for p in problems] == []


def test_cli_reports_shipped_flows_ok(capsys: pytest.CaptureFixture[str]) -> None:
    """Test that the command exits 0 and counts the flows when all are clean."""
    assert run_cli(str(SHIPPED), str(SHIPPED / "archive")) == 0
    assert "5 flows OK" in capsys.readouterr().out


def test_every_shipped_version_is_still_loaded() -> None:
    """Test that no version a release shipped is gone: conversations may still be on it.

    A deployment upgraded mid-conversation finds the conversation's version missing, and
    every later text of that young person falls back to the queue without a flow.
    """
    registry = FlowRegistry.load(SHIPPED)
    for flow_id in registry.ids():
        found = {int(version) for version in registry.versions(flow_id)}
        assert found == set(range(1, max(found) + 1)), f"{flow_id}: move old versions to archive/"


def test_cli_prints_one_line_per_problem(tmp_path: Path, capsys) -> None:
    """Test that the command exits 1 with one line per problem, each naming file and node."""
    data = tiny()
    data["nodes"]["ask"]["cases"][0]["goto"] = "nowhere"
    data["nodes"]["lost"] = {"end": {"en": "x", "ar": "y"}}
    write_flow(tmp_path, data)
    assert run_cli(str(tmp_path)) == 1
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3  # two problems and the summary
    assert all(line.startswith(str(tmp_path / "tiny.yaml")) for line in lines[:2])
    assert 'node "ask": field "cases#1.goto": goes to node "nowhere"' in lines[0]
    assert 'node "lost": can never be reached' in lines[1]


def test_cli_is_registered_on_the_main_parser() -> None:
    """Test that ``helpline flows check`` reaches the flow checker."""
    parsed = build_parser().parse_args(["flows", "check"])
    assert parsed.func is flows_cli.run_check


def test_dangling_reference_is_reported(tmp_path: Path) -> None:
    """Test that a case going to a missing node is reported with node and field."""
    data = tiny()
    data["nodes"]["ask"]["other"] = {"goto": "gone"}
    problems = problems_of(tmp_path, data)
    assert any('node "ask": field "other": goes to node "gone"' in p for p in problems)


def test_missing_start_node_is_reported(tmp_path: Path) -> None:
    """Test that a start node that does not exist is reported."""
    problems = problems_of(tmp_path, tiny(start="begin"))
    assert any('field "start": the start node "begin" does not exist' in p for p in problems)


def test_unreachable_node_is_reported(tmp_path: Path) -> None:
    """Test that a node nothing leads to is reported."""
    data = tiny()
    data["nodes"]["orphan"] = {"end": True}
    assert any('node "orphan": can never be reached' in p for p in problems_of(tmp_path, data))


def test_branch_without_fallback_is_reported(tmp_path: Path) -> None:
    """Test that a branch without `other` is reported."""
    data = tiny()
    data["nodes"]["ask"] = {"ask": {"en": "Q", "ar": "س"}, "next": "split"}
    data["nodes"]["split"] = {"branch": [{"any": ["x"], "goto": "bye"}]}
    problems = problems_of(tmp_path, data)
    assert any('node "split": field "other": branch has no `other` fallback' in p for p in problems)


def test_ask_cases_without_fallback_is_reported(tmp_path: Path) -> None:
    """Test that an ask with cases but no `other` is reported."""
    data = tiny()
    del data["nodes"]["ask"]["other"]
    assert any('node "ask": field "other"' in p for p in problems_of(tmp_path, data))


def test_missing_translation_is_reported(tmp_path: Path) -> None:
    """Test that a text lacking one of the flow's languages is reported."""
    data = tiny()
    data["nodes"]["bye"]["end"] = "Bye."
    problems = problems_of(tmp_path, data)
    assert any('node "bye": field "end": missing translation for ar' in p for p in problems)


def test_missing_reminder_translation_is_reported(tmp_path: Path) -> None:
    """Test that a reminder lacking a language is reported under its own field."""
    data = tiny()
    data["nodes"]["ask"]["timeout"]["reminder"] = {"en": "Still there?"}
    problems = problems_of(tmp_path, data)
    assert any('field "timeout.reminder": missing translation for ar' in p for p in problems)


def test_invalid_regex_is_reported(tmp_path: Path) -> None:
    """Test that a regular expression that does not compile is reported."""
    data = tiny()
    data["nodes"]["ask"]["cases"].append({"regex": "([a-", "goto": "bye", "value": "r"})
    problems = problems_of(tmp_path, data)
    assert any(
        'node "ask": field "cases#2.regex": is not a valid regular expression' in p
        for p in problems
    )


def test_timeout_with_nowhere_to_go_is_reported(tmp_path: Path) -> None:
    """Test that a question that expires without `goto` is reported."""
    data = tiny()
    del data["nodes"]["ask"]["timeout"]["goto"]
    problems = problems_of(tmp_path, data)
    assert any('node "ask": field "timeout.goto": the question expires but has nowhere' in p
               for p in problems)  # fmt: skip


def test_reminder_after_expiry_is_reported(tmp_path: Path) -> None:
    """Test that a reminder due after the question expires is reported."""
    data = tiny()
    data["nodes"]["ask"]["timeout"]["reminder_after"] = 600
    problems = problems_of(tmp_path, data)
    assert any('field "timeout.reminder_after": the reminder must come before' in p
               for p in problems)  # fmt: skip


def test_misspelt_field_is_reported_in_words(tmp_path: Path) -> None:
    """Test that an unknown field is named with its node and a hint about spelling."""
    data = tiny()
    data["nodes"]["ask"]["timeout"]["remider"] = "x"
    problems = problems_of(tmp_path, data)
    assert any(
        'node "ask": field "timeout.remider": is not a known field (check the spelling)' in p
        for p in problems
    )


def test_node_without_kind_is_reported(tmp_path: Path) -> None:
    """Test that a node with no kind key lists the kinds it may have."""
    data = tiny()
    data["nodes"]["bye"] = {"text": "Bye"}
    problems = problems_of(tmp_path, data)
    assert any('node "bye": a node needs exactly one of: send, ask' in p for p in problems)


def test_result_without_case_value_is_reported(tmp_path: Path) -> None:
    """Test that a saved result whose case gives no value is reported."""
    data = tiny()
    del data["nodes"]["ask"]["cases"][0]["value"]
    problems = problems_of(tmp_path, data)
    assert any('node "ask": field "cases#1.value"' in p for p in problems)


def test_loop_without_question_is_reported(tmp_path: Path) -> None:
    """Test that nodes going round without asking anything are reported."""
    data = tiny()
    data["nodes"]["ask"]["other"] = {"goto": "a"}
    data["nodes"]["a"] = {"set": {"flags": ["x"]}, "next": "b"}
    data["nodes"]["b"] = {"set": {"flags": ["y"]}, "next": "a"}
    assert any("goes round in a loop" in p for p in problems_of(tmp_path, data))


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    """Test that broken YAML is reported with its line number and a hint."""
    path = tmp_path / "broken.yaml"
    path.write_text("id: x\nnodes:\n  a:\n    send: Call us: now\n", encoding="utf-8")
    _, problems = read_flow(path)
    assert "line 4" in str(problems[0])
    assert "double quotes" in str(problems[0])


def test_no_stays_text_in_flow_files(tmp_path: Path) -> None:
    """Test that an unquoted ``no`` in a flow file is read as the word, not as false."""
    data = tiny()
    path = write_flow(tmp_path, data)
    path.write_text(path.read_text().replace("value: 'yes'", "value: yes"), encoding="utf-8")
    flow, problems = read_flow(path)
    assert problems == []
    assert flow.nodes["ask"].cases[0].value == "yes"


def test_same_version_in_two_files_is_reported(tmp_path: Path, capsys) -> None:
    """Test that two files claiming the same flow version are reported."""
    write_flow(tmp_path, tiny(), "a.yaml")
    write_flow(tmp_path, tiny(), "b.yaml")
    assert run_cli(str(tmp_path)) == 1
    assert "is also in" in capsys.readouterr().out


def test_interrupt_without_a_trigger_is_reported(tmp_path: Path) -> None:
    """Test that an interrupt with neither phrases nor risk is refused, naming the field."""
    data = tiny(interrupts={"danger": {"goto": "bye"}})
    problems = problems_of(tmp_path, data)
    assert any("interrupts" in p and "needs `phrases`, `risk` or both" in p for p in problems)
