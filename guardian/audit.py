"""The audit log: what each admin change was before and after, and the log read as sentences.

`Admin.change()` keeps, for every change, the changed fields of what it changed as they were
before and after (`snapshot`, `difference`) and the members it is about (`members_of`), taken
from the household as loaded before the change and again inside its transaction. Nothing here
holds a secret: a channel is kept in its privacy form, a source's settings are never kept.

`told()` turns an entry into a sentence ("Sam made Noor trusted", "Sam changed school-night's
quiet hours from Sun–Thu 21:30–07:00 to Sun–Thu 22:00–07:00") and a list of before → after
lines. Every word a person reads is in the tables and small functions below, so that it can be
translated in one place.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from guardian.delivery import privacy_url
from guardian.household import HouseholdView
from guardian.i18n import N_

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
    "name": "name",
    "trust": "trust",
    "addresses": "addresses",
    "policy": "policy",
    "language": "language",
    "channels": "channels",
    "timezone": "time zone",
    "quiet": "quiet hours",
    "summaries": "summary times",
    "burst": "burst limit",
    "breakthrough.keywords": "urgent words",
    "breakthrough.repeated": "repeated-contact rule",
    "content": "what the member's own summaries show",
    "guardian_view": "what guardians see",
    "report": "guardians' report time",
    "storm": "storm alert",
    "retention": "how long messages are kept",
    "tonight": "tonight's quiet hours",
}

TRUST_WORDS = {
    "trusted": "trusted (breaks through quiet hours)",
    "normal": "normal (follows the policy)",
    "muted": "muted (never pushed)",
}
LEVEL_WORDS = {
    "counts": "how many messages only",
    "senders": "how many and from whom",
    "preview": "from whom, with the start of each message",
}
NOTHING = "none"
OFF = "off"
#: Tonight's quiet hours in a before → after line.
TONIGHT_SPAN = "{start} – {end}"
TONIGHT_NONE = "no quiet hours"

#: Sentences by action; {actor} made the change, {name} is what it changed.
SENTENCES: dict[str, str] = {
    "contact.create": "{actor} added {name} as a contact",
    "contact.delete": "{actor} deleted the contact {name}",
    "contact.merge": "{actor} merged {other} into {name}",
    "contact.unmerge": "{actor} undid the merge of {name} into {into}",
    "policy.create": "{actor} created the policy {name}",
    "policy.delete": "{actor} deleted the policy {name}",
    "channel.add": "{actor} added a channel for {name}: {channel}",
    "channel.remove": "{actor} removed a channel of {name}: {channel}",
    "channel.test.ok": "{actor} sent a test message to {name}'s channel {channel}: it worked",
    "channel.test.failed": "{actor} sent a test message to {name}'s channel {channel}: "
    "it failed ({status})",
    "source.rotate": "{actor} gave the source {name} a new {field}",
    "token.create": "{actor} created the API token “{name}”",
    "token.revoke": "{actor} revoked the API token “{name}”",
    "delivery.retry": "{actor} sent {name} again",
    "user.add": "{actor} added the dashboard login {name}",
    "user.add.member": "{actor} gave {member} the dashboard login {name}",
    "user.add.child": "{actor} gave {member} the dashboard login {name}, "
    "which shows only {member}'s own page",
    "user.remove": "{actor} removed the dashboard login {name}",
    "household.import": "{actor} imported the household from a settings file",
    # The quick controls (guardian.overrides); times are the household's local time.
    "quiet.override.quiet_until": "{actor} made {name} quiet from now until {until}",
    "quiet.override.quiet_until.kept": "{actor} kept {name}'s quiet hours on until {until}",
    "quiet.override.pause_tonight": "{actor} paused {name}'s quiet hours for tonight",
    "quiet.override.one_more_hour": "{actor} gave {name} one more hour of quiet, until {until}",
    "quiet.undo.quiet_until": "{actor} undid {name}'s quiet time until {until}",
    "quiet.undo.pause_tonight": "{actor} undid the pause of {name}'s quiet hours tonight",
    "quiet.undo.one_more_hour": "{actor} undid {name}'s one more hour of quiet (until {until})",
    "trust.trusted": "{actor} made {name} trusted",
    "trust.muted": "{actor} muted {name}",
    "trust.normal": "{actor} made {name} a normal contact again",
    "rename": "{actor} renamed {before} to {after}",
    "rename.household": "{actor} renamed the household from {before} to {after}",
    "one": "{actor} changed {whose} {label} from {before} to {after}",
    "several": "{actor} changed {whose} {labels}",
    "nothing": "{actor} saved {whose} settings unchanged",
    "unknown": "{actor}: {action} {name}",
}
THE_HOUSEHOLD = "the household"
COMMAND_LINE = "An admin (command line)"
BY_SCRIPT = "{name} (by script)"
AND = "and"


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


def actor_label(actor: str, names: Mapping[str, str]) -> str:
    """`sam (session)` → `Sam`; `sam (token)` → `Sam (by script)`; `cli` → the command line.
    `names` maps a username to the name of the member it belongs to."""
    if actor == "cli":
        return COMMAND_LINE
    username, _, via = actor.partition(" (")
    name = names.get(username, username)
    return BY_SCRIPT.format(name=name) if via.startswith("token") else name


def value_text(key: str, value: Any) -> str:
    """A setting's value as a person reads it."""
    if value is None or value == []:
        return OFF if key in ("burst", "storm", "breakthrough.repeated") else NOTHING
    if key == "trust":
        return TRUST_WORDS.get(str(value), str(value))
    if key in ("content", "guardian_view"):
        return LEVEL_WORDS.get(str(value), str(value))
    if key == "quiet" and isinstance(value, list):
        return "; ".join(_window_text(w) for w in value)
    if key == "burst" and isinstance(value, dict):
        return (
            f"{value.get('limit')} messages per {value.get('per')}, "
            f"a notice every {value.get('notice_every')}"
        )
    if key == "breakthrough.repeated" and isinstance(value, dict):
        return f"{value.get('count')} messages within {value.get('within')}"
    if key == "storm" and isinstance(value, dict):
        text = f"{value.get('count')} messages within {value.get('within')}"
        return text + (", guardians told at once" if value.get("alert_guardians") else "")
    if key == "breakthrough.keywords" and isinstance(value, list):
        return ", ".join(f"“{k}”" for k in value)
    if key == "retention":
        return f"{value} days"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items())
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _window_text(window: Any) -> str:
    from guardian.api.activity import days_text  # the transparency page's words for days
    from guardian.windows import parse_days

    if not isinstance(window, dict):
        return str(window)
    try:
        days = days_text(parse_days(str(window.get("days", "daily"))))
    except ValueError:
        days = str(window.get("days"))
    return f"{days} {window.get('start')}–{window.get('end')}"


def _list(words: list[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} {AND} {words[-1]}"


def _whose(entry: Entry, name: str) -> str:
    if kind_of(entry.action) == "household":
        return f"{THE_HOUSEHOLD}'s"
    return f"{name}'s"


def told(entry: Entry, names: Mapping[str, str], view: HouseholdView) -> Told:
    """An audit entry as a sentence, with its before → after lines."""
    actor = actor_label(entry.actor, names)
    action, detail = entry.action, entry.detail
    kind = kind_of(action)
    before, after = dict(entry.before or {}), dict(entry.after or {})
    name = _target_name(entry, view, before, after)
    lines = [
        Line(
            key,
            FIELD_LABELS.get(key, key),
            value_text(key, before.get(key)),
            value_text(key, after.get(key)),
        )
        for key in (after or before)
        if before.get(key) != after.get(key)
        # A thing created or deleted is named by the sentence already.
        and not (key == "name" and (entry.before is None or entry.after is None))
    ]
    facts = {"actor": actor, "name": name, "action": action}
    if kind == "quiet":
        quiet = _quiet_told(entry, view, facts)
        if quiet is not None:
            return quiet
    if action == "policy.update" and detail.get("created"):
        return Told(SENTENCES["policy.create"].format(**facts), lines)
    if action in ("contact.create", "contact.delete", "policy.delete"):
        return Told(SENTENCES[action].format(**facts), lines)
    if action == "contact.merge":
        other = str(detail.get("name") or detail.get("from") or "")
        return Told(SENTENCES[action].format(other=other, **facts), lines)
    if action == "contact.unmerge":
        kept = view.contacts.get(str(detail.get("into", "")))
        into = str(detail.get("into_name") or (kept.name if kept else detail.get("into", "")))
        return Told(SENTENCES[action].format(into=into, **facts), lines)
    if action in ("channel.add", "channel.remove"):
        channel = str(detail.get("channel", ""))
        return Told(SENTENCES[action].format(channel=channel, **facts))
    if action == "channel.test":
        ok = detail.get("status") == "SUCCESS"
        sentence = SENTENCES["channel.test.ok" if ok else "channel.test.failed"]
        channel, status = str(detail.get("channel", "")), str(detail.get("status", ""))
        return Told(sentence.format(channel=channel, status=status, **facts))
    if action == "source.rotate":
        return Told(SENTENCES[action].format(field=detail.get("field", "secret"), **facts))
    if action == "delivery.retry":
        return Told(SENTENCES[action].format(**{**facts, "name": name.replace(":", " ")}))
    if action in ("token.create", "token.revoke", "user.remove", "household.import"):
        return Told(SENTENCES[action].format(**facts))
    if action == "user.add":
        member_id = detail.get("member")
        if not member_id:
            return Told(SENTENCES[action].format(**facts))
        member = view.members.get(str(member_id))
        shown = member.name if member else str(member_id)
        which = "user.add.child" if detail.get("role") == "child" else "user.add.member"
        return Told(SENTENCES[which].format(member=shown, **facts))
    if entry.before is None and entry.after is None:
        if kind in ("contact", "member", "policy", "household"):
            return Told(_changed_fields(actor, entry, name, detail, view), lines)
        return Told(SENTENCES["unknown"].format(**facts))
    if not lines:
        return Told(SENTENCES["nothing"].format(actor=actor, whose=_whose(entry, name)))
    if len(lines) == 1:
        line = lines[0]
        if line.field == "trust" and kind == "contact":
            trust = str(after.get("trust"))
            if f"trust.{trust}" in SENTENCES:
                return Told(SENTENCES[f"trust.{trust}"].format(**facts), lines)
        if line.field == "name":
            which = "rename.household" if kind == "household" else "rename"
            sentence = SENTENCES[which].format(actor=actor, before=line.before, after=line.after)
            return Told(sentence, lines)
        sentence = SENTENCES["one"].format(
            actor=actor,
            whose=_whose(entry, name),
            label=line.label,
            before=line.before,
            after=line.after,
        )
        return Told(sentence, lines)
    labels = _list([line.label for line in lines])
    sentence = SENTENCES["several"].format(actor=actor, whose=_whose(entry, name), labels=labels)
    return Told(sentence, lines)


def _quiet_told(entry: Entry, view: HouseholdView, facts: Mapping[str, str]) -> Told | None:
    """A quick control, or its undoing: what it did in the household's local time, and
    tonight's quiet hours before → after (None: an entry this function cannot tell)."""
    control, found = entry.detail.get("control"), entry.detail.get("overrides")
    which = f"{entry.action}.{control}"
    if which not in SENTENCES or not isinstance(found, list) or not found:
        return None
    first = found[0] if isinstance(found[0], dict) else {}
    until = _local_time(first.get("end"), view, "%H:%M")
    before = (entry.before or {}).get("tonight")
    if which == "quiet.override.quiet_until" and isinstance(before, dict) and before.get("now"):
        which = "quiet.override.quiet_until.kept"
    lines = []
    if entry.before is not None and entry.after is not None:
        was, now = _tonight_text(before, view), _tonight_text(entry.after.get("tonight"), view)
        if was != now:
            lines.append(Line("tonight", FIELD_LABELS["tonight"], was, now))
    return Told(SENTENCES[which].format(until=until, **facts), lines)


def _local_time(text: Any, view: HouseholdView, pattern: str) -> str:
    try:
        return datetime.fromisoformat(str(text)).astimezone(view.zone).strftime(pattern)
    except ValueError:
        return str(text)


def _tonight_text(tonight: Any, view: HouseholdView) -> str:
    if not isinstance(tonight, dict) or not tonight.get("start") or not tonight.get("end"):
        return TONIGHT_NONE
    return TONIGHT_SPAN.format(
        start=_local_time(tonight["start"], view, "%a %H:%M"),
        end=_local_time(tonight["end"], view, "%a %H:%M"),
    )


def _changed_fields(
    actor: str, entry: Entry, name: str, detail: Mapping[str, Any], view: HouseholdView
) -> str:
    """An entry from before the log kept before → after: what changed, from its detail."""
    keys = [k for k in detail if k not in ("spec", "created")] or ["settings"]
    labels = _list([FIELD_LABELS.get(k, k) for k in keys])
    return SENTENCES["several"].format(actor=actor, whose=_whose(entry, name), labels=labels)


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
