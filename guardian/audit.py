"""The audit log: what each admin change was before and after, and the log read as sentences.

`Admin.change()` keeps, for every change, the changed fields of what it changed as they were
before and after (`snapshot`, `difference`) and the members it is about (`members_of`), taken
from the household as loaded before the change and again inside its transaction. Nothing here
holds a secret: a channel is kept in its privacy form, a source's settings are never kept.

`told()` turns an entry into a sentence ("Sam made Noor trusted", "Sam changed school-night's
quiet hours from Sun–Thu 21:30–07:00 to Sun–Thu 22:00–07:00") and a list of before → after
lines. Every word a person reads is in the tables and small functions below, so that it can be
translated in one place: that is why both halves are one module (a sentence needs the same
snapshot the change keeps).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from guardian.delivery import privacy_url
from guardian.household import HouseholdView
from guardian.i18n import N_, NAMES, Language, language
from guardian.windows import days_label, parse_days

ENGLISH = language("en")

#: What the filter calls each kind of change (the part of the action before the dot).
KINDS: dict[str, str] = {
    # Translators: the kinds of change in the Audit log's filter; an API token lets a program
    # use Guardian's API.
    "contact": N_("Contacts"),
    "member": N_("Members"),
    "channel": N_("Channels"),
    "policy": N_("Policies"),
    "household": N_("Household"),
    "source": N_("Sources"),
    "token": N_("API tokens"),
    "user": N_("Logins"),
    "quiet": N_("Quiet hours tonight"),
    "delivery": N_("Deliveries"),
}

#: The fields of a change, as a sentence names them.
FIELD_LABELS: dict[str, str] = {
    # Translators: the settings a change in the Audit log is about, as in "Sam changed Mia's
    # quiet hours from ... to ...".
    "name": N_("name"),
    "trust": N_("trust"),
    "addresses": N_("addresses"),
    "policy": N_("policy"),
    "language": N_("language"),
    "channels": N_("channels"),
    "timezone": N_("time zone"),
    "quiet": N_("quiet hours"),
    "summaries": N_("summary times"),
    "burst": N_("burst limit"),
    "breakthrough.keywords": N_("urgent words"),
    "breakthrough.repeated": N_("repeated-contact rule"),
    "content": N_("what the member's own summaries show"),
    "guardian_view": N_("what guardians see"),
    "report": N_("guardians' report time"),
    "storm": N_("storm alert"),
    "retention": N_("how long messages are kept"),
    "tonight": N_("tonight's quiet hours"),
    "settings": N_("settings"),
}

TRUST_WORDS = {
    # Translators: a contact's trust, as the Audit log shows it before → after.
    "trusted": N_("trusted (breaks through quiet hours)"),
    "normal": N_("normal (follows the policy)"),
    "muted": N_("muted (never pushed)"),
}
LEVEL_WORDS = {
    # Translators: what a summary or a guardians' report shows, as the Audit log shows it.
    "counts": N_("how many messages only"),
    "senders": N_("how many and from whom"),
    "preview": N_("from whom, with the start of each message"),
}
# Translators: the Audit log's word for a setting that was empty before or after a change.
NOTHING = N_("none")
# Translators: the Audit log's word for a rule (burst, storm, repeated contact) switched off.
OFF = N_("off")
# Translators: tonight's quiet hours in the Audit log, from a weekday and time to another.
TONIGHT_SPAN = N_("{start} – {end}")
TONIGHT_NONE = N_("no quiet hours")

#: Sentences by action; {actor} made the change, {name} is what it changed.
SENTENCES: dict[str, str] = {
    # Translators: the Audit log's sentences. {actor} is who made the change (a person's
    # name, or "An admin (command line)"); {name} is the member, contact, policy, login or
    # token it was about. Each is shown followed by a full stop.
    "contact.create": N_("{actor} added {name} as a contact"),
    "contact.delete": N_("{actor} deleted the contact {name}"),
    "contact.merge": N_("{actor} merged {other} into {name}"),
    "contact.unmerge": N_("{actor} undid the merge of {name} into {into}"),
    "policy.create": N_("{actor} created the policy {name}"),
    "policy.delete": N_("{actor} deleted the policy {name}"),
    # Translators: {channel} is where Guardian sends, written as an address.
    "channel.add": N_("{actor} added a channel for {name}: {channel}"),
    "channel.remove": N_("{actor} removed a channel of {name}: {channel}"),
    "channel.test.ok": N_("{actor} sent a test message to {name}'s channel {channel}: it worked"),
    # Translators: {status} is the channel's answer as Apprise names it (FAILURE, TIMEOUT).
    "channel.test.failed": N_(
        "{actor} sent a test message to {name}'s channel {channel}: it failed ({status})"
    ),
    # Translators: {field} is what was renewed: a secret, a token.
    "source.rotate": N_("{actor} gave the source {name} a new {field}"),
    "token.create": N_("{actor} created the API token “{name}”"),
    "token.revoke": N_("{actor} revoked the API token “{name}”"),
    "delivery.retry": N_("{actor} sent {name} again"),
    "user.add": N_("{actor} added the dashboard login {name}"),
    "user.add.member": N_("{actor} gave {member} the dashboard login {name}"),
    "user.add.child": N_(
        "{actor} gave {member} the dashboard login {name}, which shows only {member}'s own page"
    ),
    "user.remove": N_("{actor} removed the dashboard login {name}"),
    "household.import": N_("{actor} imported the household from a settings file"),
    # The quick controls (guardian.overrides); times are the household's local time.
    # Translators: the quick controls of tonight's quiet hours; {until} is a time of day.
    "quiet.override.quiet_until": N_("{actor} made {name} quiet from now until {until}"),
    "quiet.override.quiet_until.kept": N_("{actor} kept {name}'s quiet hours on until {until}"),
    "quiet.override.pause_tonight": N_("{actor} paused {name}'s quiet hours for tonight"),
    "quiet.override.one_more_hour": N_("{actor} gave {name} one more hour of quiet, until {until}"),
    "quiet.undo.quiet_until": N_("{actor} undid {name}'s quiet time until {until}"),
    "quiet.undo.pause_tonight": N_("{actor} undid the pause of {name}'s quiet hours tonight"),
    "quiet.undo.one_more_hour": N_("{actor} undid {name}'s one more hour of quiet (until {until})"),
    "trust.trusted": N_("{actor} made {name} trusted"),
    "trust.muted": N_("{actor} muted {name}"),
    "trust.normal": N_("{actor} made {name} a normal contact again"),
    "rename": N_("{actor} renamed {before} to {after}"),
    "rename.household": N_("{actor} renamed the household from {before} to {after}"),
    # Translators: {label} is one setting ("quiet hours"), {before} and {after} its values.
    "one": N_("{actor} changed {name}'s {label} from {before} to {after}"),
    "one.household": N_("{actor} changed the household's {label} from {before} to {after}"),
    # Translators: {labels} is a list of settings ("quiet hours and burst limit").
    "several": N_("{actor} changed {name}'s {labels}"),
    "several.household": N_("{actor} changed the household's {labels}"),
    "nothing": N_("{actor} saved {name}'s settings unchanged"),
    "nothing.household": N_("{actor} saved the household's settings unchanged"),
    # Translators: a change the log cannot put in words: {action} is its technical name.
    "unknown": N_("{actor}: {action} {name}"),
}
# Translators: who made a change, when it was made with the `guardian` command.
COMMAND_LINE = N_("An admin (command line)")
# Translators: who made a change, when a program made it with {name}'s API token.
BY_SCRIPT = N_("{name} (by script)")
#: What a source's rotation renews, as `source.rotate` names it.
ROTATED = {
    # Translators: what "gave the source ... a new" renews.
    "secret": N_("secret"),
    "token": N_("token"),
}


# --- what a change was before and after --------------------------------------------------------


def kind_of(action: str) -> str:
    return action.split(".", 1)[0]


def snapshot(view: HouseholdView, action: str, target: str) -> dict[str, Any] | None:
    """What the household setting that `action` changes is in `view` (None: there is none)."""
    kind = kind_of(action)
    if kind == "contact":
        contact = view.contacts.get(target)
        if contact is None:
            return None
        return {"name": contact.name, "trust": contact.trust, "addresses": list(contact.addresses)}
    if kind in ("member", "channel"):
        member = view.members.get(target)
        if member is None:
            return None
        return {
            "name": member.name,
            "policy": member.policy_name,
            "language": member.own_language,
            "channels": [privacy_url(c) for c in member.channels],
        }
    if kind == "policy":
        policy = view.policies.get(target)
        if policy is None:
            return None
        spec = policy.model_dump(mode="json")
        breakthrough = spec.pop("breakthrough", {}) or {}
        spec.update({f"breakthrough.{key}": value for key, value in breakthrough.items()})
        return spec
    if kind == "household":
        return {"name": view.name, "timezone": view.zone.key, "language": view.language}
    return None


def difference(
    before: Mapping[str, Any] | None, after: Mapping[str, Any] | None
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Only what changed: the whole of a thing created or deleted, else the changed fields, and
    its name as it was then (so that the log names a contact deleted since, or renamed)."""
    if before is None or after is None:
        return (dict(before) if before else None), (dict(after) if after else None)
    changed = [k for k in {**before, **after} if before.get(k) != after.get(k)]
    if not changed:
        return None, None
    if "name" in before and "name" not in changed:
        changed.insert(0, "name")
    return {k: before.get(k) for k in changed}, {k: after.get(k) for k in changed}


def members_of(
    action: str, target: str, views: Iterable[HouseholdView], detail: Mapping[str, Any]
) -> list[str]:
    """The members a change is about, for the filter by member."""
    kind = kind_of(action)
    found: list[str] = []
    for view in views:
        if kind in ("member", "channel", "quiet") and target in view.members:
            found.append(target)
        elif kind == "policy":
            found += [m.id for m in view.members.values() if m.policy_name == target]
        elif kind == "source" and target in view.sources:
            found += list(view.sources[target].members)
    if kind == "user" and detail.get("member"):
        found.append(str(detail["member"]))
    return sorted(set(found))


def members_column(members: Iterable[str]) -> str:
    """`,mia,sam,`: a filter by member is then a LIKE on `,mia,`."""
    listed = sorted(set(members))
    return f",{','.join(listed)}," if listed else ""


def members_from_column(text: str) -> list[str]:
    return [m for m in text.split(",") if m]


# --- the log as sentences ------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    """One field of a change: what it was and what it became, as text."""

    field: str
    label: str
    before: str
    after: str


@dataclass(frozen=True)
class Told:
    sentence: str
    lines: list[Line] = field(default_factory=list)


@dataclass(frozen=True)
class Entry:
    """What `told()` needs of an audit entry."""

    actor: str
    action: str
    target: str
    detail: Mapping[str, Any]
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None


def actor_label(actor: str, names: Mapping[str, str], t: Language = ENGLISH) -> str:
    """`sam (session)` → `Sam`; `sam (token)` → `Sam (by script)`; `cli` → the command line.
    `names` maps a username to the name of the member it belongs to."""
    if actor == "cli":
        return t.gettext(COMMAND_LINE)
    username, _, via = actor.partition(" (")
    name = names.get(username, username)
    return t.gettext(BY_SCRIPT, name=name) if via.startswith("token") else name


def value_text(key: str, value: Any, t: Language = ENGLISH) -> str:
    """A setting's value as a person reads it."""
    if value is None or value == []:
        return t.gettext(OFF if key in ("burst", "storm", "breakthrough.repeated") else NOTHING)
    if key == "trust":
        return _word(TRUST_WORDS, value, t)
    if key in ("content", "guardian_view"):
        return _word(LEVEL_WORDS, value, t)
    if key == "language":
        return NAMES.get(str(value), str(value))  # each language by its own name
    if key == "quiet" and isinstance(value, list):
        return "; ".join(_window_text(w, t) for w in value)
    if key == "burst" and isinstance(value, dict):
        # Translators: a burst limit in the Audit log; {per} and {every} are durations as
        # the settings write them (10m, 1h).
        return t.gettext(
            "{limit} messages per {per}, a notice every {every}",
            limit=value.get("limit"),
            per=value.get("per"),
            every=value.get("notice_every"),
        )
    if key in ("breakthrough.repeated", "storm") and isinstance(value, dict):
        # Translators: a repeated-contact rule or a storm alert; {within} is a duration (2m).
        text = t.gettext(
            "{count} messages within {within}", count=value.get("count"), within=value.get("within")
        )
        if key == "storm" and value.get("alert_guardians"):
            # Translators: a storm alert that tells the guardians as soon as it starts.
            text = t.gettext("{rule}, guardians told at once", rule=text)
        return text
    if key == "breakthrough.keywords" and isinstance(value, list):
        return ", ".join(f"“{k}”" for k in value)
    if key == "retention" and isinstance(value, int) and not isinstance(value, bool):
        # Translators: how long messages are kept.
        return t.ngettext("{n} day", "{n} days", value)
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items())
    if isinstance(value, bool):
        return t.gettext("yes") if value else t.gettext("no")
    return str(value)


def _word(words: Mapping[str, str], value: Any, t: Language) -> str:
    found = words.get(str(value))
    return t.gettext(found) if found is not None else str(value)


def _window_text(window: Any, t: Language) -> str:
    if not isinstance(window, dict):
        return str(window)
    try:
        days = days_label(parse_days(str(window.get("days", "daily"))), t)
    except ValueError:
        days = str(window.get("days"))
    return f"{days} {window.get('start')}–{window.get('end')}"


def _about(entry: Entry, which: str) -> str:
    """The sentence `which`, or its household form: "the household's", never "acme's"."""
    return f"{which}.household" if kind_of(entry.action) == "household" else which


def told(
    entry: Entry, names: Mapping[str, str], view: HouseholdView, t: Language = ENGLISH
) -> Told:
    """An audit entry as a sentence in `t`'s language, with its before → after lines (their
    labels are the English message ids, translated where they are shown)."""
    actor = actor_label(entry.actor, names, t)
    action, detail = entry.action, entry.detail
    kind = kind_of(action)
    before, after = dict(entry.before or {}), dict(entry.after or {})
    name = _target_name(entry, view, before, after)
    lines = [
        Line(
            key,
            FIELD_LABELS.get(key, key),
            value_text(key, before.get(key), t),
            value_text(key, after.get(key), t),
        )
        for key in (after or before)
        if before.get(key) != after.get(key)
        # A thing created or deleted is named by the sentence already.
        and not (key == "name" and (entry.before is None or entry.after is None))
    ]
    facts = {"actor": actor, "name": name, "action": action}

    def said(which: str, **more: object) -> str:
        return t.gettext(SENTENCES[which], **facts, **more)

    if kind == "quiet":
        quiet = _quiet_told(entry, view, t, said)
        if quiet is not None:
            return quiet
    if action == "policy.update" and detail.get("created"):
        return Told(said("policy.create"), lines)
    if action in ("contact.create", "contact.delete", "policy.delete"):
        return Told(said(action), lines)
    if action == "contact.merge":
        other = str(detail.get("name") or detail.get("from") or "")
        return Told(said(action, other=other), lines)
    if action == "contact.unmerge":
        kept = view.contacts.get(str(detail.get("into", "")))
        into = str(detail.get("into_name") or (kept.name if kept else detail.get("into", "")))
        return Told(said(action, into=into), lines)
    if action in ("channel.add", "channel.remove"):
        return Told(said(action, channel=str(detail.get("channel", ""))))
    if action == "channel.test":
        ok = detail.get("status") == "SUCCESS"
        channel, status = str(detail.get("channel", "")), str(detail.get("status", ""))
        which = "channel.test.ok" if ok else "channel.test.failed"
        return Told(said(which, channel=channel, status=status))
    if action == "source.rotate":
        field_name = str(detail.get("field", "secret"))
        return Told(said(action, field=_word(ROTATED, field_name, t)))
    if action == "delivery.retry":
        return Told(t.gettext(SENTENCES[action], **{**facts, "name": name.replace(":", " ")}))
    if action in ("token.create", "token.revoke", "user.remove", "household.import"):
        return Told(said(action))
    if action == "user.add":
        member_id = detail.get("member")
        if not member_id:
            return Told(said(action))
        member = view.members.get(str(member_id))
        shown = member.name if member else str(member_id)
        which = "user.add.child" if detail.get("role") == "child" else "user.add.member"
        return Told(said(which, member=shown))
    if entry.before is None and entry.after is None:
        if kind in ("contact", "member", "policy", "household"):
            return Told(_changed_fields(entry, detail, t, said), lines)
        return Told(said("unknown"))
    if not lines:
        return Told(said(_about(entry, "nothing")))
    if len(lines) == 1:
        line = lines[0]
        if line.field == "trust" and kind == "contact":
            trust = str(after.get("trust"))
            if f"trust.{trust}" in SENTENCES:
                return Told(said(f"trust.{trust}"), lines)
        if line.field == "name":
            which = "rename.household" if kind == "household" else "rename"
            return Told(said(which, before=line.before, after=line.after), lines)
        label = t.gettext(line.label)
        sentence = said(_about(entry, "one"), label=label, before=line.before, after=line.after)
        return Told(sentence, lines)
    labels = t.list(t.gettext(line.label) for line in lines)
    return Told(said(_about(entry, "several"), labels=labels), lines)


def _quiet_told(
    entry: Entry, view: HouseholdView, t: Language, said: Callable[..., str]
) -> Told | None:
    """A quick control, or its undoing: what it did in the household's local time, and
    tonight's quiet hours before → after (None: an entry this function cannot tell)."""
    control, found = entry.detail.get("control"), entry.detail.get("overrides")
    which = f"{entry.action}.{control}"
    if which not in SENTENCES or not isinstance(found, list) or not found:
        return None
    first = found[0] if isinstance(found[0], dict) else {}
    until = _local_text(first.get("end"), view, t.time)
    before = (entry.before or {}).get("tonight")
    if which == "quiet.override.quiet_until" and isinstance(before, dict) and before.get("now"):
        which = "quiet.override.quiet_until.kept"
    lines = []
    if entry.before is not None and entry.after is not None:
        was = _tonight_text(before, view, t)
        now = _tonight_text(entry.after.get("tonight"), view, t)
        if was != now:
            lines.append(Line("tonight", FIELD_LABELS["tonight"], was, now))
    return Told(said(which, until=until), lines)


def _local_text(text: Any, view: HouseholdView, shown: Callable[[datetime, ZoneInfo], str]) -> str:
    try:
        return shown(datetime.fromisoformat(str(text)), view.zone)
    except ValueError:
        return str(text)


def _tonight_text(tonight: Any, view: HouseholdView, t: Language) -> str:
    if not isinstance(tonight, dict) or not tonight.get("start") or not tonight.get("end"):
        return t.gettext(TONIGHT_NONE)
    return t.gettext(
        TONIGHT_SPAN,
        start=_local_text(tonight["start"], view, t.day_time),
        end=_local_text(tonight["end"], view, t.day_time),
    )


def _changed_fields(
    entry: Entry, detail: Mapping[str, Any], t: Language, said: Callable[..., str]
) -> str:
    """An entry from before the log kept before → after: what changed, from its detail."""
    keys = [k for k in detail if k not in ("spec", "created")] or ["settings"]
    labels = t.list(t.gettext(FIELD_LABELS[k]) if k in FIELD_LABELS else k for k in keys)
    return said(_about(entry, "several"), labels=labels)


def _target_name(
    entry: Entry, view: HouseholdView, before: Mapping[str, Any], after: Mapping[str, Any]
) -> str:
    """What a person calls what the change was about: a member's or contact's name."""
    kind = kind_of(entry.action)
    target = entry.target
    if kind in ("member", "channel", "quiet"):
        member = view.members.get(target)
        return member.name if member else str(after.get("name") or before.get("name") or target)
    if kind == "contact":
        named = after.get("name") or before.get("name") or entry.detail.get("name")
        contact = view.contacts.get(target)
        return str(named) if named else contact.name if contact else target
    return target
