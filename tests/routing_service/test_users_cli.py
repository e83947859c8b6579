"""``helpline users add``: create volunteers from the command line."""

from __future__ import annotations

import io

import pytest

from helpline.cli import main
from helpline.settings import Settings
from tests.conftest import point_cli_at


@pytest.fixture
def env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Point the command line at the test database and keys."""
    point_cli_at(settings, monkeypatch)
    return settings


def test_add_volunteer_with_phone_and_password(env: Settings, capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Test that a volunteer is created and the phone never echoed."""
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse battery staple\n"))
    code = main(["users", "add", "vol-amira", "--role", "volunteer", "--phone",
                 "07700 900201", "--password-stdin"])
    out = capsys.readouterr().out
    assert code == 0
    assert "created volunteer vol-amira" in out
    assert "900201" not in out
    assert main(["users", "list"]) == 0
    assert "vol-amira\tvolunteer\taway" in capsys.readouterr().out


def test_duplicate_login_is_refused(env: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    """Test that a second user with the same login is refused with a reason."""
    assert main(["users", "add", "vol-ben", "--role", "volunteer"]) == 0
    assert main(["users", "add", "vol-ben", "--role", "volunteer"]) == 1
    assert "exists already" in capsys.readouterr().err


def test_short_password_is_refused(env: Settings, capsys: pytest.CaptureFixture[str],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Test that a console password under 12 characters is refused."""
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["users", "add", "vol-c", "--role", "volunteer", "--password-stdin"]) == 1
    assert "at least 12" in capsys.readouterr().err
