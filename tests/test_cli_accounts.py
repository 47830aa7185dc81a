"""`guardian user add`: a guardian's or a child's dashboard login, from the command line."""

from __future__ import annotations

import asyncio
import io
import sys
from pathlib import Path
from typing import Any

import pytest

from guardian.database import opened
from guardian.models import AuditEntry, User
from tests.conftest import settings_toml
from tests.test_transfer import run_cli

PASSWORD = "correct horse battery"


class Terminal(io.StringIO):
    """A stdin that is a TTY and must not be read: the password comes from getpass."""

    def isatty(self) -> bool:
        return True

    def readline(self, *args: Any) -> str:
        raise AssertionError("read the terminal through getpass")


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "settings.toml"
    path.write_text(settings_toml(tmp_path / "guardian.db"))  # mia: child, sam: guardian
    return path


def add(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    config: Path,
    *args: str,
    stdin: str = PASSWORD + "\n",
) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    return run_cli(capsys, "user", "add", *args, "--config", str(config))


def stored(config: Path) -> tuple[list[User], list[AuditEntry]]:
    async def read() -> tuple[list[User], list[AuditEntry]]:
        async with opened(f"sqlite://{config.parent / 'guardian.db'}"):
            users = await User.all().order_by("id").prefetch_related("member")
            return users, await AuditEntry.filter(action="user.add").order_by("id")

    return asyncio.run(read())


def test_add_a_guardian_with_the_password_from_stdin(
    config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = add(capsys, monkeypatch, config, "sam", "--password-stdin")
    assert (code, out, err) == (0, "added user sam for guardian sam\n", "")
    code, out, err = add(capsys, monkeypatch, config, "admin")  # stdin is not a TTY
    assert (code, out, err) == (0, "added user admin\n", "")
    code, out, _ = add(capsys, monkeypatch, config, "dad@example.org", "--member", "sam")
    assert (code, out) == (0, "added user dad@example.org for guardian sam\n")

    users, audit = stored(config)
    assert [(u.username, u.member.slug if u.member else None) for u in users] == [
        ("sam", "sam"),
        ("admin", None),
        ("dad@example.org", "sam"),
    ]
    for user in users:
        assert user.password_hash.startswith("$argon2id$")
        assert PASSWORD not in user.password_hash
    assert [(e.actor, e.target, e.detail) for e in audit] == [
        ("cli", "sam", {"member": "sam", "role": "guardian"}),
        ("cli", "admin", {"member": None, "role": "guardian"}),
        ("cli", "dad@example.org", {"member": "sam", "role": "guardian"}),
    ]
    assert all(PASSWORD not in str(e.detail) for e in audit)


def test_add_a_childs_login(
    config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Issue 6 refused it; issue 16 lets a child log in to see their own page, and only that.
    code, out, err = add(capsys, monkeypatch, config, "mia", "--member", "mia")
    assert (code, out, err) == (0, "added user mia for child mia\n", "")
    code, out, err = add(capsys, monkeypatch, config, "mia2")
    assert (code, out, err) == (0, "added user mia2\n", "")  # no member: a guardian's login
    code, out, err = add(capsys, monkeypatch, config, "mia", "--member", "mia")
    assert (code, out, err) == (1, "", "error: the user 'mia' already exists\n")
    users, audit = stored(config)
    assert [(u.username, u.role, u.member.slug if u.member else None) for u in users] == [
        ("mia", "child", "mia"),
        ("mia2", "guardian", None),
    ]
    assert [(e.target, e.detail, e.members) for e in audit] == [
        ("mia", {"member": "mia", "role": "child"}, ",mia,"),
        ("mia2", {"member": None, "role": "guardian"}, ""),
    ]


def test_the_password_keeps_its_spaces_and_loses_only_the_newline(
    config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from argon2 import PasswordHasher

    code, _, err = add(capsys, monkeypatch, config, "sam", stdin=" spaced out pw \r\nsecond line")
    assert code == 0, err
    (user,), _ = stored(config)
    assert PasswordHasher().verify(user.password_hash, " spaced out pw ")


def test_the_password_is_asked_twice_on_a_terminal(
    config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = iter([PASSWORD, PASSWORD, PASSWORD, "something else"])
    prompts: list[str] = []

    def getpass(prompt: str = "") -> str:
        prompts.append(prompt)
        return next(answers)

    monkeypatch.setattr("getpass.getpass", getpass)
    monkeypatch.setattr(sys, "stdin", Terminal())
    code, out, err = run_cli(capsys, "user", "add", "sam", "--config", str(config))
    assert (code, out, err) == (0, "added user sam for guardian sam\n", "")
    assert prompts == ["Password for sam: ", "The same password again: "]

    code, out, err = run_cli(capsys, "user", "add", "admin", "--config", str(config))
    assert (code, out, err) == (1, "", "error: the passwords do not match\n")
    assert [u.username for u in stored(config)[0]] == ["sam"]


@pytest.mark.parametrize(
    ("args", "stdin", "error"),
    [
        (("sam",), PASSWORD, "error: the user 'sam' already exists"),
        (("kid", "--member", "nobody"), PASSWORD, "error: no member 'nobody' in the household"),
        (("bob",), "short\n", "error: the password needs at least 8 characters"),
        (("bob",), "", "error: no password on stdin"),
        (
            ("bad name",),
            PASSWORD,
            "error: a username is 1-64 letters, digits, '.', '_', '@' or '-', "
            "starting with a letter or digit",
        ),
    ],
)
def test_refused(
    config: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: tuple[str, ...],
    stdin: str,
    error: str,
) -> None:
    assert add(capsys, monkeypatch, config, "sam")[0] == 0
    code, out, err = add(capsys, monkeypatch, config, *args, stdin=stdin)
    assert (code, out, err) == (1, "", error + "\n")
    users, audit = stored(config)
    assert [u.username for u in users] == ["sam"]
    assert [e.target for e in audit] == ["sam"]


def test_bad_settings_are_refused_before_anything_is_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = add(capsys, monkeypatch, tmp_path / "absent.toml", "sam")
    assert (code, out) == (2, "")
    assert "settings file not found" in err
