"""``helpline simulate``: scripted chats through the real conversation service."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import REPO


def simulate(*args: str, stdin: str) -> subprocess.CompletedProcess[str]:
    """Run ``helpline simulate`` with ``stdin`` and return the finished process."""
    return subprocess.run(  # noqa: S603 - fixed arguments
        [sys.executable, "-m", "helpline", "simulate", *args], input=stdin, text=True,
        capture_output=True, cwd=REPO, timeout=120, check=False,
    )


def test_scripted_chat_prints_replies_and_final_state() -> None:
    """Test that piped lines get replies and a final JSON line with priority and results."""
    result = simulate("--at", "2026-01-05T12:00+00:00", stdin="hello\nno\n")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert "free and confidential" in lines[0]
    assert any("999" in line for line in lines[:-1])
    final = json.loads(lines[-1])
    assert final["priority"] == "urgent"
    assert final["results"] == {"safe_now": "no"}
    assert "danger_now" in final["flags"]


def test_language_can_be_forced() -> None:
    """Test that --lang starts the flow in that language."""
    result = simulate("--lang", "vi", "--at", "2026-01-05T12:00+00:00", stdin="hi\n")
    assert "Bạn có an toàn" in result.stdout
    assert json.loads(result.stdout.strip().splitlines()[-1])["language"] == "vi"


def test_unknown_flow_is_refused() -> None:
    """Test that --flow with an unknown id exits 2 naming the known flows."""
    result = simulate("--flow", "nope", stdin="")
    assert result.returncode == 2
    assert "sms_triage" in result.stderr
