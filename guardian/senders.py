"""Sender states in the database: what each sender sent each member lately, as the policy keeps
it (`policy.SenderState`), with the sender's burst and storm going on.

Ingest locks the rows of a batch's senders (in one order, so that instances never deadlock),
decides from them and writes them back in the transaction that stores the notifications. A
contact edit that makes two addresses one person merges what they sent, in its own transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import overload

from guardian.household import HouseholdView
from guardian.models import Episode, Notification, Sender
from guardian.policy import Action, Seen, SenderState
from guardian.setting_types import MAX_WINDOW
from guardian.sql import Db
from guardian.windows import quiet_interval_at
from guardian.words import EpisodeKind

#: Keys per statement: well below every database's limit on parameters.
CHUNK = 400
#: How far back a merge of two senders' histories reads their notifications.
MERGE_LOOKBACK = 2 * MAX_WINDOW

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


#: Instants as milliseconds and back, remembered: a sender's state holds the same few dozen
#: instants batch after batch (each message's time stays until it is out of every window), and
#: converting them is most of the cost of reading and writing states. Bounded: emptied when full.
_MS: dict[datetime, int] = {}
_AT: dict[int, datetime] = {}
CONVERSIONS_KEPT = 50_000
_MILLISECOND = timedelta(milliseconds=1)


def _ms(instant: datetime | None) -> int | None:
    if instant is None:
        return None
    ms = _MS.get(instant)
    if ms is None:
        if len(_MS) >= CONVERSIONS_KEPT:
            _MS.clear()
        ms = _MS[instant] = (instant - _EPOCH) // _MILLISECOND
    return ms


@overload
def _instant(ms: int) -> datetime: ...
@overload
def _instant(ms: None) -> None: ...
def _instant(ms: int | None) -> datetime | None:
    if ms is None:
        return None
    instant = _AT.get(ms)
    if instant is None:
        if len(_AT) >= CONVERSIONS_KEPT:
            _AT.clear()
        instant = _AT[ms] = _EPOCH + timedelta(milliseconds=ms)
    return instant


def encode(state: SenderState) -> str:
    """Compact JSON: instants as milliseconds since the epoch."""
    return json.dumps(
        {
            "t": [_ms(t) for t in state.times],
            "q": [_ms(t) for t in state.quiet_times],
            "l": _ms(state.last_at),
            "lq": _ms(state.last_quiet_at),
            "r": _ms(state.run_since),
            "ra": _ms(state.repeated_at),
            "s": _ms(state.storm_since),
            "sa": _ms(state.storm_at),
        },
        separators=(",", ":"),
    )


def decode(text: str) -> SenderState:
    data = json.loads(text or "{}")
    at = _instant
    return SenderState(
        times=tuple(at(t) for t in data.get("t", ())),
        quiet_times=tuple(at(t) for t in data.get("q", ())),
        last_at=_instant(data.get("l")),
        last_quiet_at=_instant(data.get("lq")),
        run_since=_instant(data.get("r")),
        repeated_at=_instant(data.get("ra")),
        storm_since=_instant(data.get("s")),
        storm_at=_instant(data.get("sa")),
    )


@dataclass
class SenderRow:
    """One locked row, changed in place while a batch is decided, then written back."""

    id: int
    member_pk: int
    key: str
    state: SenderState
    burst_id: int | None
    storm_id: int | None


Key = tuple[int, str]


async def lock(db: Db, keys: Iterable[Key]) -> dict[Key, SenderRow]:
    """The rows of these senders, created where new, locked until the transaction ends.

    Every transaction takes them in (member, sender) order: two instances deciding for the same
    senders at the same moment wait for each other instead of deadlocking.
    """
    ordered = sorted(set(keys))
    await db.many(
        "INSERT INTO senders (member_id, sender_key, state) VALUES (?, ?, '{}') "
        "ON CONFLICT (member_id, sender_key) DO NOTHING",
        ordered,
    )
    rows: dict[Key, SenderRow] = {}
    by_member: dict[int, list[str]] = {}
    for member_pk, key in ordered:
        by_member.setdefault(member_pk, []).append(key)
    for member_pk, member_keys in sorted(by_member.items()):
        for start in range(0, len(member_keys), CHUNK):
            chunk = member_keys[start : start + CHUNK]
            for row in await db.fetch(
                "SELECT id, member_id, sender_key, state, burst_id, storm_id FROM senders "
                f"WHERE member_id = ? AND sender_key IN ({db.placeholders(len(chunk))}) "
                f"ORDER BY sender_key{db.for_update}",
                [member_pk, *chunk],
            ):
                rows[(row[1], row[2])] = SenderRow(
                    row[0], row[1], row[2], decode(row[3]), row[4], row[5]
                )
    return rows


async def save(db: Db, rows: Sequence[SenderRow]) -> None:
    await db.many(
        "UPDATE senders SET state = ?, burst_id = ?, storm_id = ? WHERE id = ?",
        [(encode(r.state), r.burst_id, r.storm_id, r.id) for r in rows],
    )


async def rebuild(view: HouseholdView, keys: Iterable[str], now: datetime) -> None:
    """After a contact edit renamed senders (two addresses became one person, or a contact was
    taken apart): each sender's state again from the notifications now stored under its key.

    Run inside the edit's transaction, after the notifications and episodes were renamed.
    """
    keys = set(keys)
    members = list(view.members.values())
    await Sender.filter(member_id__in=[m.pk for m in members], sender_key__in=keys).delete()
    rows = (
        await Notification.filter(
            household_id=view.id, sender_key__in=keys, received_at__gte=now - MERGE_LOOKBACK
        )
        .order_by("received_at")
        .values_list("member_id", "sender_key", "received_at", "reason")
    )
    histories: dict[tuple[int, str], list[tuple[datetime, str]]] = {}
    for member_pk, key, at, reason in rows:
        histories.setdefault((member_pk, key), []).append((at, reason or ""))
    by_pk = {m.pk: m for m in members}
    for (member_pk, key), history in histories.items():
        member = by_pk.get(member_pk)
        if member is None:
            continue
        windows = member.policy.windows()
        state = SenderState.replayed(
            member.policy,
            (
                Seen(at, Action.HOLD, reason, quiet_interval_at(windows, view.zone, at) is not None)
                for at, reason in history
            ),
        )
        going_on = {
            e.kind: e.id
            for e in await Episode.filter(
                member_id=member_pk, sender_key=key, ended_at__isnull=True
            )
        }
        await Sender.create(
            member_id=member_pk,
            sender_key=key,
            state=encode(state),
            burst_id=going_on.get(EpisodeKind.BURST),
            storm_id=going_on.get(EpisodeKind.STORM),
        )
