"""Timer benchmark: from the end of a quiet window until the last summary reached its channel.

    .venv/bin/python benchmarks/summaries.py [--scenario NAME ...] [--margin S] [--timeout S]

Each scenario is a household whose members all have quiet hours ending at the same minute, each
with notifications held for that minute's summary:

| scenario | members | held per member | database, instances |
| --- | ---: | ---: | --- |
| `sqlite-1000` | 1,000 | 100 | SQLite, one `guardian serve` |
| `sqlite-100` | 100 | 100 | SQLite, one `guardian serve` |
| `sqlite-one` | 1 | 100,000 | SQLite, one `guardian serve` |
| `postgres-3` | 10,000 | 10 | PostgreSQL, three `guardian serve` on one database |

The real clock is used: the quiet window ends at the first whole minute (household time) at
least `--margin` seconds from now, enough for the set-up. The household is seeded by
`guardian serve` from a generated settings.toml in a temporary directory; the held notifications
are then inserted with plain SQL into the migrated database (fast: this measures the timer, not
ingest). Every member's channel is `json://` to a receiver in this script, which notes when each
summary arrives.

Printed per scenario: how long after the window end the first, the median and the last summary
arrived, summaries per second, the CPU time of the servers, this script and everything else from
the window end to the last arrival, how many summaries each instance built and sent (from their
logs), and what the database holds afterwards: nothing still held, no member summarised twice.
PostgreSQL is started as the tests start it (tests/pg.py); without its binaries that scenario is
skipped with a note. Figures, never pass/fail.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import asyncpg
from aiohttp import web
from processes import (
    HOST,
    Cores,
    Cpu,
    Server,
    choose_cores,
    cpu_now,
    free_port,
    guardian_command,
    machine_load,
    running,
    tree_seconds,
    wait_ready,
)

ROOT = Path(__file__).resolve().parents[1]
ZONE = ZoneInfo("Europe/Amsterdam")
SOURCE = "bench"
TOKEN = "bench-token"
#: Guardian's INFO lines for a summary built (guardian/scheduler.py) and sent (delivery.py).
BUILT_LINE = " summary for "
SENT_LINE = ("(summary to ", "): sent")
LOG_TIME = "%Y-%m-%d %H:%M:%S,%f"
#: After the last expected summary, how long to keep listening for one sent twice.
GRACE_SECONDS = 2.0
PROGRESS_EVERY = 10.0


@dataclass(frozen=True)
class Scenario:
    name: str
    members: int
    held: int  # held notifications per member
    senders: int  # distinct senders per member
    instances: int = 1
    postgres: bool = False

    @property
    def notifications(self) -> int:
        return self.members * self.held

    def describe(self) -> str:
        database = "PostgreSQL" if self.postgres else "SQLite"
        serving = "one instance" if self.instances == 1 else f"{self.instances} instances"
        members = "1 member" if self.members == 1 else f"{self.members:,} members"
        return (
            f"{members} × {self.held:,} held ({self.senders:,} senders each), {database}, {serving}"
        )

    def default_margin(self) -> float:
        """Seconds the set-up takes at most here, with room to spare: seeding the household
        (~5 ms a member on SQLite, more on PostgreSQL), preparing each member's schedule, and
        inserting the held notifications."""
        per_member = 0.012 if self.postgres else 0.008
        return 15 + self.members * per_member + self.notifications * 0.00002


SCENARIOS = [
    Scenario("sqlite-1000", members=1000, held=100, senders=10),
    Scenario("sqlite-100", members=100, held=100, senders=10),
    Scenario("sqlite-one", members=1, held=100_000, senders=1000),
    Scenario("postgres-3", members=10_000, held=10, senders=5, instances=3, postgres=True),
]


# ── the receiver ──────────────────────────────────────────────────────────────────────────────


@dataclass
class Receiver:
    """The members' `json://` channel: an aiohttp server on its own thread, noting arrivals."""

    port: int = field(default_factory=free_port)
    #: (time.time(), member) for every delivery received.
    arrivals: list[tuple[float, str]] = field(default_factory=list)

    def channel(self, member: str) -> str:
        return f"json://{HOST}:{self.port}/{member}"

    async def _receive(self, request: web.Request) -> web.Response:
        await request.read()
        self.arrivals.append((time.time(), request.match_info["member"]))
        return web.Response(text="ok")

    @contextmanager
    def running(self) -> Iterator[Receiver]:
        loop = asyncio.new_event_loop()
        started, stopping = threading.Event(), asyncio.Event()

        async def serve() -> None:
            app = web.Application(client_max_size=16 * 1024 * 1024)
            app.router.add_post("/{member}", self._receive)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, HOST, self.port).start()
            started.set()
            await stopping.wait()
            await runner.cleanup()

        thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
        thread.start()
        try:
            if not started.wait(10):
                raise RuntimeError("the receiver did not start")
            yield self
        finally:
            loop.call_soon_threadsafe(stopping.set)
            thread.join(10)
            loop.close()

    def members_received(self) -> Counter[str]:
        return Counter(member for _, member in self.arrivals)


# ── the household ─────────────────────────────────────────────────────────────────────────────


def window_end(margin: float) -> datetime:
    """The first whole minute, household time, at least `margin` seconds from now."""
    earliest = datetime.now(ZONE) + timedelta(seconds=margin)
    return earliest.replace(second=0, microsecond=0) + timedelta(minutes=1)


def member_slug(index: int) -> str:
    return f"m{index:05d}"


def settings_text(
    scenario: Scenario, port: int, url: str, receiver: Receiver, end: datetime
) -> str:
    """A household whose members' quiet hours all end at `end`."""
    start = end - timedelta(hours=8)
    lines = [
        f'[server]\nhost = "{HOST}"\nport = {port}\n',
        f'[database]\nurl = "{url}"\n',
        f'[household]\nname = "Timer benchmark"\ntimezone = "{ZONE.key}"\n',
        "[policies.night]",
        f'quiet = [{{ days = "daily", start = "{start:%H:%M}", end = "{end:%H:%M}" }}]',
        'content = "senders"\n',
    ]
    for index in range(scenario.members):
        slug = member_slug(index)
        lines.append(
            f'[[members]]\nid = "{slug}"\nname = "Member {index}"\nrole = "child"\n'
            f'policy = "night"\nchannels = ["{receiver.channel(slug)}"]\n'
        )
    lines.append(
        f'[[sources]]\nid = "{SOURCE}"\nplugin = "webhook"\nmember = "{member_slug(0)}"\n'
        f'token = "{TOKEN}"\n'
    )
    return "\n".join(lines)


# ── the seed: held notifications, by plain SQL ────────────────────────────────────────────────

COLUMNS = (
    "id",
    "household_id",
    "source_id",
    "member_id",
    "external_id",
    "network",
    "sender_address",
    "sender_name",
    "sender_key",
    "is_group",
    "text",
    "sent_at",
    "received_at",
    "status",
)
TEXT = "sorry to write so late, are you still awake? call me when you can, it is about today"


def held_rows(
    scenario: Scenario, members: dict[str, int], source: int, now: datetime
) -> Iterator[tuple[Any, ...]]:
    """Each member's held notifications, received over the last hour, senders taking turns."""
    for index in range(scenario.members):
        member = members[member_slug(index)]
        for n in range(scenario.held):
            sender = index * scenario.senders + n % scenario.senders
            address = f"sms:+3162{sender:07d}"
            received = now - timedelta(seconds=3600 * (1 - n / scenario.held))
            yield (
                uuid.uuid4(),
                "home",
                source,
                member,
                f"held-{index}-{n}",
                "sms",
                address,
                f"Friend {sender}",
                address,
                False,
                TEXT,
                received - timedelta(seconds=1),
                received,
                "held",
            )


class Store(Protocol):
    """The benchmark's own access to Guardian's database: the seed and the counts after."""

    @property
    def url(self) -> str: ...

    def query(self, sql: str) -> list[tuple[Any, ...]]: ...

    def insert_held(self, rows: Iterable[tuple[Any, ...]]) -> None: ...

    def server_pid(self) -> int | None:
        """The database server's main process (PostgreSQL's postmaster); None for SQLite."""
        ...


@dataclass
class SqliteStore:
    path: Path

    def server_pid(self) -> int | None:
        return None

    @property
    def url(self) -> str:
        return f"sqlite://{self.path}"

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        with closing(sqlite3.connect(self.path, timeout=30)) as connection:
            return connection.execute(sql).fetchall()

    def insert_held(self, rows: Iterable[tuple[Any, ...]]) -> None:
        statement = (
            f"INSERT INTO notifications ({', '.join(COLUMNS)}) "
            f"VALUES ({', '.join('?' for _ in COLUMNS)})"
        )
        with closing(sqlite3.connect(self.path, timeout=30)) as connection, connection:
            connection.executemany(statement, (tuple(map(_sqlite_value, row)) for row in rows))


def _sqlite_value(value: Any) -> Any:
    """As tortoise stores it on SQLite: UUIDs as text, instants as UTC `isoformat(" ")`."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(" ")
    if isinstance(value, bool):
        return int(value)
    return value


@dataclass
class PostgresStore:
    url: str
    data: Path

    def server_pid(self) -> int | None:
        """From the cluster's postmaster.pid (its first line)."""
        try:
            return int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        async def fetch() -> list[tuple[Any, ...]]:
            connection = await asyncpg.connect(self.url)
            try:
                return [tuple(record) for record in await connection.fetch(sql)]
            finally:
                await connection.close()

        return asyncio.run(fetch())

    def insert_held(self, rows: Iterable[tuple[Any, ...]]) -> None:
        async def copy() -> None:
            connection = await asyncpg.connect(self.url)
            try:
                await connection.copy_records_to_table(
                    "notifications", records=list(rows), columns=COLUMNS
                )
            finally:
                await connection.close()

        asyncio.run(copy())


@contextmanager
def database(scenario: Scenario, workdir: Path) -> Iterator[Store | None]:
    """A fresh database for the scenario; None when PostgreSQL is wanted but not installed."""
    if not scenario.postgres:
        yield SqliteStore(workdir / "guardian.db")
        return
    # tests/pg.py starts a throwaway cluster the way the tests do; it lives in the repository.
    sys.path.insert(0, str(ROOT))
    from tests.pg import cluster, server_binaries

    if server_binaries() is None:
        yield None
        return
    with cluster() as postgres:
        yield PostgresStore(postgres.create_database(), postgres.data)


def seed(store: Store, scenario: Scenario, now: datetime) -> None:
    members = {str(slug): int(pk) for pk, slug in store.query("SELECT id, slug FROM members")}
    (source,) = store.query(f"SELECT id FROM sources WHERE slug = '{SOURCE}'")[0]
    store.insert_held(held_rows(scenario, members, int(source), now))


# ── a run ─────────────────────────────────────────────────────────────────────────────────────


@dataclass
class Outcome:
    scenario: Scenario
    end: datetime
    setup_seconds: float
    #: Seconds after the window end at which each summary arrived.
    delays: list[float]
    received: Counter[str]
    cpu: Cpu | None
    #: CPU seconds of the database server (PostgreSQL and its backends) over the same time.
    database_cpu: float | None
    built: dict[str, int]
    sent: dict[str, int]
    last_built: float | None
    notifications: Counter[str]
    deliveries: Counter[str]
    summarised_twice: int

    @property
    def last(self) -> float:
        return max(self.delays, default=float("nan"))

    @property
    def complete(self) -> bool:
        return len(self.received) == self.scenario.members


def run_scenario(
    scenario: Scenario, margin: float | None, timeout: float, cores: Cores
) -> Outcome | None:
    print(f"\n{scenario.name}: {scenario.describe()}", flush=True)
    if scenario.instances > 1 and cores.pinned:
        print(f"  not pinned: {scenario.instances} instances and PostgreSQL share the cores")
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="guardian-timer-")))
        store = stack.enter_context(database(scenario, workdir))
        if store is None:
            print("  skipped: PostgreSQL server binaries (initdb, pg_ctl) not found")
            print("  (apt-get install postgresql)")
            return None
        receiver = stack.enter_context(Receiver().running())
        started = time.time()
        end = window_end(scenario.default_margin() if margin is None else margin)
        ports = [free_port() for _ in range(scenario.instances)]
        config = workdir / "settings.toml"
        config.write_text(settings_text(scenario, ports[0], store.url, receiver, end))
        ahead = end.timestamp() - started
        print(f"  quiet hours end at {end:%H:%M} {ZONE.key}, {ahead:.0f} s from now", flush=True)
        servers = start_instances(stack, scenario, cores, config, workdir, ports)
        seed(store, scenario, datetime.now(UTC))
        setup = time.time() - started
        if time.time() > end.timestamp() - 1:
            print(
                f"  not measured: the set-up took {setup:.0f} s, past the window end. "
                "Run again with a larger --margin."
            )
            return None
        print(f"  set-up (household, schedules, held notifications) took {setup:.1f} s", flush=True)
        outcome = measure(scenario, end, setup, receiver, servers, store, timeout)
    print_outcome(outcome)
    return outcome


def start_instances(
    stack: ExitStack,
    scenario: Scenario,
    cores: Cores,
    config: Path,
    workdir: Path,
    ports: list[int],
) -> list[Server]:
    """The first instance seeds the household; the others start once it is there."""
    prefix = cores.server_prefix() if scenario.instances == 1 else []
    command = prefix + guardian_command(config, log_level="INFO")
    first = stack.enter_context(running("guardian-1", command, workdir, ports[0]))
    others = [
        stack.enter_context(
            running(
                f"guardian-{number}",
                command,
                workdir,
                port,
                env={"GUARDIAN_SERVER__PORT": str(port)},
                wait=False,
            )
        )
        for number, port in enumerate(ports[1:], start=2)
    ]
    for server in others:
        wait_ready(server)
    return [first, *others]


def measure(
    scenario: Scenario,
    end: datetime,
    setup: float,
    receiver: Receiver,
    servers: list[Server],
    store: Store,
    timeout: float,
) -> Outcome:
    pids = [server.pid for server in servers]
    time.sleep(max(end.timestamp() - time.time(), 0))
    before = cpu_now(*pids)
    database_before = tree_seconds(store.server_pid())
    deadline = end.timestamp() + timeout
    next_progress = time.time() + PROGRESS_EVERY
    while len(receiver.members_received()) < scenario.members and time.time() < deadline:
        time.sleep(0.05)
        if time.time() >= next_progress:
            next_progress += PROGRESS_EVERY
            elapsed = time.time() - end.timestamp()
            received = len(receiver.members_received())
            print(f"    {received:,} summaries after {elapsed:.0f} s", flush=True)
    after = cpu_now(*pids)
    database_after = tree_seconds(store.server_pid())
    time.sleep(GRACE_SECONDS)
    logs = {server.name: server.log_text().splitlines() for server in servers}
    built_at = [
        log_instant(line) for lines in logs.values() for line in lines if BUILT_LINE in line
    ]
    return Outcome(
        scenario=scenario,
        end=end,
        setup_seconds=setup,
        delays=sorted(at - end.timestamp() for at, _ in receiver.arrivals),
        received=receiver.members_received(),
        cpu=after - before if before and after else None,
        database_cpu=(
            database_after - database_before
            if database_before is not None and database_after is not None
            else None
        ),
        built={name: sum(BUILT_LINE in line for line in lines) for name, lines in logs.items()},
        sent={name: sum(is_sent_line(line) for line in lines) for name, lines in logs.items()},
        last_built=max(built_at) - end.timestamp() if built_at else None,
        notifications=Counter({str(s): int(n) for s, n in store.query(NOTIFICATIONS_BY_STATUS)}),
        deliveries=Counter(
            {f"{kind} {status}": int(n) for kind, status, n in store.query(DELIVERIES_BY_KIND)}
        ),
        summarised_twice=int(store.query(SUMMARISED_TWICE)[0][0]),
    )


NOTIFICATIONS_BY_STATUS = "SELECT status, count(*) FROM notifications GROUP BY status"
DELIVERIES_BY_KIND = "SELECT kind, status, count(*) FROM deliveries GROUP BY kind, status"
SUMMARISED_TWICE = (
    "SELECT count(*) FROM (SELECT member_id FROM deliveries WHERE kind = 'summary' "
    "GROUP BY member_id HAVING count(*) > 1) AS twice"
)


def is_sent_line(line: str) -> bool:
    return SENT_LINE[0] in line and line.endswith(SENT_LINE[1])


def log_instant(line: str) -> float:
    """The time of a log line (Guardian's text format starts with its local time)."""
    return datetime.strptime(line[:23], LOG_TIME).timestamp()


def print_outcome(outcome: Outcome) -> None:
    scenario, delays = outcome.scenario, outcome.delays
    members = scenario.members
    twice = sum(1 for n in outcome.received.values() if n > 1)
    print(
        f"  received: summaries for {len(outcome.received):,} of {members:,} members"
        f" ({len(delays):,} deliveries; {twice} members got more than one)"
    )
    if not delays:
        return
    median = statistics.median(delays)
    print(
        f"  after the window end: first {delays[0]:.2f} s, median {median:.2f} s, "
        f"last {outcome.last:.2f} s" + ("" if outcome.complete else " (not all: --timeout)")
    )
    if outcome.last > 0 and members > 1:
        rate = len(delays) / outcome.last
        print(f"  {rate:,.1f} summaries/s, {1000 / rate:.1f} ms per summary")
    if outcome.last_built is not None:
        print(f"  last summary built (Guardian's log): {outcome.last_built:.2f} s after the end")
    if outcome.cpu is not None:
        cpu = outcome.cpu
        database = outcome.database_cpu or 0.0
        other = max(cpu.machine - cpu.servers - cpu.script - database, 0.0)
        print(
            f"  CPU s until the last arrival: guardian {cpu.servers:.1f}, "
            f"this script (receiver) {cpu.script:.1f}, "
            + (f"PostgreSQL {database:.1f}, " if outcome.database_cpu is not None else "")
            + f"other {other:.1f}"
        )
        count = len(outcome.delays)
        if count:
            per = f"{1000 * cpu.servers / count:.1f} ms Guardian"
            if outcome.database_cpu is not None:
                per += f" + {1000 * database / count:.1f} ms PostgreSQL"
            print(f"  CPU per summary: {per} (read these on a shared machine)")
    if scenario.instances > 1:
        print("  per instance (from their logs):")
        for name in outcome.built:
            print(f"    {name}: built {outcome.built[name]:,}, sent {outcome.sent[name]:,}")
    held = outcome.notifications.get("held", 0)
    statuses = ", ".join(f"{n:,} {s}" for s, n in sorted(outcome.notifications.items()))
    deliveries = ", ".join(f"{n:,} {kind}" for kind, n in sorted(outcome.deliveries.items()))
    print(f"  notifications after: {statuses} ({held:,} still held)")
    print(
        f"  deliveries after: {deliveries}; members with two summaries built: "
        f"{outcome.summarised_twice}"
    )


def print_table(outcomes: list[Outcome]) -> None:
    """The figures as a Markdown table, as docs/performance.md shows them."""
    print(
        "\n| scenario | summaries received | first | median | last | last built (log) "
        "| built / sent per instance |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for o in outcomes:
        if not o.delays:
            continue
        built = "—" if o.last_built is None else f"{o.last_built:.1f} s"
        shares = ", ".join(f"{o.built[name]:,} / {o.sent[name]:,}" for name in o.built)
        print(
            f"| {o.scenario.describe()} | {len(o.received):,} of {o.scenario.members:,} "
            f"| {o.delays[0]:.1f} s | {statistics.median(o.delays):.1f} s | {o.last:.1f} s "
            f"| {built} | {shares} |"
        )


# ── the command line ──────────────────────────────────────────────────────────────────────────


def _interrupt(signum: int, frame: object) -> None:
    signal.raise_signal(signal.SIGINT)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument(
        "--scenario",
        action="append",
        choices=[s.name for s in SCENARIOS],
        help="run only this scenario (repeatable); default: all",
    )
    parser.add_argument(
        "--margin",
        type=float,
        help="seconds from now the quiet hours end at the earliest (default: by scenario size)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=900,
        help="seconds after the window end to wait for the summaries (default 900)",
    )
    args = parser.parse_args()
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    cores = choose_cores()
    cores.pin_this_process()
    print(f"cores: {cores.note} (one instance; several share the cores)")
    print(f"load average {machine_load()}")
    outcomes = []
    try:
        for scenario in SCENARIOS:
            if not args.scenario or scenario.name in args.scenario:
                outcome = run_scenario(scenario, args.margin, args.timeout, cores)
                if outcome is not None:
                    outcomes.append(outcome)
        print_table(outcomes)
    except RuntimeError as error:
        print(f"benchmark failed: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
