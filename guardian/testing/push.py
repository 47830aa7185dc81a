"""The conformance suite for push plugins (webhooks): `check_conformance` runs the checks every
push plugin must pass against a `PluginCase`, through a mounted Guardian, and
`conformance_tests` turns them into one pytest test per check. The suite owns the signature
tampering table; a network gives how it signs (`Signing`) and its particular checks.

pytest is imported only by `conformance_tests`; the rest needs no test framework. Most of the
length is the tampering table, which every push network shares.
"""

from __future__ import annotations

import asyncio
from collections.abc import (
    Awaitable,
    Callable,
    Collection,
    Mapping,
    Sequence,
)
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from multidict import CIMultiDict

from guardian.plugin import (
    PushPlugin,
)
from guardian.testing.harness import (
    CONFORMANCE_NOW,
    LEAK_CHECK,
    MEMBER_ID,
    SETTINGS_CHECK,
    Mounted,
    SignedRequest,
    _expect,
    _found,
    _is_secret_field,
    _plain,
    check_plugin_settings,
    chosen_checks,
    mount,
)

#: How long after the first delivery the suite replays it, as a network retrying would.
REPLAY_AFTER = timedelta(seconds=30)


#: Added to a forged signature header, raw: `hmac.compare_digest` raises on a `str` that is not
#: ASCII, and aiohttp hands bytes that are not UTF-8 over as surrogates, which `str.encode()`
#: refuses; compare bytes made with `encode(errors="surrogateescape")` (or "replace").
GARBLE = "\u00fc\u2713".encode() + b"\xff\xfe"


#: The secret the tampering table signs with where it signs with the wrong one.
WRONG_SECRET = "conformance-wrong-secret-4c1e"  # noqa: S105 - wrong on purpose


#: One request the tampering table sends: made from the case's message (its unique string, and
#: the instant it is sent at).
Tampering = Callable[[str, datetime], SignedRequest]


@dataclass(frozen=True)
class Signing:
    """How a network signs its requests, for the tampering table (`PluginCase.signing`)."""

    #: The body signed at the instant with the secret (the case's own, or `WRONG_SECRET`) as
    #: the network signs it.
    sign: Callable[[bytes, datetime, str], SignedRequest]
    #: The secret the case's settings hold.
    secret: str
    #: The header that carries the signature (or the secret itself).
    header: str
    #: The header that carries the signed timestamp, and how far from the time of receipt it may
    #: be; both None where the network signs no timestamp.
    timestamp_header: str | None = None
    tolerance: timedelta | None = None
    #: False where the signature does not cover the body (a secret token, as Telegram's).
    covers_body: bool = True
    #: Tamperings particular to the network, by name: each request must get 401 (the check is
    #: called `{name}-401`).
    particular: Mapping[str, Tampering] = field(default_factory=dict)


@dataclass(frozen=True)
class PluginCase:
    """What the conformance suite needs to know about one plugin."""

    plugin: type[PushPlugin[Any]]
    #: Valid settings for a source of this plugin (with secrets).
    settings: Mapping[str, Any]
    #: Values that must never appear in repr, logs or error bodies.
    secrets: Sequence[str]
    #: A correctly signed request carrying exactly one message whose network id is derived from
    #: the given unique string, signed at the given instant.
    message: Callable[[str, datetime], SignedRequest]
    #: Signed requests (statuses, edits, joins, bot echoes, ...) that must yield no notification
    #: (answered 2xx).
    non_messages: Callable[[datetime], Sequence[SignedRequest]]
    #: The same request with a wrong signature: 401.
    forge: Callable[[SignedRequest], SignedRequest]
    #: The same request with its signature or secret header removed: 401.
    unsign: Callable[[SignedRequest], SignedRequest]
    #: A request signed too long before the given instant: 401. None where the network signs no
    #: timestamp (Telegram, Twilio, WhatsApp).
    stale: Callable[[str, datetime], SignedRequest] | None = None
    #: What the network expects on success (Twilio: 200 with empty TwiML).
    accepted_status: int = 202
    #: Any body, signed at the given instant as the network signs: lets a fuzz test feed the
    #: plugin mangled bodies that pass its signature check. None where it cannot be offered.
    sign: Callable[[bytes, datetime], SignedRequest] | None = None
    #: For signatures over the URL (Twilio): requests reach the plugin with `request.url` on this
    #: origin (`https://guardian.example.org`) or, when it has a path, as exactly this URL plus
    #: the request's path, as behind a reverse proxy. Alternatively the case sets the plugin's
    #: own `public_url` setting.
    public_url: str | None = None
    #: How the network signs: with it the suite runs its tampering table (a wrong secret, the
    #: body changed, the signature in another header, each tampered timestamp, and what is
    #: particular to the network), each tampered request answered 401 and storing nothing.
    signing: Signing | None = None


async def check_conformance(
    case: PluginCase, folder: Path, *, only: Collection[str] | None = None
) -> None:
    """Run the conformance checks (all, or those named in `only`) on one mounted plugin.

    Raises one AssertionError listing every check that failed, each with what was expected and
    what happened. No secret may appear in any log line of the whole run or any error body.
    """
    names = chosen_checks(conformance_checks(case), only, "conformance checks", "this case has")
    failures: list[str] = []
    if SETTINGS_CHECK in names:
        try:
            check_settings_errors(case)
        except AssertionError as error:
            failures.append(f"{SETTINGS_CHECK}: {error}")
    applicable = _checks(case)
    checks = [(name, applicable[name]) for name in names if name in applicable]
    if checks:
        async with mount(
            case.plugin,
            case.settings,
            now=CONFORMANCE_NOW,
            folder=folder,
            public_url=case.public_url,
        ) as mounted:
            for name, check in checks:
                try:
                    await check(case, mounted)
                except AssertionError as error:
                    failures.append(f"{name}: {error}")
        # After shutdown, so that the whole run's logs are checked.
        where = {"the logs": mounted.logs}
        where.update(
            {
                f"the error body #{n} ({reply.status})": reply.body.decode("utf-8", "replace")
                for n, reply in enumerate(mounted.error_replies, start=1)
            }
        )
        leaks = _leaks(case, where)
        if leaks:
            failures.append(f"{LEAK_CHECK}: {leaks}")
    if failures:
        listed = "\n".join(f"  - {failure}" for failure in failures)
        raise AssertionError(
            f"{case.plugin.__name__} fails {len(failures)} conformance check(s):\n{listed}"
        )


def conformance_checks(case: PluginCase) -> list[str]:
    """The names of the checks that apply to `case`, in the order they run."""
    return [*_checks(case), SETTINGS_CHECK]


def conformance_tests(
    case: PluginCase, *, known_failures: Mapping[str, str] | None = None
) -> Callable[[str, Path], None]:
    """One pytest test per conformance check: `test_conformance = conformance_tests(CASE)`.

    Each check runs on its own mounted app (in pytest's `tmp_path`) and reports its own leaks.
    `known_failures` maps check names to the reason they fail for now: those run as strict
    xfails, so the day they pass the test says to take them out.
    """
    import pytest  # only here: the rest of the kit needs no test framework

    known = dict(known_failures or {})
    names = conformance_checks(case)
    unknown = sorted(set(known) - set(names))
    if unknown:
        raise ValueError(f"unknown conformance checks {unknown} (this case has {names})")
    checks = [
        pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=known[name]))
        if name in known
        else name
        for name in names
    ]

    @pytest.mark.parametrize("check", checks)
    def test_conformance(check: str, tmp_path: Path) -> None:
        asyncio.run(check_conformance(case, tmp_path, only=[check]))

    test_conformance.__doc__ = f"{case.plugin.__name__} passes Guardian's conformance suite."
    return test_conformance


async def _message_accepted(case: PluginCase, guardian: Mounted) -> None:
    before = {n.external_id for n in await guardian.notifications()}
    reply = await guardian.send(case.message("conformance-one", guardian.clock.now()))
    _expect(
        reply.status == case.accepted_status,
        f"a correctly signed message was answered {reply.describe()}, "
        f"expected {case.accepted_status}",
    )
    new = [n for n in await guardian.notifications() if n.external_id not in before]
    _expect(len(new) == 1, f"one message should store one notification, it stored {len(new)}")
    stored = new[0]
    _expect(
        stored.sender_address.startswith(f"{stored.network}:") and bool(stored.sender_id),
        f"the sender address {stored.sender_address!r} is not `network:id`",
    )
    _expect(stored.member == MEMBER_ID, f"stored for member {stored.member!r}, not the source's")


async def _replay_is_duplicate(case: PluginCase, guardian: Mounted) -> None:
    request = case.message("conformance-replay", guardian.clock.now())
    first = await guardian.send(request)
    _expect(
        first.status == case.accepted_status,
        f"a correctly signed message was answered {first.describe()}",
    )
    count = len(await guardian.notifications())
    await guardian.clock.advance(REPLAY_AFTER)
    again = await guardian.send(request)
    _expect(
        again.status == case.accepted_status,
        f"the same request again (a network's retry) was answered {again.describe()}, expected "
        f"{case.accepted_status}: a network retries what it does not see succeed",
    )
    stored = len(await guardian.notifications()) - count
    _expect(
        stored == 0,
        f"the same request again stored {stored} more notification(s): the external id must be "
        "the network's own message id, so that a retry is a duplicate",
    )


def _refused(what: str, make: Callable[[PluginCase, Mounted], SignedRequest]) -> _Check:
    async def check(case: PluginCase, guardian: Mounted) -> None:
        count = len(await guardian.notifications())
        reply = await guardian.send(make(case, guardian))
        _expect(reply.status == 401, f"{what} was answered {reply.describe()}, expected 401")
        stored = len(await guardian.notifications()) - count
        _expect(stored == 0, f"{what} stored {stored} notification(s)")

    return check


async def _garbled_signature(case: PluginCase, guardian: Mounted) -> None:
    original = case.message("conformance-garbled", guardian.clock.now())
    forged = case.forge(original)
    headers = [
        (name, value.encode() + (GARBLE if original.headers.get(name) != value else b""))
        for name, value in forged.headers.items()
    ]
    count = len(await guardian.notifications())
    reply = await guardian._send_raw(forged.method, forged.path, headers, forged.body)
    _expect(
        reply.status == 401,
        "the forged request with bytes that are not ASCII (nor UTF-8) added to the headers that "
        f"`forge` changed was answered {reply.describe()}, expected 401: bad input is never a 500",
    )
    stored = len(await guardian.notifications()) - count
    _expect(stored == 0, f"a garbled signature stored {stored} notification(s)")


async def _non_messages_store_nothing(case: PluginCase, guardian: Mounted) -> None:
    requests = case.non_messages(guardian.clock.now())
    for index, request in enumerate(requests):
        count = len(await guardian.notifications())
        reply = await guardian.send(request)
        what = f"non-message #{index} ({request.method} {request.path or '/'})"
        _expect(200 <= reply.status < 300, f"{what} was answered {reply.describe()}, expected 2xx")
        stored = len(await guardian.notifications()) - count
        _expect(stored == 0, f"{what} stored {stored} notification(s), expected none")


async def _secrets_stay_secret(case: PluginCase, guardian: Mounted) -> None:
    _expect(bool(case.secrets) and all(case.secrets), "the case lists no (or an empty) secret")
    model = case.plugin.settings_model.model_validate(case.settings)
    plain = [
        name
        for name, value in case.settings.items()
        if _plain(value) in case.secrets and not _is_secret_field(case.plugin, name)
    ]
    _expect(not plain, f"settings {plain} hold secrets but are not declared as SecretStr")
    leaks = _leaks(
        case,
        {
            "repr(plugin)": repr(guardian.plugin),
            "str(plugin)": str(guardian.plugin),
            "repr(settings)": repr(model),
            "str(settings)": str(model),
            "the settings as JSON": model.model_dump_json(),
        },
    )
    _expect(not leaks, f"secrets leaked: {leaks}")


async def _accepted_within_tolerance(case: PluginCase, guardian: Mounted) -> None:
    signing = _signing(case)
    tolerance = _tolerance(signing)
    now = guardian.clock.now()
    body = case.message("conformance-recent", now).body
    count = len(await guardian.notifications())
    reply = await guardian.send(
        signing.sign(body, now - tolerance + timedelta(seconds=1), signing.secret)
    )
    _expect(
        reply.status == case.accepted_status,
        f"a request signed a second less than {tolerance} ago was answered {reply.describe()}, "
        f"expected {case.accepted_status}",
    )
    stored = len(await guardian.notifications()) - count
    _expect(stored == 1, f"a request signed within the tolerance stored {stored} notification(s)")


def _tampered(what: str, make: Callable[[PluginCase, Signing, datetime], SignedRequest]) -> _Check:
    return _refused(what, lambda case, g: make(case, _signing(case), g.clock.now()))


def _wrong_secret(case: PluginCase, signing: Signing, now: datetime) -> SignedRequest:
    return signing.sign(case.message("conformance-wrong-secret", now).body, now, WRONG_SECRET)


def _body_changed(case: PluginCase, signing: Signing, now: datetime) -> SignedRequest:
    signed = case.message("conformance-body-signed", now)
    return replace(signed, body=case.message("conformance-body-sent", now).body)


def _in_another_header(case: PluginCase, signing: Signing, now: datetime) -> SignedRequest:
    signed = case.message("conformance-other-header", now)
    other = "X-Signature" if signing.header.lower() == "authorization" else "Authorization"
    return _with_headers(signed, {signing.header: None, other: _header(signed, signing.header)})


def _particular(name: str, make: Tampering) -> _Check:
    return _refused(
        f"the tampering {name!r} particular to the network",
        lambda case, g: make(f"conformance-{name}", g.clock.now()),
    )


def _signed_at(
    shift: Callable[[timedelta], timedelta], unique: str
) -> Callable[[PluginCase, Signing, datetime], SignedRequest]:
    """The message signed at now + `shift(tolerance)`."""

    def make(case: PluginCase, signing: Signing, now: datetime) -> SignedRequest:
        body = case.message(unique, now).body
        return signing.sign(body, now + shift(_tolerance(signing)), signing.secret)

    return make


def _timestamp_set(
    value: Callable[[str, Signing, datetime], str | None], unique: str
) -> Callable[[PluginCase, Signing, datetime], SignedRequest]:
    """The message correctly signed, then its timestamp header changed (None: removed)."""

    def make(case: PluginCase, signing: Signing, now: datetime) -> SignedRequest:
        signed = signing.sign(case.message(unique, now).body, now, signing.secret)
        header = _timestamp_header(signing)
        return _with_headers(signed, {header: value(_header(signed, header), signing, now)})

    return make


def _timestamp_of_another_instant(stamp: str, signing: Signing, now: datetime) -> str:
    later = signing.sign(b"", now + timedelta(seconds=1), signing.secret)
    return _header(later, _timestamp_header(signing))


_Check = Callable[[PluginCase, Mounted], Awaitable[None]]


#: The checks every case gets, in the order they run (stale only where the network signs a time).
_CHECKS: dict[str, _Check] = {
    "message-accepted": _message_accepted,
    "replay-is-duplicate": _replay_is_duplicate,
    "forged-signature-401": _refused(
        "a request with a wrong signature",
        lambda case, g: case.forge(case.message("conformance-forged", g.clock.now())),
    ),
    "missing-signature-401": _refused(
        "a request without its signature",
        lambda case, g: case.unsign(case.message("conformance-unsigned", g.clock.now())),
    ),
    "garbled-signature-401": _garbled_signature,
    "stale-signature-401": _refused(
        "a request signed too long ago",
        lambda case, g: _stale(case)("conformance-stale", g.clock.now()),
    ),
}


#: The tampering table, for cases that say how the network signs (`PluginCase.signing`).
_TAMPERING: dict[str, _Check] = {
    "wrong-secret-401": _tampered("a request signed with another secret", _wrong_secret),
    "signature-in-another-header-401": _tampered(
        "the signature sent in another header", _in_another_header
    ),
}


#: ... where the signature covers the body.
_BODY_TAMPERING: dict[str, _Check] = {
    "body-changed-401": _tampered(
        "a message's signature sent with another message's body", _body_changed
    ),
}


#: ... where the network signs a timestamp.
_TIMESTAMP_TAMPERING: dict[str, _Check] = {
    "missing-timestamp-401": _tampered(
        "a request without its timestamp",
        _timestamp_set(lambda stamp, signing, now: None, "conformance-no-timestamp"),
    ),
    "timestamp-not-a-number-401": _tampered(
        "a request whose timestamp is not a number",
        _timestamp_set(lambda stamp, signing, now: "soon", "conformance-timestamp-word"),
    ),
    "timestamp-not-an-integer-401": _tampered(
        "a request whose timestamp has a fraction added",
        _timestamp_set(lambda stamp, signing, now: f"{stamp}.5", "conformance-timestamp-fraction"),
    ),
    "timestamp-not-the-signed-one-401": _tampered(
        "a request whose timestamp is a second off the one signed",
        _timestamp_set(_timestamp_of_another_instant, "conformance-timestamp-other"),
    ),
    "signed-before-tolerance-401": _tampered(
        "a request signed a second more than the tolerance ago",
        _signed_at(lambda tolerance: -tolerance - timedelta(seconds=1), "conformance-too-old"),
    ),
    "signed-after-tolerance-401": _tampered(
        "a request signed a second more than the tolerance ahead",
        _signed_at(lambda tolerance: tolerance + timedelta(seconds=1), "conformance-too-new"),
    ),
    "signed-within-tolerance-accepted": _accepted_within_tolerance,
}


#: The last checks of every case.
_LAST_CHECKS: dict[str, _Check] = {
    "non-messages-store-nothing": _non_messages_store_nothing,
    "secrets-stay-secret": _secrets_stay_secret,
}


def _checks(case: PluginCase) -> dict[str, _Check]:
    """The checks that apply to `case` (but the settings check), by name, in the order they run."""
    checks = {
        name: check
        for name, check in _CHECKS.items()
        if name != "stale-signature-401" or case.stale is not None
    }
    signing = case.signing
    if signing is not None:
        checks.update(_TAMPERING)
        if signing.covers_body:
            checks.update(_BODY_TAMPERING)
        if signing.timestamp_header is not None:
            checks.update(_TIMESTAMP_TAMPERING)
        for name, tampering in signing.particular.items():
            check_name = f"{name}-401"
            if check_name in checks or check_name in _LAST_CHECKS:
                raise ValueError(f"the particular tampering {name!r} is one of the suite's own")
            checks[check_name] = _particular(name, tampering)
    checks.update(_LAST_CHECKS)
    return checks


def check_settings_errors(case: PluginCase) -> None:
    """Settings errors name the field: a missing required setting, settings without any
    secret, an unknown setting; the valid settings are accepted; no message echoes a secret."""
    check_plugin_settings(case.plugin, case.settings, case.secrets)


def _signing(case: PluginCase) -> Signing:
    assert case.signing is not None, "the tampering table runs only for cases with `signing`"
    return case.signing


def _tolerance(signing: Signing) -> timedelta:
    assert signing.tolerance is not None, "a signed timestamp needs `Signing.tolerance`"
    return signing.tolerance


def _timestamp_header(signing: Signing) -> str:
    assert signing.timestamp_header is not None, "the timestamp rows need `timestamp_header`"
    return signing.timestamp_header


def _header(request: SignedRequest, name: str) -> str:
    """A header of `request`, looked up as HTTP does: whatever its case."""
    found = CIMultiDict(request.headers).get(name)
    assert found is not None, f"the signed request has no {name} header: {dict(request.headers)}"
    return found


def _with_headers(request: SignedRequest, changes: Mapping[str, str | None]) -> SignedRequest:
    """The same request with headers set to new values, or removed where the value is None."""
    lowered = {name.lower() for name in changes}
    headers = {
        name: value for name, value in request.headers.items() if name.lower() not in lowered
    }
    headers.update({name: value for name, value in changes.items() if value is not None})
    return replace(request, headers=headers)


def _stale(case: PluginCase) -> Callable[[str, datetime], SignedRequest]:
    assert case.stale is not None, "the stale check runs only for cases with `stale`"
    return case.stale


def _leaks(case: PluginCase, where: Mapping[str, str]) -> list[str]:
    return _found(case.secrets, where)
