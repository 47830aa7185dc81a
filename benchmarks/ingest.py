"""Ingest benchmark: `guardian serve` on SQLite against a bare aiohttp handler, side by side.

    .venv/bin/python benchmarks/ingest.py [--seconds N] [--load NAME ...] [--senders N]
                                          [--python-client]
    .venv/bin/python benchmarks/ingest.py --memory [--seconds N] [--notifications N]

For each load, in one run, two servers are started one after the other, each on a fresh
temporary directory, and loaded the same way:

- `bare`: this script re-invoked with `--bare-server PORT`: an aiohttp handler that reads the
  body, parses it with `json.loads` and answers 202. Nothing is stored: it is the ceiling of
  what any JSON webhook endpoint can do here, on this machine, with this client.
- `guardian`: the real `guardian serve` on a fresh SQLite database, one `webhook` source with a
  bearer token; a 202 means every notification in the request is committed.

The client is wrk (a C client; `apt-get install wrk`) with `benchmarks/webhook.lua`: each request
is one ~300-byte webhook message, or an array of them, every message with an id no other request
uses, from a number of senders taking turns. With two cores or more the server runs on one core
and wrk on another (`taskset`). Without wrk the script falls back to a Python client in this
process, and says so: that client is slower than the bare server, so the bare figure then
measures the client, not the server.

Each target gets a 1 s warm-up, then `--seconds` measured. Printed per load: notifications/s,
p50 and p99 latency, answers other than 2xx, the server's peak memory, the CPU time of server,
client and everything else on the machine in the measured window (a run disturbed by other work
shows it there), Guardian/bare ratios, and stored == accepted: the rows in Guardian's
`notifications` table against the messages the client saw answered 2xx.

`--memory` measures Guardian's resident memory instead: idle, under the first load, and while
1,000,000 notifications from 100,000 senders are posted in arrays of 500 as fast as it takes them.

Figures, never pass/fail. The exit status is 1 when stored != accepted, 2 when a server did not
start.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import aiohttp
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
    rss_mib,
    running,
)
from summaries import Receiver

SOURCE = "bench"
TOKEN = "bench-token"
WARMUP_SECONDS = 1
SETTLE_SECONDS = 0.5
REQUEST_TIMEOUT = 30.0
LUA_SCRIPT = Path(__file__).with_name("webhook.lua")
RSS_EVERY = 0.2
#: Fewer 2xx answers than this in a run make its rate and percentiles rough.
FEW_ANSWERS = 200
DATABASE = "guardian.db"
CORES = os.cpu_count() or 1


@dataclass(frozen=True)
class Load:
    """One way of loading the servers."""

    name: str
    path: str  # "held" or "forwarded": which policy Guardian's member has
    senders: int
    batch: int = 1  # messages per request: 1 posts objects, more posts arrays
    connections: int = 64

    def describe(self) -> str:
        body = "one message" if self.batch == 1 else f"arrays of {self.batch}"
        return (
            f"{self.path}, {self.senders:,} senders taking turns, {body} per request, "
            f"{self.connections} connections"
        )


LOADS = [
    Load("held-50", "held", senders=50),
    Load("held-10k", "held", senders=10_000),
    Load("forwarded-50", "forwarded", senders=50),
    Load("forwarded-10k", "forwarded", senders=10_000),
    Load("batch-100", "held", senders=50, batch=100, connections=16),
    Load("batch-500", "held", senders=50, batch=500, connections=16),
]

SETTINGS = """\
[server]
host = "{host}"
port = {port}

[database]
url = "sqlite://{database}"

[household]
name = "Benchmark household"
timezone = "Europe/Amsterdam"

[[members]]
id = "mia"
name = "Mia"
role = "child"
channels = []
{policy}
{guardian}
[[sources]]
id = "{source}"
plugin = "webhook"
member = "mia"
token = "{token}"
"""

# The held path: quiet all day but the minute after midnight (a window cannot end where it
# starts), with bursts, keyword breakthroughs and storms configured, as a family would. Storms
# alert the guardian, whose deliveries fail at once: Sam has no channels. No repeated-contact
# rule: with senders taking turns at thousands a second every message would break through.
HELD = """policy = "night"

[policies.night]
quiet = [{ days = "daily", start = "00:01", end = "00:00" }]
burst = { limit = 3, per = "10m", notice_every = "15m" }
breakthrough = { keywords = ["emergency", "hospital"] }
storm = { count = 20, within = "30m", alert_guardians = true }
"""
GUARDIAN_MEMBER = """
[[members]]
id = "sam"
name = "Sam"
role = "guardian"
channels = []
"""


# ── the bare server ───────────────────────────────────────────────────────────────────────────


async def bare_hook(request: web.Request) -> web.Response:
    """What any JSON webhook endpoint must do at least: read, parse, answer."""
    body = json.loads(await request.read())
    accepted = len(body) if isinstance(body, list) else 1
    return web.json_response({"accepted": accepted, "duplicates": 0}, status=202)


async def bare_ready(request: web.Request) -> web.Response:
    return web.json_response({"status": "ready"})


def serve_bare(port: int) -> None:
    app = web.Application(client_max_size=1024 * 1024)
    app.router.add_post("/hooks/{source}", bare_hook)
    app.router.add_get("/readyz", bare_ready)
    web.run_app(app, host=HOST, port=port, print=None, access_log=None)


def bare_command(port: int) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--bare-server", str(port)]


def write_guardian_settings(
    workdir: Path, port: int, held: bool, channels: list[str] | None = None
) -> Path:
    config = workdir / "settings.toml"
    text = SETTINGS.format(
        host=HOST,
        port=port,
        database=workdir / DATABASE,
        source=SOURCE,
        token=TOKEN,
        policy=HELD if held else "",
        guardian=GUARDIAN_MEMBER if held else "",
    )
    if channels:
        text = text.replace("channels = []", f"channels = {json.dumps(channels)}", 1)
    config.write_text(text)
    return config


@contextmanager
def target(name: str, load: Load, cores: Cores) -> Iterator[Server]:
    """The bare server or Guardian, on the server's core, in a fresh temporary directory."""
    with tempfile.TemporaryDirectory(prefix=f"guardian-bench-{name}-") as directory:
        workdir, port = Path(directory), free_port()
        with ExitStack() as stack:
            if name == "bare":
                command = bare_command(port)
            else:
                held = load.path == "held"
                # Forwards go out to a real channel, as they would at home: a json:// receiver
                # on this script's (the client's) core. Without one every forward would fail at
                # once and the deliverer's failure reports would be measured instead.
                channels = None
                if not held:
                    receiver = stack.enter_context(Receiver().running())
                    channels = [receiver.channel("mia")]
                config = write_guardian_settings(workdir, port, held, channels)
                command = guardian_command(config)
            server = stack.enter_context(
                running(name, cores.server_prefix() + command, workdir, port)
            )
            yield server


# ── one run of the client ─────────────────────────────────────────────────────────────────────


@dataclass
class Run:
    """What the client saw in one run against one server."""

    batch: int
    seconds: float = 0.0
    #: Requests answered 2xx.
    accepted: int = 0
    #: Answers with a status of 400 or more, by status where the client knows it.
    http_errors: Counter[str] = field(default_factory=Counter)
    socket_errors: Counter[str] = field(default_factory=Counter)
    #: Messages the client built ids for: at least those it sent.
    generated: int = 0
    p50_ms: float = float("nan")
    p99_ms: float = float("nan")
    cpu: Cpu | None = None
    #: Client CPU seconds in the run (wrk's own, or this script's for the Python client).
    client_cpu: float = 0.0
    peak_rss_mib: float | None = None
    #: Guardian: notifications committed while the client ran (the server's own count).
    stored_in_window: int | None = None

    @property
    def notifications(self) -> int:
        return self.accepted * self.batch

    @property
    def per_second(self) -> float:
        """Notifications accepted per second (requests/s × messages per request)."""
        return self.notifications / self.seconds if self.seconds else 0.0

    @property
    def stored_per_second(self) -> float | None:
        """Rows committed per second in the window: unlike `per_second` it also counts the
        requests still in flight when the client stopped, which matters for big arrays."""
        if self.stored_in_window is None or not self.seconds:
            return None
        return self.stored_in_window / self.seconds

    def problems(self) -> str:
        found = [f"HTTP {status} ×{n}" for status, n in sorted(self.http_errors.items())]
        found += [f"{error} ×{n}" for error, n in sorted(self.socket_errors.items()) if n]
        return ", ".join(found)


Client = Callable[[Server, Load, str, int], Run]


def wrk_client(cores: Cores) -> Client:
    def run(server: Server, load: Load, prefix: str, seconds: int) -> Run:
        threads = 1 if cores.pinned else 2  # one wrk thread per core it may use
        command = [
            *cores.client_prefix(),
            "wrk",
            f"--threads={threads}",
            f"--connections={load.connections}",
            f"--duration={seconds}s",
            f"--timeout={REQUEST_TIMEOUT:.0f}s",
            f"--script={LUA_SCRIPT}",
            f"{server.base_url}/hooks/{SOURCE}",
            "--",
            prefix,
            str(load.senders),
            str(load.batch),
            TOKEN,
        ]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        with watching_memory(server.pid) as peak:
            process = subprocess.run(command, capture_output=True, text=True, check=False)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        lines = [line for line in process.stdout.splitlines() if line.startswith("RESULT ")]
        if process.returncode != 0 or not lines:
            raise RuntimeError(f"wrk failed ({process.returncode}): {process.stderr.strip()}")
        figures = json.loads(lines[-1].removeprefix("RESULT "))
        http_errors = figures["http_errors"]
        return Run(
            batch=load.batch,
            seconds=figures["duration_us"] / 1e6,
            accepted=figures["requests"] - http_errors,
            http_errors=Counter({"≥ 400": http_errors} if http_errors else {}),
            socket_errors=Counter(
                {
                    "connect errors": figures["connect_errors"],
                    "read errors": figures["read_errors"],
                    "write errors": figures["write_errors"],
                    "timeouts": figures["timeouts"],
                }
            ),
            generated=figures["generated"],
            p50_ms=figures["p50_us"] / 1000,
            p99_ms=figures["p99_us"] / 1000,
            client_cpu=after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime,
            peak_rss_mib=peak(),
        )

    return run


# The same messages as webhook.lua builds.
TEMPLATE = (
    '{"id":"%s-%d-%d","network":"sms","from":{"id":"+316%08d","name":"Sender %d"},'
    '"text":"%s","sent_at":"2026-11-25T22:10:00+01:00"}'
)
FILLER = "are you awake? I really need to talk to you, it is about today. " * 8


def python_client(server: Server, load: Load, prefix: str, seconds: int) -> Run:
    return asyncio.run(python_load(server, load, prefix, seconds))


async def python_load(server: Server, load: Load, prefix: str, seconds: int) -> Run:
    """Keep `load.connections` requests in flight for `seconds` (a closed loop, like wrk)."""
    url = f"{server.base_url}/hooks/{SOURCE}"
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    text = FILLER[: 300 - len(TEMPLATE % (prefix, 1, 100000, 1, 1, ""))]
    result = Run(batch=load.batch)
    latencies: list[float] = []
    started = time.perf_counter()
    end = started + seconds
    cpu_before = time.process_time()

    def body(worker: int, first: int) -> bytes:
        messages = [
            TEMPLATE % (prefix, worker, n, n % load.senders, n % load.senders, text)
            for n in range(first, first + load.batch)
        ]
        return (messages[0] if load.batch == 1 else "[" + ",".join(messages) + "]").encode()

    async def worker(session: aiohttp.ClientSession, number: int) -> None:
        generated = 0
        while (sent := time.perf_counter()) < end:
            data = body(number, generated + 1)
            generated += load.batch
            result.generated += load.batch
            try:
                async with session.post(url, data=data, headers=headers) as response:
                    await response.read()
            except (aiohttp.ClientError, TimeoutError) as error:
                result.socket_errors[type(error).__name__] += 1
                continue
            latencies.append(time.perf_counter() - sent)
            if response.status < 300:
                result.accepted += 1
            elif response.status >= 400:
                result.http_errors[str(response.status)] += 1

    connector = aiohttp.TCPConnector(limit=load.connections)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    with watching_memory(server.pid) as peak:
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            await asyncio.gather(*(worker(session, n) for n in range(load.connections)))
    result.seconds = time.perf_counter() - started
    result.client_cpu = time.process_time() - cpu_before
    result.peak_rss_mib = peak()
    if len(latencies) >= 2:
        cuts = statistics.quantiles(latencies, n=100)
        result.p50_ms, result.p99_ms = cuts[49] * 1000, cuts[98] * 1000
    return result


@contextmanager
def watching_memory(pid: int) -> Iterator[Callable[[], float | None]]:
    """Sample a process's RSS in a thread while the block runs; yields a getter of the peak."""
    peak: list[float] = []
    stopped = threading.Event()

    def sample() -> None:
        while not stopped.wait(RSS_EVERY):
            if (rss := rss_mib(pid)) is not None:
                peak[:] = [max(peak[0], rss)] if peak else [rss]

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield lambda: peak[0] if peak else None
    finally:
        stopped.set()
        sampler.join()


def measured(
    client: Client, server: Server, load: Load, seconds: int, database: Path | None = None
) -> tuple[Run, Run]:
    """A warm-up run, then the measured run with the CPU time of its window and, for Guardian,
    the rows committed in that window."""
    warmup = client(server, load, "warmup", WARMUP_SECONDS)
    rows_before = settled_rows(database) if database else 0
    before = cpu_now(server.pid)
    run = client(server, load, "run", seconds)
    after = cpu_now(server.pid)
    if database:
        run.stored_in_window = stored_rows(database).total() - rows_before
    if before and after:
        run.cpu = after - before
    return warmup, run


# ── stored == accepted ────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Stored:
    rows: Counter[str]  # by status
    accepted: int  # messages answered 2xx, warm-up included
    generated: int  # messages the client built, at least those it sent

    @property
    def total(self) -> int:
        return self.rows.total()

    @property
    def consistent(self) -> bool:
        """Every accepted message has its row, and no row comes from nowhere."""
        return self.accepted <= self.total <= self.generated

    def report(self) -> str:
        statuses = ", ".join(f"{n:,} {status}" for status, n in sorted(self.rows.items()))
        unanswered = self.total - self.accepted
        verdict = "yes" if self.consistent else "NO"
        line = (
            f"stored == accepted: {verdict}: {self.total:,} rows ({statuses}) for "
            f"{self.accepted:,} messages answered 2xx, warm-up included"
        )
        if self.total < self.accepted:
            return line + f": {self.accepted - self.total:,} accepted messages are missing"
        if self.total > self.generated:
            return line + f": {self.total - self.generated:,} rows more than messages sent"
        if unanswered:
            line += (
                f"; {unanswered:,} more were in flight when the client stopped and were stored "
                "though nobody read the answer"
            )
        return line


def stored_rows(database: Path) -> Counter[str]:
    """The rows in the notifications table, by status (forwarded, held, folded, ...)."""
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as connection:
        rows = connection.execute("SELECT status, count(*) FROM notifications GROUP BY status")
        return Counter({str(status): int(count) for status, count in rows})


def settled_rows(database: Path) -> int:
    """The number of rows once the server has committed what the client left in flight."""
    count = stored_rows(database).total()
    deadline = time.monotonic() + REQUEST_TIMEOUT
    while time.monotonic() < deadline:
        time.sleep(SETTLE_SECONDS)
        previous, count = count, stored_rows(database).total()
        if count == previous:
            break
    return count


# ── the benchmark ─────────────────────────────────────────────────────────────────────────────


@dataclass
class Result:
    load: Load
    bare: Run
    guardian: Run
    stored: Stored
    errors: list[str]

    @property
    def ratio(self) -> float:
        return self.guardian.per_second / self.bare.per_second if self.bare.per_second else 0.0


def run_load(load: Load, client: Client, cores: Cores, seconds: int) -> Result:
    with target("bare", load, cores) as server:
        _, bare = measured(client, server, load, seconds)
    with target("guardian", load, cores) as server:
        database = server.log.parent / DATABASE
        warmup, guardian = measured(client, server, load, seconds, database)
        settled_rows(database)
        rows = stored_rows(database)
        errors = server.errors_logged()
    stored = Stored(
        rows,
        accepted=(warmup.accepted + guardian.accepted) * load.batch,
        generated=warmup.generated + guardian.generated,
    )
    return Result(load, bare, guardian, stored, errors)


def print_result(result: Result, cores: Cores) -> None:
    print(f"\n{result.load.name}: {result.load.describe()}")
    print(
        f"  {'target':<9} {'answers':>8} {'notif/s':>9} {'stored/s':>9} {'p50 ms':>8} "
        f"{'p99 ms':>8} {'RSS MiB':>8}  CPU s"
    )
    for name, run in (("bare", result.bare), ("guardian", result.guardian)):
        stored = run.stored_per_second
        print(
            f"  {name:<9} {run.accepted:>8,} {run.per_second:>9,.0f} "
            f"{'-' if stored is None else f'{stored:,.0f}':>9} {run.p50_ms:>8.1f} "
            f"{run.p99_ms:>8.1f} {mib(run.peak_rss_mib):>8}  {cpu_line(run, cores)}"
        )
        if run.problems():
            print(f"  {'':<9} not 2xx: {run.problems()}")
        if run.accepted < FEW_ANSWERS:
            print(
                f"  {'':<9} only {run.accepted} answers in the window: notif/s and the "
                "percentiles are rough; stored/s counts what is in flight (or raise --seconds)"
            )
    guardian, bare = result.guardian, result.bare
    print(
        f"  guardian/bare: throughput {ratio(result.ratio)}, "
        f"p50 {guardian.p50_ms / bare.p50_ms:.1f}×, p99 {guardian.p99_ms / bare.p99_ms:.1f}×"
    )
    print(f"  {result.stored.report()}")
    if result.errors:
        print(f"  Guardian logged {len(result.errors)} errors, the first ones:")
        print("\n".join(f"    {line}" for line in result.errors[:5]))


def cpu_line(run: Run, cores: Cores) -> str:
    """Where the machine's CPU time went in the measured window."""
    cpu = run.cpu
    if cpu is None:
        return "(no /proc here)"
    # wrk's time is among the children's; the Python client's is this script's.
    other = max(cpu.machine - cpu.servers - cpu.children - cpu.script, 0.0)
    available = CORES * run.seconds
    return (
        f"server {cpu.servers:4.1f}, client {run.client_cpu:4.1f}, other {other:4.1f}, "
        f"idle {max(available - cpu.machine, 0.0):4.1f} (of {available:.1f})"
    )


def print_table(results: list[Result]) -> None:
    """The figures as a Markdown table, as docs/performance.md shows them."""
    print(
        "\n| load | bare notif/s | Guardian notif/s | ratio | Guardian stored/s "
        "| Guardian p50 | Guardian p99 |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        print(
            f"| {r.load.describe()} | {r.bare.per_second:,.0f} | {r.guardian.per_second:,.0f} "
            f"| {ratio(r.ratio)} | {r.guardian.stored_per_second or 0:,.0f} "
            f"| {r.guardian.p50_ms:.1f} ms | {r.guardian.p99_ms:.1f} ms |"
        )


def choose_client(cores: Cores, python: bool) -> tuple[Client, str]:
    if not python and shutil.which("wrk"):
        return wrk_client(cores), "wrk (benchmarks/webhook.lua)"
    reason = "--python-client" if python else "wrk not found (apt-get install wrk)"
    return python_client, (
        f"the Python client in this script ({reason}). NOTE: this client is slower than the "
        "bare server, so the bare figures and the ratios measure the client, not the server"
    )


def benchmark(loads: list[Load], seconds: int, python: bool) -> bool:
    """Run every load against both targets and print the figures; False if a row was lost."""
    cores = choose_cores()
    client, client_note = choose_client(cores, python)
    cores.pin_this_process()
    print(f"client: {client_note}")
    print(f"cores: {cores.note}; load average {machine_load()}")
    print(
        f"per target: {WARMUP_SECONDS:g} s warm-up + {seconds:g} s measured; ~300-byte "
        "messages with unique ids, bearer token; CPU s in the measured window"
    )
    results = []
    for load in loads:
        result = run_load(load, client, cores, seconds)
        print_result(result, cores)
        results.append(result)
    print_table(results)
    return all(r.stored.consistent for r in results)


# ── memory ────────────────────────────────────────────────────────────────────────────────────

MILLION_SENDERS = 100_000
MILLION_BATCH = 500
MILLION_CONNECTIONS = 4
IDLE_SECONDS = 3.0


def memory(seconds: int, notifications: int, python: bool) -> bool:
    """Guardian's RSS idle, under the first load, and over a million notifications."""
    cores = choose_cores()
    client, client_note = choose_client(cores, python)
    cores.pin_this_process()
    load = LOADS[0]
    print(f"client: {client_note}; cores: {cores.note}; load average {machine_load()}")
    with target("guardian", load, cores) as server:
        time.sleep(IDLE_SECONDS)
        print("\nRSS of guardian serve (VmRSS in /proc/PID/status), MiB")
        print(f"  idle after start: {mib(rss_mib(server.pid))}")
        database = server.log.parent / DATABASE
        warmup, run = measured(client, server, load, seconds, database)
        print(
            f"  under {load.name} ({load.describe()}), peak: {mib(run.peak_rss_mib)} "
            f"({run.per_second:,.0f} notifications/s)"
        )
        settled_rows(database)
        time.sleep(IDLE_SECONDS)
        print(f"  idle {IDLE_SECONDS:g} s after that load: {mib(rss_mib(server.pid))}")
        print(
            f"  {notifications:,} notifications from {MILLION_SENDERS:,} senders in arrays of "
            f"{MILLION_BATCH}, {MILLION_CONNECTIONS} connections, as fast as Guardian takes them:"
        )
        posted = asyncio.run(post_many(server, notifications))
        settled_rows(database)
        time.sleep(IDLE_SECONDS)
        print(f"  idle {IDLE_SECONDS:g} s after those: {mib(rss_mib(server.pid))}")
        stored = Stored(
            stored_rows(database),
            accepted=(warmup.accepted + run.accepted) * load.batch + posted,
            generated=warmup.generated + run.generated + posted,
        )
        print(f"  {stored.report()}")
    return stored.consistent


async def post_many(server: Server, total: int) -> int:
    """Post `total` notifications in arrays; print the RSS every tenth. Returns those accepted."""
    url = f"{server.base_url}/hooks/{SOURCE}"
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    text = FILLER[:120]
    requests = (total + MILLION_BATCH - 1) // MILLION_BATCH
    step = max(requests // 10, 1)
    queue = iter(range(requests))
    accepted = 0
    started = last_time = time.perf_counter()
    last_count = 0

    def body(number: int) -> bytes:
        first = number * MILLION_BATCH
        size = min(MILLION_BATCH, total - first)
        messages = [
            TEMPLATE % ("million", 0, n, n % MILLION_SENDERS, n % MILLION_SENDERS, text)
            for n in range(first, first + size)
        ]
        return ("[" + ",".join(messages) + "]").encode()

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal accepted, last_time, last_count
        for number in queue:
            async with session.post(url, data=body(number), headers=headers) as response:
                answer = await response.json()
                if response.status != 202:
                    raise RuntimeError(f"Guardian answered {response.status}: {answer}")
                accepted += answer["accepted"]
            if (number + 1) % step == 0:
                now = time.perf_counter()
                rate = (accepted - last_count) / (now - last_time)
                last_time, last_count = now, accepted
                print(
                    f"    {accepted:>9,} accepted after {now - started:6.1f} s: "
                    f"RSS {mib(rss_mib(server.pid)):>5} MiB, {rate:,.0f} notifications/s",
                    flush=True,
                )

    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT * 4)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        await asyncio.gather(*(worker(session) for _ in range(MILLION_CONNECTIONS)))
    return accepted


def ratio(value: float) -> str:
    return f"{value:.2f}×" if value >= 0.1 else f"{value:.3f}×"


def mib(value: float | None) -> str:
    return "?" if value is None else f"{value:.0f}"


# ── the command line ──────────────────────────────────────────────────────────────────────────


def _interrupt(signum: int, frame: object) -> None:
    signal.raise_signal(signal.SIGINT)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument(
        "--seconds", type=int, default=5, help="measured seconds per target (default 5)"
    )
    parser.add_argument(
        "--load",
        action="append",
        choices=[load.name for load in LOADS],
        help="run only this load (repeatable); default: all",
    )
    parser.add_argument(
        "--senders", type=int, help="senders taking turns in every load (default: the load's own)"
    )
    parser.add_argument(
        "--python-client", action="store_true", help="use the Python client even if wrk is there"
    )
    parser.add_argument("--memory", action="store_true", help="measure Guardian's memory instead")
    parser.add_argument(
        "--notifications",
        type=int,
        default=1_000_000,
        help="--memory: notifications to post in arrays (default 1,000,000)",
    )
    parser.add_argument("--bare-server", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_server is not None:
        serve_bare(args.bare_server)
        return 0
    if args.seconds <= 0 or args.notifications <= 0 or (args.senders or 1) <= 0:
        parser.error("--seconds, --notifications and --senders must be positive")
    # SIGTERM as Ctrl-C: KeyboardInterrupt unwinds through the blocks that stop the servers.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        if args.memory:
            same = memory(args.seconds, args.notifications, args.python_client)
        else:
            loads = [load for load in LOADS if not args.load or load.name in args.load]
            if args.senders:
                loads = [replace(load, senders=args.senders) for load in loads]
            same = benchmark(loads, args.seconds, args.python_client)
        return 0 if same else 1
    except RuntimeError as error:
        print(f"benchmark failed: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
