"""settings.toml: the demo file loads, a bad file is refused whole with every error named by its
path, the environment overrides any value (items of lists by their id), secrets stay secret."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import time, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from guardian.policy_settings import BurstSettings
from guardian.settings import Settings, SettingsError, load_settings
from guardian.windows import QuietWindow
from plugins.webhook import WebhookSettings

DEMO = Path(__file__).resolve().parents[1] / "settings.toml"
PLUGINS = {"webhook": WebhookSettings}
SECRET = "whsec_dGVzdC1zZWNyZXQtZm9yLXNldHRpbmdzLXRlc3Rz"
OTHER_SECRET = "whsec_b3RoZXItc2VjcmV0LWZyb20tdGhlLWVudmlyb25tZW50"

BASE = f"""
[server]
host = "127.0.0.2"
port = 8080

[household]
name = "Test household"
timezone = "Europe/Amsterdam"

[[members]]
id = "mia"
name = "Mia"
role = "child"
policy = "school-night"
channels = ["json://127.0.0.1:9/mia"]

[[members]]
id = "sam"
name = "Sam"
role = "guardian"

[[contacts]]
id = "sophie"
name = "Sophie"
addresses = ["sms:+31612345678"]

[policies.school-night]
quiet = [{{ days = "mon-thu,sun", start = "21:30", end = "07:00" }}]
summaries = ["18:00"]
burst = {{ limit = 3, per = "10m", notice_every = "15m" }}
content = "senders"

[[sources]]
id = "mia-phone"
plugin = "webhook"
member = "mia"
secret = "{SECRET}"
token = "test-token"
"""


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Only what a test sets itself: no GUARDIAN_* variables from the outside."""
    for name in list(os.environ):
        if name.upper().startswith("GUARDIAN_"):
            monkeypatch.delenv(name)
    yield


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "settings.toml"
    path.write_text(text, encoding="utf-8")
    return path


def edited(*changes: tuple[str, str]) -> str:
    text = BASE
    for old, new in changes:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


def errors_of(path: Path, plugins: Any = PLUGINS) -> list[str]:
    with pytest.raises(SettingsError) as raised:
        load_settings(path, plugins)
    assert str(raised.value) == "\n".join(raised.value.errors)
    return raised.value.errors


# --- what loads ---------------------------------------------------------------------------------


@pytest.mark.parametrize("plugins", [None, PLUGINS], ids=["without plugins", "with webhook"])
def test_demo_file_loads(plugins: Any) -> None:
    settings = load_settings(DEMO, plugins)
    assert settings.household.timezone == "Europe/Amsterdam"
    assert settings.household.zone.key == "Europe/Amsterdam"
    assert [m.id for m in settings.members] == ["mia", "sam"]
    assert [c.id for c in settings.contacts] == ["sophie", "grandma"]
    assert settings.contacts[1].trust == "trusted"
    school_night = settings.policy_of(settings.members[0])
    assert school_night.windows() == [
        QuietWindow(frozenset({0, 1, 2, 3, 6}), time(21, 30), time(7, 0)),
        QuietWindow(frozenset({4, 5}), time(23, 0), time(9, 0)),
    ]
    assert school_night.summaries == [time(18, 0)]
    assert school_night.burst is not None
    assert school_night.burst.per == timedelta(minutes=10)
    assert school_night.burst.notice_every == timedelta(minutes=15)
    assert school_night.breakthrough.keywords == ["emergency", "hospital"]
    assert school_night.report == time(7, 30)
    assert school_night.storm is not None
    assert school_night.storm.within == timedelta(minutes=30)
    assert settings.policy_of(settings.members[1]).content == "preview"
    assert settings.sources[0].plugin == "webhook"
    assert set(settings.sources[0].plugin_settings()) == {"secret", "token"}


def test_base_file_loads(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, BASE), PLUGINS)
    assert settings.server.port == 8080
    assert settings.member("mia") is not None
    assert settings.member("nobody") is None
    # Defaults fill what the file leaves out.
    assert settings.database.url == "sqlite://var/guardian.db"
    assert settings.delivery.max_attempts == 8
    assert settings.policy_of(settings.members[1]).windows() == []


def test_without_plugins_the_plugin_is_not_checked(tmp_path: Path) -> None:
    path = write(tmp_path, edited(('plugin = "webhook"', 'plugin = "carrier-pigeon"')))
    assert load_settings(path, None).sources[0].plugin == "carrier-pigeon"


# --- what is refused, and how it is named -------------------------------------------------------

EXTRA_SOURCE = """
[[sources]]
id = "mia-phone"
plugin = "webhook"
member = "sam"
token = "another"
"""

EXTRA_CONTACT = """
[[contacts]]
id = "{id}"
name = "Someone"
addresses = ["{address}"]
"""


@pytest.mark.parametrize(
    ("story", "text", "expected"),
    [
        (
            "a quiet window starting at 25:00",
            edited(('start = "21:30"', 'start = "25:00"')),
            ["policies.school-night.quiet[0].start: not a time (use HH:MM, 00:00-23:59)"],
        ),
        (
            "a quiet window ending at half past nine, written 9.30",
            edited(('end = "07:00"', 'end = "9.30"')),
            ["policies.school-night.quiet[0].end: not a time (use HH:MM, 00:00-23:59)"],
        ),
        (
            "a misspelt day",
            edited(('days = "mon-thu,sun"', 'days = "mon-fry"')),
            [
                "policies.school-night.quiet[0].days: not a day or day range: 'mon-fry' "
                "(use mon, tue, ..., sun)"
            ],
        ),
        (
            "a summary at 6pm",
            edited(('summaries = ["18:00"]', 'summaries = ["6pm"]')),
            ["policies.school-night.summaries[0]: not a time (use HH:MM, 00:00-23:59)"],
        ),
        (
            "a burst window in words",
            edited(('per = "10m"', 'per = "10 minutes"')),
            [
                "policies.school-night.burst.per: not a duration: '10 minutes' "
                "(use e.g. 30s, 10m, 1h30m, 2d)"
            ],
        ),
        (
            "a window that starts where it ends",
            edited(('end = "07:00"', 'end = "21:30"')),
            ["policies.school-night.quiet[0]: start and end are the same"],
        ),
        (
            "a member pointing at a policy that is not there",
            edited(('policy = "school-night"', 'policy = "weekend"')),
            ["members[0].policy: unknown policy 'weekend'"],
        ),
        (
            "a source for a member that is not there",
            edited(('member = "mia"', 'member = "max"')),
            ["sources[0].member: unknown member 'max'"],
        ),
        (
            "two members called mia",
            edited(('id = "sam"', 'id = "mia"')),
            ["members[1].id: duplicate id 'mia'"],
        ),
        (
            "two sources called mia-phone",
            BASE + EXTRA_SOURCE,
            ["sources[1].id: duplicate id 'mia-phone'"],
        ),
        (
            "two contacts called sophie",
            BASE + EXTRA_CONTACT.format(id="sophie", address="telegram:99887766"),
            ["contacts[1].id: duplicate id 'sophie'"],
        ),
        (
            "one phone number for two contacts",
            BASE + EXTRA_CONTACT.format(id="emma", address="sms:+31612345678"),
            ["contacts[1].addresses[0]: 'sms:+31612345678' already belongs to 'sophie'"],
        ),
        (
            "an address without its network",
            edited(('addresses = ["sms:+31612345678"]', 'addresses = ["+31612345678"]')),
            ["contacts[0].addresses: not a network:address pair: '+31612345678'"],
        ),
        (
            "a misspelt time zone",
            edited(('timezone = "Europe/Amsterdam"', 'timezone = "Europe/Amsterdm"')),
            ["household.timezone: not an IANA time zone: 'Europe/Amsterdm'"],
        ),
        (
            "an empty time zone",
            edited(('timezone = "Europe/Amsterdam"', 'timezone = ""')),
            ["household.timezone: not an IANA time zone: ''"],
        ),
        (
            "a time zone that is a path",
            edited(('timezone = "Europe/Amsterdam"', 'timezone = "../../etc/passwd"')),
            ["household.timezone: not an IANA time zone: '../../etc/passwd'"],
        ),
        (
            "a plugin that is not installed",
            edited(('plugin = "webhook"', 'plugin = "carrier-pigeon"')),
            ["sources[0].plugin: unknown plugin 'carrier-pigeon' (installed: webhook)"],
        ),
        (
            "a webhook secret that is not a whsec_ secret",
            edited((f'secret = "{SECRET}"', 'secret = "whsec_!!!"')),
            ["sources[0].secret: not a whsec_ secret (whsec_ followed by base64)"],
        ),
        (
            "a webhook source with neither secret nor token",
            edited((f'secret = "{SECRET}"', ""), ('token = "test-token"', "")),
            ["sources[0]: a webhook source needs a secret (whsec_...) or a token"],
        ),
        (
            "a misspelt plugin setting",
            edited(('token = "test-token"', 'tokn = "test-token"')),
            ["sources[0].tokn: Extra inputs are not permitted"],
        ),
        (
            "a role that is not guardian or child",
            edited(('role = "child"', 'role = "parent"')),
            ["members[0].role: Input should be 'guardian' or 'child'"],
        ),
        (
            "a privacy level that does not exist",
            edited(('content = "senders"', 'content = "everything"')),
            ["policies.school-night.content: Input should be 'counts', 'senders' or 'preview'"],
        ),
        (
            "a port out of range",
            edited(("port = 8080", "port = 70000")),
            ["server.port: Input should be less than or equal to 65535"],
        ),
        (
            "a channel that appends every delivery to a shell start-up file",
            edited(
                (
                    'channels = ["json://127.0.0.1:9/mia"]',
                    'channels = ["json://127.0.0.1:9/mia", "console://?file=/home/g/.bashrc"]',
                )
            ),
            [
                "members[0].channels[1]: console:// writes only to var/deliveries.log "
                "(console://?file=var/deliveries.log), no other file"
            ],
        ),
        (
            "a channel that reads a template from the server's files",
            edited(
                (
                    'channels = ["json://127.0.0.1:9/mia"]',
                    'channels = ["discord://123456/abcdefg?template=/etc/passwd"]',
                )
            ),
            [
                "members[0].channels[0]: template= names a file on the server: a channel "
                "never reads the server's files"
            ],
        ),
        (
            "a trusted proxy given by its name",
            edited(("port = 8080", 'port = 8080\ntrusted_proxies = ["::1", "nginx"]')),
            ["server.trusted_proxies[1]: not an IP address or network: 'nginx'"],
        ),
        (
            "a misspelt table",
            edited(("[server]", "[servr]")),
            ["servr: Extra inputs are not permitted"],
        ),
        (
            "a database that Guardian cannot use",
            BASE + '[database]\nurl = "mysql://db/guardian"\n',
            ["database.url: use sqlite://PATH or postgres://user:pass@host/db"],
        ),
        (
            "no household",
            edited(("[household]", "[not_the_household]")),
            [
                "household: Field required",
                "not_the_household: Extra inputs are not permitted",
            ],
        ),
        (
            "a member id with capitals: the source's member no longer matches either",
            edited(('id = "mia"', 'id = "Mia"')),
            [
                "members[0].id: String should match pattern '^[a-z0-9][a-z0-9_-]{0,63}$'",
                "sources[0].member: unknown member 'mia'",
            ],
        ),
    ],
)
def test_errors_are_named_by_their_path(
    tmp_path: Path, story: str, text: str, expected: list[str]
) -> None:
    assert sorted(errors_of(write(tmp_path, text))) == sorted(expected), story


EDGE_POLICY = """
[policies.edge]
quiet = [{{ days = "daily", start = "22:00", end = "07:00" }}]
{line}
"""


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            'burst = { limit = 3, per = "10m", notice_every = "999999999d" }',
            "policies.edge.burst.notice_every: must be between 1m and 1d, not 999999999d",
        ),
        (
            'burst = { limit = 3, per = "2d", notice_every = "15m" }',
            "policies.edge.burst.per: must be between 1s and 1d, not 2d",
        ),
        (
            'burst = { limit = 1001, per = "10m", notice_every = "15m" }',
            "policies.edge.burst.limit: Input should be less than or equal to 1000",
        ),
        (
            'burst = { limit = 3, per = "10m", notice_every = "99999999999999999999d" }',
            "policies.edge.burst.notice_every: too long for a duration: '99999999999999999999d'",
        ),
        (
            "retention = 999999999",
            "policies.edge.retention: Input should be less than or equal to 3650",
        ),
        (
            'breakthrough = { repeated = { count = 3, within = "100000d" } }',
            "policies.edge.breakthrough.repeated.within: must be between 1s and 1d, not 100000d",
        ),
        (
            'storm = { count = 5000, within = "30m" }',
            "policies.edge.storm.count: Input should be less than or equal to 1000",
        ),
        (
            f'breakthrough = {{ keywords = ["{"x" * 101}"] }}',
            "policies.edge.breakthrough.keywords[0]: String should have at most 100 characters",
        ),
        (
            'breakthrough = { keywords = ["  "] }',
            "policies.edge.breakthrough.keywords[0]: an empty keyword matches nothing",
        ),
        (
            "summaries = [" + ", ".join(['"12:00"'] * 49) + "]",
            "policies.edge.summaries: List should have at most 48 items after validation, not 49",
        ),
    ],
)
def test_values_beyond_the_bounds_are_refused_by_their_path(
    tmp_path: Path, line: str, expected: str
) -> None:
    assert errors_of(write(tmp_path, BASE + EDGE_POLICY.format(line=line))) == [expected]


@pytest.mark.parametrize(
    ("table", "line", "expected"),
    [
        ("[delivery]", 'timeout = "1d"', "delivery.timeout: must be between 1s and 10m, not 1d"),
        (
            "[delivery]",
            'backoff_max = "1000d"',
            "delivery.backoff_max: must be between 1s and 7d, not 1000d",
        ),
        (
            "[delivery]",
            "max_attempts = 100000",
            "delivery.max_attempts: Input should be less than or equal to 100",
        ),
        (
            "[delivery]",
            'start_delay = "2d"',
            "delivery.start_delay: must be between 0s and 1h, not 2d",
        ),
        (
            "[server]",
            'request_timeout = "0s"',
            "server.request_timeout: a duration must be positive: '0s'",
        ),
        (
            "[server]",
            'shutdown_timeout = "365d"',
            "server.shutdown_timeout: must be between 1s and 10m, not 365d",
        ),
    ],
)
def test_server_values_beyond_the_bounds_are_refused(
    tmp_path: Path, table: str, line: str, expected: str
) -> None:
    text = (
        BASE.replace(f"{table}\n", f"{table}\n{line}\n")
        if table in BASE
        else (BASE + f"\n{table}\n{line}\n")
    )
    assert errors_of(write(tmp_path, text)) == [expected]


def test_every_error_is_listed_at_once(tmp_path: Path) -> None:
    text = edited(
        ('start = "21:30"', 'start = "25:00"'),
        ('timezone = "Europe/Amsterdam"', 'timezone = "Mars/Olympus_Mons"'),
        ('policy = "school-night"', 'policy = "weekend"'),
        ('member = "mia"', 'member = "max"'),
        (f'secret = "{SECRET}"', 'secret = "whsec_!!!"'),
        ('id = "sam"', 'id = "mia"'),
    )
    assert sorted(errors_of(write(tmp_path, text))) == sorted(
        [
            "policies.school-night.quiet[0].start: not a time (use HH:MM, 00:00-23:59)",
            "household.timezone: not an IANA time zone: 'Mars/Olympus_Mons'",
            "members[0].policy: unknown policy 'weekend'",
            "members[1].id: duplicate id 'mia'",
            "sources[0].member: unknown member 'max'",
            "sources[0].secret: not a whsec_ secret (whsec_ followed by base64)",
        ]
    )


def test_a_missing_file_is_said_so(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"
    assert errors_of(path) == [f"{path}: settings file not found"]


@pytest.mark.parametrize(
    ("story", "content"),
    [
        ("a time without quotes", BASE.replace('start = "21:30"', "start = 21:30").encode()),
        ("an unclosed table header", b"[household\nname = 'x'\n"),
        ("a key without a value", b"[server]\nport =\n"),
        ("not UTF-8 at all", b'[household]\nname = "\xff\xfe"\n'),
    ],
)
def test_invalid_toml_is_reported_not_raised(tmp_path: Path, story: str, content: bytes) -> None:
    path = tmp_path / "settings.toml"
    path.write_bytes(content)
    errors = errors_of(path)
    assert len(errors) == 1, story
    assert errors[0].startswith(f"{path}: not valid TOML: "), story


# --- the environment ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("story", "env", "read", "expected"),
    [
        (
            "a table value: the port",
            {"GUARDIAN_SERVER__PORT": "9000"},
            lambda s: (s.server.port, s.server.host),
            (9000, "127.0.0.2"),  # the rest of [server] stays as the file says
        ),
        (
            "a source's secret, by the source's id",
            {"GUARDIAN_SOURCES__MIA_PHONE__SECRET": OTHER_SECRET},
            lambda s: s.sources[0].plugin_settings(),
            {"secret": OTHER_SECRET, "token": "test-token"},
        ),
        (
            "a member's channels, by the member's id, as JSON",
            {"GUARDIAN_MEMBERS__MIA__CHANNELS": '["json://127.0.0.1:9/x"]'},
            lambda s: ([c.get_secret_value() for c in s.members[0].channels], s.members[0].name),
            (["json://127.0.0.1:9/x"], "Mia"),
        ),
        (
            "another member is left alone",
            {"GUARDIAN_MEMBERS__SAM__CHANNELS": '["json://127.0.0.1:9/sam"]'},
            lambda s: [[c.get_secret_value() for c in m.channels] for m in s.members],
            [["json://127.0.0.1:9/mia"], ["json://127.0.0.1:9/sam"]],
        ),
        (
            "a policy with a dash in its name, by name",
            {"GUARDIAN_POLICIES__SCHOOL_NIGHT__CONTENT": "preview"},
            lambda s: (sorted(s.policies), s.policies["school-night"].content),
            (["school-night"], "preview"),
        ),
        (
            "one value deep inside a policy",
            {"GUARDIAN_POLICIES__SCHOOL_NIGHT__BURST__LIMIT": "5"},
            lambda s: s.policies["school-night"].burst,
            BurstSettings(limit=5, per="10m", notice_every="15m"),  # the rest of it stays
        ),
        (
            "the household's zone",
            {"GUARDIAN_HOUSEHOLD__TIMEZONE": "America/New_York"},
            lambda s: s.household.timezone,
            "America/New_York",
        ),
        (
            "GUARDIAN_CONFIG is the CLI's, not a setting",
            {"GUARDIAN_CONFIG": "/elsewhere/settings.toml"},
            lambda s: s.server.port,
            8080,
        ),
    ],
)
def test_environment_overrides(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    story: str,
    env: dict[str, str],
    read: Callable[[Settings], Any],
    expected: Any,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert read(load_settings(write(tmp_path, BASE), PLUGINS)) == expected, story


@pytest.mark.parametrize(
    ("story", "env", "expected"),
    [
        (
            "a port that is not a number",
            {"GUARDIAN_SERVER__PORT": "eighty"},
            "server.port: Input should be a valid integer, unable to parse string as an integer",
        ),
        (
            "a bad secret from the environment is checked by the plugin",
            {"GUARDIAN_SOURCES__MIA_PHONE__SECRET": "whsec_***"},
            "sources[0].secret: not a whsec_ secret (whsec_ followed by base64)",
        ),
        (
            "a policy reference from the environment is checked",
            {"GUARDIAN_MEMBERS__MIA__POLICY": "holiday"},
            "members[0].policy: unknown policy 'holiday'",
        ),
        (
            "a zone from the environment is checked",
            {"GUARDIAN_HOUSEHOLD__TIMEZONE": "Europe/Atlantis"},
            "household.timezone: not an IANA time zone: 'Europe/Atlantis'",
        ),
        (
            "a table that is not JSON is reported, not raised",
            {"GUARDIAN_SERVER": "port=9000"},
            'environment: error parsing value for field "server"',
        ),
    ],
)
def test_environment_errors_are_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, story: str, env: dict[str, str], expected: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert errors_of(write(tmp_path, BASE)) == [expected], story


# --- secrets ------------------------------------------------------------------------------------


def test_secrets_are_secret_str_and_stay_out_of_repr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GUARDIAN_SOURCES__MIA_PHONE__TOKEN", "token-from-the-environment")
    text = BASE + '[database]\nurl = "postgres://guardian:hunter2@db.internal/guardian"\n'
    settings = load_settings(write(tmp_path, text), PLUGINS)

    channel = settings.members[0].channels[0]
    assert isinstance(channel, SecretStr)
    assert channel.get_secret_value() == "json://127.0.0.1:9/mia"
    extra = settings.sources[0].model_extra or {}
    assert all(isinstance(value, SecretStr) for value in extra.values())
    assert settings.sources[0].plugin_settings() == {
        "secret": SECRET,
        "token": "token-from-the-environment",
    }
    shown = [repr(settings), str(settings), settings.model_dump_json(exclude={"database"})]
    for text_shown in shown:
        for secret in (SECRET, "token-from-the-environment", "127.0.0.1:9/mia"):
            assert secret not in text_shown
    assert "hunter2" not in repr(settings)
    assert "hunter2" not in str(settings)


def test_the_demo_secrets_stay_out_of_repr() -> None:
    settings = load_settings(DEMO, PLUGINS)
    for secret in ("whsec_ZGVtby1zZWNyZXQtZm9yLWd1YXJkaWFuLWRlbW8=", "demo-token", "console://"):
        assert secret not in repr(settings)
    webhook = WebhookSettings.model_validate(settings.sources[0].plugin_settings())
    assert webhook.token is not None
    assert webhook.token.get_secret_value() == "demo-token"


def test_languages_default_to_english_and_a_member_may_have_their_own(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, BASE), PLUGINS)
    assert settings.household.language == "en"
    assert [m.language for m in settings.members] == [None, None]
    dutch = edited(
        ('timezone = "Europe/Amsterdam"', 'timezone = "Europe/Amsterdam"\nlanguage = "nl"'),
        ('role = "guardian"', 'role = "guardian"\nlanguage = "de"'),
    )
    settings = load_settings(write(tmp_path, dutch), PLUGINS)
    assert settings.household.language == "nl"
    assert [m.language for m in settings.members] == [None, "de"]


def test_an_unknown_language_is_refused_by_its_path(tmp_path: Path) -> None:
    text = edited(
        ('timezone = "Europe/Amsterdam"', 'timezone = "Europe/Amsterdam"\nlanguage = "Dutch"'),
        ('role = "guardian"', 'role = "guardian"\nlanguage = "pt"'),
    )
    assert errors_of(write(tmp_path, text)) == [
        "household.language: not a language Guardian speaks: 'Dutch' "
        "(use one of en, nl, de, fr, es)",
        "members[1].language: not a language Guardian speaks: 'pt' (use one of en, nl, de, fr, es)",
    ]
