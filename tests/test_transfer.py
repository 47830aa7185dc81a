"""`guardian export` / `guardian import`: the household between the database and settings.toml."""

from __future__ import annotations

import asyncio
import json
import logging
import stat
import tomllib
import uuid
from pathlib import Path
from typing import Any

import pytest

from guardian.cli import main
from guardian.database import opened
from guardian.models import AuditEntry, Household, Member, Notification, Schedule, Source
from guardian.plugin import PluginRegistry
from guardian.settings import Settings, SettingsError, load_settings
from guardian.testing import settings_text
from guardian.transfer import check, export_household, household_data, import_household, to_toml
from tests.conftest import SECRET, TOKEN, at

REPO_SETTINGS = Path(__file__).parent.parent / "settings.toml"
NOW = at("2026-11-25T12:00:00+01:00")
CHANNEL = "ntfys://mia:s3cr3t-pass-word@ntfy.example.org/mia-topic"
SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TELEGRAM_SECRET = "tg-secret_token-42"
TWILIO_TOKEN = "twilio-auth-token-0123456789"
SECRETS = (SECRET, TOKEN, CHANNEL, SLACK_SECRET, TELEGRAM_SECRET, TWILIO_TOKEN, "s3cr3t-pass-word")

#: A household that uses every field a policy, member, contact and source can have.
RICH_DOCUMENT: dict[str, Any] = {
    "database": {"url": "sqlite://{db}"},
    "household": {"id": "home", "name": "The Rich household", "timezone": "Europe/Amsterdam"},
    "members": [
        {
            "id": "mia",
            "name": "Mia",
            "role": "child",
            "policy": "school-night",
            "channels": [CHANNEL, "console://"],
        },
        {
            "id": "sam",
            "name": "Sam",
            "role": "guardian",
            "policy": "grown-up",
            "channels": ["mailto://sam:pw-of-sam@example.org"],
        },
        {"id": "ben", "name": "Ben", "role": "child"},
    ],
    "contacts": [
        {
            "id": "sophie",
            "name": "Sophie",
            "addresses": ["sms:+31612345678", "telegram:99887766"],
        },
        {
            "id": "grandma",
            "name": "Grandma",
            "addresses": ["sms:+31687654321"],
            "trust": "trusted",
        },
        {
            "id": "spam",
            "name": 'Spammer "the" Great',
            "addresses": ["email:spam@example.org"],
            "trust": "muted",
        },
    ],
    "policies": {
        "school-night": {
            "quiet": [
                {"days": "mon-thu,sun", "start": "21:30", "end": "07:00"},
                {"days": "fri-sat", "start": "23:00", "end": "09:00"},
                {"start": "12:00", "end": "12:45"},
            ],
            "summaries": ["12:30", "18:00"],
            "burst": {"limit": 3, "per": "10m", "notice_every": "1h30m"},
            "breakthrough": {
                "keywords": ["emergency", "sos"],
                "repeated": {"count": 3, "within": "5m"},
            },
            "content": "preview",
            "guardian_view": "senders",
            "report": "07:30",
            "storm": {"count": 20, "within": "30m", "alert_guardians": True},
            "retention": 7,
        },
        "grown-up": {
            "quiet": [{"days": "daily", "start": "23:00", "end": "07:00"}],
            "breakthrough": {"keywords": ["alarm"]},
            "storm": {"count": 10, "within": "1h"},
        },
        "empty one": {},
    },
    "sources": [
        {"id": "mia-phone", "plugin": "webhook", "member": "mia", "secret": SECRET},
        {"id": "mia-bridge", "plugin": "webhook", "member": "mia", "token": TOKEN},
        {
            "id": "mia-telegram",
            "plugin": "telegram",
            "member": "mia",
            "secret_token": TELEGRAM_SECRET,
        },
        {"id": "sam-slack", "plugin": "slack", "member": "sam", "signing_secret": SLACK_SECRET},
        {
            "id": "family-sms",
            "plugin": "twilio",
            "member": "sam",
            "auth_token": TWILIO_TOKEN,
            "public_url": "https://guardian.example.org/hooks/family-sms",
        },
    ],
}
#: ... as a settings file, its database at `{db}`.
RICH = settings_text(RICH_DOCUMENT)


def models() -> Any:
    return PluginRegistry.discover().settings_models()


def rich_settings(tmp_path: Path, text: str = RICH) -> Settings:
    path = tmp_path / "settings.toml"
    path.write_text(text.replace("{db}", str(tmp_path / "guardian.db")))
    return load_settings(path, models())


def normalised(data: Any) -> Any:
    """Validated household data, items in id order: what two equal households share."""
    settings = check(data, models())
    plain = household_data(settings)
    for table in ("members", "contacts", "sources"):
        plain[table].sort(key=lambda item: item["id"])
    return plain


async def exported(household: str = "home") -> str:
    return to_toml(await export_household(household))


async def test_export_import_export_is_exact(tmp_path: Path) -> None:
    settings = rich_settings(tmp_path)
    async with opened(settings.database.url):
        first = await import_household(household_data(settings), NOW, "test")
        assert first.summary() == (
            "imported household home: 3 members, 3 contacts, 3 policies, 5 sources "
            "(14 created, 0 updated, 0 removed)"
        )
        text = await exported()
        again = await import_household(tomllib.loads(text), NOW, "test")
        assert (again.total("created"), again.total("updated"), again.total("removed")) == (0, 0, 0)
        assert await exported() == text
    data = tomllib.loads(text)
    assert normalised(data) == normalised(household_data(settings))
    # Written the way a person writes it.
    assert 'burst = { limit = 3, per = "10m", notice_every = "1h30m" }' in text
    assert 'summaries = ["12:30", "18:00"]' in text
    assert '{ days = "daily", start = "12:00", end = "12:45" },' in text
    assert '[policies."empty one"]' in text
    assert "trust" not in data["contacts"][1]  # sophie: the default trust is left out
    assert "policy" not in data["members"][0]  # ben
    assert [m["id"] for m in data["members"]] == ["ben", "mia", "sam"]
    assert [s["id"] for s in data["sources"]] == [
        "family-sms",
        "mia-bridge",
        "mia-phone",
        "mia-telegram",
        "sam-slack",
    ]
    assert data["sources"][2] == {
        "id": "mia-phone",
        "plugin": "webhook",
        "member": "mia",
        "secret": SECRET,
    }


async def test_the_repository_settings_come_back_as_written(tmp_path: Path) -> None:
    raw = tomllib.loads(REPO_SETTINGS.read_text())
    async with opened(f"sqlite://{tmp_path / 'g.db'}"):
        await import_household(raw, NOW, "test")
        data = await export_household("home")
    assert normalised(data) == normalised(raw)


async def test_import_updates_rows_in_place_and_keeps_held_notifications(tmp_path: Path) -> None:
    settings = rich_settings(tmp_path)
    async with opened(settings.database.url):
        await import_household(household_data(settings), NOW, "test")
        mia = await Member.get(slug="mia")
        phone = await Source.get(slug="mia-phone")
        held = [await _notification(mia, phone, n, "held") for n in range(3)]

        changed = (
            RICH.replace('name = "Mia"', 'name = "Mia B."')
            .replace('start = "21:30"', 'start = "21:00"')
            .replace(SECRET, "whsec_bmV3LXNlY3JldC1mb3ItdGhlLXBob25lLXNvdXJjZQ==")
            .replace('id = "spam"', 'id = "spam2"')
        )
        changed = changed.split('[[sources]]\nid = "sam-slack"')[0]  # sam-slack, family-sms gone
        result = await import_household(
            household_data(rich_settings(tmp_path, changed)), NOW, "cli"
        )

        counts = {t: (c.created, c.updated, c.removed) for t, c in result.counts.items()}
        assert counts == {
            "policies": (0, 1, 0),
            "members": (0, 1, 0),
            "contacts": (1, 0, 1),
            "sources": (0, 1, 2),
        }
        assert (await Member.get(slug="mia")).pk == mia.pk
        assert (await Member.get(slug="mia")).name == "Mia B."
        assert (await Source.get(slug="mia-phone")).pk == phone.pk
        still = await Notification.filter(status="held").values_list("id", flat=True)
        assert sorted(still) == sorted(n.id for n in held)
        text = await exported()
        assert 'start = "21:00"' in text
        assert "sam-slack" not in text
        assert (await Household.get(id="home")).revision == 2


async def test_import_refuses_to_remove_a_member_with_held_notifications(tmp_path: Path) -> None:
    settings = rich_settings(tmp_path)
    async with opened(settings.database.url):
        await import_household(household_data(settings), NOW, "test")
        mia = await Member.get(slug="mia")
        bridge = await Source.get(slug="mia-bridge")
        telegram = await Source.get(slug="mia-telegram")
        await _notification(mia, telegram, 1, "held")
        await _notification(mia, telegram, 2, "held")
        await _notification(mia, bridge, 3, "folded")
        await _notification(mia, bridge, 4, "summarised")
        before = await exported()

        data = household_data(settings)
        data["members"] = [m for m in data["members"] if m["id"] != "mia"]
        data["sources"] = [s for s in data["sources"] if not s["id"].startswith("mia-")]
        with pytest.raises(SettingsError) as refused:
            await import_household(data, NOW, "test")

        assert refused.value.errors == [
            "members: 'mia' is missing, but still has 2 held notifications and 1 folded "
            "notification; keep it until they have been sent, then import again",
            "sources: 'mia-bridge' is missing, but still has 1 folded notification; keep it "
            "until they have been sent, then import again",
            "sources: 'mia-telegram' is missing, but still has 2 held notifications; keep it "
            "until they have been sent, then import again",
        ]
        assert await exported() == before
        assert await Notification.all().count() == 4
        assert (await Household.get(id="home")).revision == 1
        assert await AuditEntry.filter(action="household.import").count() == 1


async def test_a_bad_file_lists_every_error_by_path_and_changes_nothing(tmp_path: Path) -> None:
    settings = rich_settings(tmp_path)
    async with opened(settings.database.url):
        await import_household(household_data(settings), NOW, "test")
        before = await exported()
        data = tomllib.loads(before)
        data["policies"]["school-night"]["quiet"][0]["start"] = "25:00"
        data["policies"]["school-night"]["burst"]["per"] = "soon"
        data["members"][1]["policy"] = "nope"
        data["members"].append({"id": "Bad Id", "name": "", "role": "cat"})
        data["sources"][0]["member"] = "nobody"
        data["sources"][0]["public_url"] = "not a url"
        data["surprise"] = {}
        with pytest.raises(SettingsError) as refused:
            await import_household(data, NOW, "test")
        problems = refused.value.errors
        for expected in (
            "policies.school-night.quiet[0].start: not a time (use HH:MM, 00:00-23:59)",
            "policies.school-night.burst.per: not a duration: 'soon' (use e.g. 30s, 10m, "
            "1h30m, 2d)",
            "members[3].id: String should match pattern '^[a-z0-9][a-z0-9_-]{0,63}$'",
            "members[3].name: String should have at least 1 character",
            "members[3].role: Input should be 'guardian' or 'child'",
            "members[1].policy: unknown policy 'nope'",
            "sources[0].member: unknown member 'nobody'",
            "surprise: Extra inputs are not permitted",
        ):
            assert expected in problems
        assert any(p.startswith("sources[0].public_url: ") for p in problems)
        assert await exported() == before
        assert (await Household.get(id="home")).revision == 1


async def test_import_refuses_a_channel_that_touches_the_server(tmp_path: Path) -> None:
    settings = rich_settings(tmp_path)
    async with opened(settings.database.url):
        await import_household(household_data(settings), NOW, "test")
        before = await exported()
        data = tomllib.loads(before)
        index = {m["id"]: n for n, m in enumerate(data["members"])}
        mia, sam = data["members"][index["mia"]], data["members"][index["sam"]]
        mia["channels"].append("console://?file=/var/lib/guardian/.ssh/rc")
        sam["channels"] = ["mailto://u:p@example.org?pgpprv=/root/key.asc"]
        with pytest.raises(SettingsError) as refused:
            await import_household(data, NOW, "test")
        assert sorted(refused.value.errors) == [
            f"members[{index['mia']}].channels[2]: console:// writes only to "
            "var/deliveries.log (console://?file=var/deliveries.log), no other file",
            f"members[{index['sam']}].channels[0]: pgpprv= names a file on the server: a "
            "channel never reads the server's files",
        ]
        assert await exported() == before


async def test_import_writes_an_audit_entry_without_secrets(tmp_path: Path) -> None:
    settings = rich_settings(tmp_path)
    async with opened(settings.database.url):
        await import_household(household_data(settings), NOW, "cli")
        entry = await AuditEntry.get(action="household.import")
        assert (entry.actor, entry.target, entry.at) == ("cli", "home", NOW)
        assert entry.detail == {
            "household": "created",
            "policies": {"created": 3, "updated": 0, "removed": 0},
            "members": {"created": 3, "updated": 0, "removed": 0},
            "contacts": {"created": 3, "updated": 0, "removed": 0},
            "sources": {"created": 5, "updated": 0, "removed": 0},
        }
        stored = json.dumps([e.detail for e in await AuditEntry.all()])
        assert not [secret for secret in SECRETS if secret in stored]


async def test_import_moves_the_schedules_to_the_new_policy(tmp_path: Path) -> None:
    settings = rich_settings(tmp_path)
    async with opened(settings.database.url):
        await import_household(household_data(settings), NOW, "test")
        mia = await Member.get(slug="mia")
        summary = await Schedule.get(member=mia, kind="summary")
        report = await Schedule.get(member=mia, kind="report")
        # Wednesday 12:00 local: the next window end is 12:45, the report 07:30 tomorrow.
        assert summary.next_due_at == at("2026-11-25T12:45:00+01:00")
        assert report.next_due_at == at("2026-11-26T07:30:00+01:00")
        data = household_data(settings)
        data["policies"]["school-night"]["quiet"].pop()
        data["policies"]["school-night"]["summaries"] = ["18:00"]
        data["policies"]["school-night"]["report"] = "08:00"
        await import_household(data, NOW, "test")
        await summary.refresh_from_db()
        await report.refresh_from_db()
        assert summary.next_due_at == at("2026-11-25T18:00:00+01:00")  # the summary time
        assert report.next_due_at == at("2026-11-26T08:00:00+01:00")


async def _notification(member: Member, source: Source, n: int, status: str) -> Notification:
    return await Notification.create(
        id=uuid.uuid4(),
        household_id="home",
        source=source,
        member=member,
        external_id=f"msg-{source.slug}-{n}",
        network="sms",
        sender_address="sms:+31612345678",
        sender_key="contact:sophie",
        text="are you awake?",
        sent_at=NOW,
        received_at=NOW,
        status=status,
    )


# The commands, run in this process as a user runs them.


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """`guardian ARGS`: exit code, stdout, stderr. The logging set-up is put back after."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        code = main(list(args))
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def config(tmp_path: Path) -> Path:
    rich_settings(tmp_path)
    return tmp_path / "settings.toml"


def test_cli_export_prints_the_household_and_warns(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(capsys, "export", "--config", str(config))
    assert code == 0, err
    assert err.splitlines() == [
        "warning: the export contains secrets (channel URLs, source secrets); keep it private"
    ]
    assert out.startswith("# Household 'home', from `guardian export`.")
    assert normalised(tomllib.loads(out)) == normalised(tomllib.loads(config.read_text()))


def test_cli_export_to_a_file_is_private(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "household.toml"
    target.write_text("old")
    target.chmod(0o644)
    code, out, err = run_cli(capsys, "export", "--config", str(config), "-o", str(target))
    assert code == 0, err
    assert out == f"exported household home to {target}\n"
    assert "contains secrets" in err
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert SECRET in target.read_text()

    code, out, err = run_cli(capsys, "import", str(target), "--config", str(config))
    assert code == 0, err
    assert out == (
        "imported household home: 3 members, 3 contacts, 3 policies, 5 sources "
        "(0 created, 0 updated, 0 removed)\n"
    )


def test_cli_import_reads_the_config_file_with_its_environment(
    config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    new_secret = "whsec_ZnJvbS10aGUtZW52aXJvbm1lbnQtb2YtdGhlLWltcG9ydA=="
    monkeypatch.setenv("GUARDIAN_SOURCES__MIA_PHONE__SECRET", new_secret)
    monkeypatch.setenv("GUARDIAN_CONFIG", str(config))
    code, out, err = run_cli(capsys, "import")
    assert code == 0, err
    assert out == (
        "imported household home: 3 members, 3 contacts, 3 policies, 5 sources "
        "(14 created, 0 updated, 0 removed)\n"
    )
    assert err == ""
    code, out, _ = run_cli(capsys, "export")
    assert f'secret = "{new_secret}"' in out


def test_cli_import_of_a_bad_file_lists_errors_and_changes_nothing(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(capsys, "import", "--config", str(config))[0] == 0
    _, before, _ = run_cli(capsys, "export", "--config", str(config))
    bad = tmp_path / "bad.toml"
    bad.write_text(
        before.replace('report = "07:30"', 'report = "7.30"').replace(
            'policy = "grown-up"', 'policy = "nope"'
        )
    )
    code, out, err = run_cli(capsys, "import", str(bad), "--config", str(config))
    assert code == 2
    assert out == ""
    assert err.splitlines() == [
        f"{bad}: the household cannot be imported; nothing changed:",
        "  policies.school-night.report: not a time (use HH:MM, 00:00-23:59)",
        "  members[2].policy: unknown policy 'nope'",
    ]
    assert run_cli(capsys, "export", "--config", str(config))[1] == before
    assert _revision(config) == 1

    other = tmp_path / "other.toml"
    other.write_text(before.replace('id = "home"', 'id = "cottage"'))
    code, _, err = run_cli(capsys, "import", str(other), "--config", str(config))
    assert code == 2
    assert f"household.id: 'cottage' is not the household of {config} ('home')" in err

    broken = tmp_path / "broken.toml"
    broken.write_text("[household\n")
    code, _, err = run_cli(capsys, "import", str(broken), "--config", str(config))
    assert code == 2
    assert err.startswith(f"{broken}: not valid TOML: ")
    code, _, err = run_cli(capsys, "import", str(tmp_path / "absent.toml"), "--config", str(config))
    assert code == 2
    assert "absent.toml: cannot read: No such file or directory" in err


def _revision(config: Path) -> int:
    async def read() -> int:
        async with opened(f"sqlite://{config.parent / 'guardian.db'}"):
            return (await Household.get(id="home")).revision

    return asyncio.run(read())


async def test_languages_are_exported_and_imported(tmp_path: Path) -> None:
    text = RICH.replace(
        'timezone = "Europe/Amsterdam"', 'timezone = "Europe/Amsterdam"\nlanguage = "nl"', 1
    ).replace('role = "guardian"', 'role = "guardian"\nlanguage = "de"', 1)
    assert text != RICH
    settings = rich_settings(tmp_path, text)
    async with opened(settings.database.url):
        await import_household(household_data(settings), NOW, "test")
        data = tomllib.loads(await exported())
        assert data["household"]["language"] == "nl"
        assert {m["id"]: m.get("language") for m in data["members"]} == {
            "ben": None,
            "mia": None,
            "sam": "de",
        }
        data["household"].pop("language")  # back to English, the default
        result = await import_household(data, NOW, "test")
        assert result.household_change == "updated"
        assert (await Household.get(id="home")).language == "en"
        assert "language" not in tomllib.loads(await exported())["household"]
        assert (await Member.get(slug="sam")).language == "de"
