"""Ingest benchmark: Guardian on SQLite against a bare aiohttp handler, loaded by the same client.

    .venv/bin/python benchmarks/ingest.py [--seconds N] [--connections C] [--held]

Two servers, each in its own subprocess and measured one after the other in the same run:

- `guardian`: the real `guardian serve` on a fresh SQLite database in a temporary directory,
  one `webhook` source with a bearer token; a 202 means the notification is committed. Its one
  member has no policy, so every notification is forwarded: the notification and its forward
  delivery are stored in the same commit (and, the member having no channels, the delivery
  then fails at once in the background). With `--held` the member is quiet all day instead, so
  every notification is held for a summary: the quiet-hours path.
- `bare`: this script re-invoked with `--bare-server PORT`: an aiohttp handler that reads the
  body, parses it with `json.loads` and answers 202. Nothing is stored: it is the ceiling that
  aiohttp and this client reach on this machine.

The client (in this process) keeps C connections busy posting one ~300-byte webhook message per
request, each with a unique id, first for a short warm-up, then for the measured N seconds, and
records each request's latency. Everything runs on loopback. After the Guardian run the rows in
its `notifications` table are counted: there must be exactly one per 202 answer.

Client and server share the machine's cores. On Linux the CPU time of the server, the client and
everything else on the machine during the measured window is printed too: a benchmark that
competed with other work (a test run, a build) shows it there.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from aiohttp import web

HOST = "127.0.0.1"
SOURCE = "bench"
TOKEN = "bench-token"
WARMUP_SECONDS = 1.5
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
REQUEST_TIMEOUT = 30.0
BODY_BYTES = 300
CORES = os.cpu_count() or 1

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
[[sources]]
id = "{source}"
plugin = "webhook"
member = "mia"
token = "{token}"
"""

# Quiet all day but the minute after midnight (a window cannot end where it starts). One window
# on every day: as much work per decision as the demo settings' two windows on 5 + 2 days.
QUIET_ALL_DAY = """policy = "quiet"

[policies.quiet]
quiet = [{ days = "daily", start = "00:01", end = "00:00" }]
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
    app = web.Application()
    app.router.add_post("/hooks/{source}", bare_hook)
    app.router.add_get("/readyz", bare_ready)
    web.run_app(app, host=HOST, port=port, print=None, access_log=None)


# ── servers as subprocesses ───────────────────────────────────────────────────────────────────


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def log_tail(self, lines: int = 20) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@contextmanager
def running(name: str, command: list[str], cwd: Path, port: int) -> Iterator[Server]:
    """Run `command` for the block's duration; stop it (terminate, then kill) however it ends.

    Its output goes to a log file, not a pipe, so a chatty server can never block on a full pipe.
    """
    log = cwd / f"{name}.log"
    with log.open("wb") as output:
        process = subprocess.Popen(command, cwd=cwd, stdout=output, stderr=subprocess.STDOUT)
    server = Server(name, process, port, log)
    try:
        wait_ready(server)
        yield server
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_ready(server: Server) -> None:
    """Poll `GET /readyz` until it answers 200; fail early if the server exits."""
    url = f"{server.base_url}/readyz"
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"{server.name} exited with {server.process.returncode} before it was ready:\n"
                f"{server.log_tail()}"
            )
        if _ready(url):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{server.name} not ready after {READY_TIMEOUT:.0f} s:\n{server.log_tail()}")


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def guardian_command(config: Path) -> list[str]:
    executable = Path(sys.executable).with_name("guardian")
    if not executable.exists():
        raise RuntimeError(f"{executable} not found: run this with the venv's python")
    return [str(executable), "serve", "--config", str(config), "--log-level", "WARNING"]


def bare_command(port: int) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--bare-server", str(port)]


# ── CPU time ──────────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Cpu:
    """CPU seconds: of all cores together (busy, not idle), of the server, of this client."""

    machine: float
    server: float
    client: float

    def __sub__(self, earlier: Cpu) -> Cpu:
        return Cpu(
            self.machine - earlier.machine,
            self.server - earlier.server,
            self.client - earlier.client,
        )

    @property
    def other(self) -> float:
        return max(self.machine - self.server - self.client, 0.0)


def cpu_now(server_pid: int) -> Cpu | None:
    """From /proc (Linux); None elsewhere."""
    try:
        machine = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
        server = Path(f"/proc/{server_pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    tick = os.sysconf("SC_CLK_TCK")
    # user nice system idle iowait irq softirq steal; the server's utime and stime.
    busy = sum(int(value) for value in machine) - int(machine[3]) - int(machine[4])
    return Cpu(busy / tick, (int(server[11]) + int(server[12])) / tick, time.process_time())


# ── the load ──────────────────────────────────────────────────────────────────────────────────


@dataclass
class Load:
    """What the client saw: totals over the whole run, and the measured window."""

    accepted_total: int = 0
    requests: int = 0
    accepted: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    cpu: Cpu | None = None

    @property
    def rejected(self) -> int:
        """Answers other than 202, and requests that got no answer at all, in the window."""
        return self.requests - self.accepted

    @property
    def per_second(self) -> float:
        return self.accepted / self.seconds if self.seconds else 0.0

    def percentile_ms(self, percent: int) -> float:
        if len(self.latencies) < 2:
            return float("nan")
        return statistics.quantiles(self.latencies, n=100)[percent - 1] * 1000


def body_parts(target: str) -> tuple[bytes, bytes]:
    """The message as the bytes before and after its id, padded to about BODY_BYTES."""
    marker = "\x00"
    message = {
        "id": marker,
        "network": "sms",
        "from": {"id": "+31612345678", "name": "Sophie"},
        "text": "",
        "sent_at": "2026-11-25T22:10:00+01:00",
    }
    typical_id = f"{target}-00-0000000"
    padding = BODY_BYTES - len(json.dumps({**message, "id": typical_id}))
    message["text"] = ("are you awake? I really need to talk to you, it is about today. " * 8)[
        :padding
    ]
    before, after = json.dumps(message).split(json.dumps(marker)[1:-1])
    return before.encode(), after.encode()


async def load(server: Server, target: str, connections: int, seconds: float) -> Load:
    """Keep `connections` requests in flight: warm up, then measure for `seconds`."""
    url = f"{server.base_url}/hooks/{SOURCE}"
    result = Load()
    before, after = body_parts(target)
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    start = time.perf_counter()
    window_start = start + WARMUP_SECONDS
    window_end = window_start + seconds

    async def worker(session: aiohttp.ClientSession, number: int) -> None:
        sequence = 0
        while (sent := time.perf_counter()) < window_end:
            sequence += 1
            body = before + f"{target}-{number:02d}-{sequence:07d}".encode() + after
            status, failure = 0, ""
            try:
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                    status = response.status
            except (aiohttp.ClientError, TimeoutError) as error:
                failure = type(error).__name__
            done = time.perf_counter()
            if status == 202:
                result.accepted_total += 1
            if not window_start <= done <= window_end:
                continue
            if failure:
                result.errors[failure] += 1
            result.requests += 1
            result.latencies.append(done - sent)
            if status == 202:
                result.accepted += 1
            elif status:
                result.statuses[status] += 1

    async def measure_cpu() -> None:
        await asyncio.sleep(window_start - time.perf_counter())
        before = cpu_now(server.process.pid)
        await asyncio.sleep(window_end - time.perf_counter())
        after = cpu_now(server.process.pid)
        if before and after:
            result.cpu = after - before

    connector = aiohttp.TCPConnector(limit=connections)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(measure_cpu(), *(worker(session, n) for n in range(connections)))
    result.seconds = seconds
    return result


def stored_rows(database: Path) -> Counter[str]:
    """The rows in the notifications table, by status (forwarded, held, ...)."""
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as connection:
        rows = connection.execute("SELECT status, count(*) FROM notifications GROUP BY status")
        return Counter({str(status): int(count) for status, count in rows})


def log_problems(log: Path) -> list[str]:
    """Lines of a server's log that point at a failure (the log is kept at WARNING and up)."""
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    return [line for line in lines if " ERROR " in line or line.startswith("Traceback")]


# ── the run ───────────────────────────────────────────────────────────────────────────────────


def run_bare(workdir: Path, connections: int, seconds: float) -> Load:
    port = free_port()
    with running("bare", bare_command(port), workdir, port) as server:
        return asyncio.run(load(server, "bare", connections, seconds))


def run_guardian(
    workdir: Path, connections: int, seconds: float, held: bool
) -> tuple[Load, Counter[str], list[str]]:
    port = free_port()
    database = workdir / "guardian.db"
    config = workdir / "settings.toml"
    settings = SETTINGS.format(
        host=HOST,
        port=port,
        database=database,
        source=SOURCE,
        token=TOKEN,
        policy=QUIET_ALL_DAY if held else "",
    )
    config.write_text(settings)
    with running("guardian", guardian_command(config), workdir, port) as server:
        result = asyncio.run(load(server, "guardian", connections, seconds))
        # Every 202 was answered after its commit: the rows are there while Guardian still runs.
        rows = stored_rows(database)
    return result, rows, log_problems(server.log)


def report(name: str, result: Load) -> str:
    line = (
        f"{name:<10} {result.requests:>9,} {result.per_second:>11,.0f} "
        f"{result.percentile_ms(50):>8.1f} {result.percentile_ms(99):>8.1f} {result.rejected:>8,}"
    )
    problems = [f"HTTP {status} ×{n}" for status, n in sorted(result.statuses.items())]
    problems += [f"{error} ×{n}" for error, n in sorted(result.errors.items())]
    return line + (f"   ({', '.join(problems)})" if problems else "")


def cpu_report(name: str, result: Load) -> str:
    cpu = result.cpu
    if cpu is None:
        return f"{name:<10} (no /proc here)"
    idle = max(CORES * result.seconds - cpu.machine, 0.0)
    return (
        f"{name:<10} server {cpu.server:5.1f} s, client {cpu.client:5.1f} s, "
        f"other processes {cpu.other:5.1f} s, idle {idle:5.1f} s"
    )


def benchmark(connections: int, seconds: float, held: bool) -> bool:
    """Run both targets and print the figures; False if Guardian lost or invented a row."""
    print(
        f"{connections} connections, {WARMUP_SECONDS:g} s warm-up + {seconds:g} s measured "
        f"per target, ~{BODY_BYTES}-byte bodies, one message per request, "
        f"{'held' if held else 'forwarded'} by Guardian",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="guardian-bench-") as directory:
        workdir = Path(directory)
        bare = run_bare(workdir, connections, seconds)
        guardian, rows, problems = run_guardian(workdir, connections, seconds, held)
    print(f"\n{'target':<10} {'requests':>9} {'notif/s':>11} {'p50 ms':>8} {'p99 ms':>8} non-202")
    print(report("bare", bare))
    print(report("guardian", guardian))
    print(f"\nCPU time in the measured window ({CORES} cores × {seconds:g} s):")
    print(cpu_report("bare", bare))
    print(cpu_report("guardian", guardian))
    ratio = guardian.per_second / bare.per_second if bare.per_second else float("nan")
    print(f"\nthroughput guardian/bare: {ratio:.2f}×")
    stored = rows.total()
    same = stored == guardian.accepted_total
    statuses = "".join(f", {n:,} {status}" for status, n in sorted(rows.items()))
    print(
        f"stored == accepted: {'yes' if same else 'NO'} ({stored:,} rows in notifications"
        f"{statuses}; {guardian.accepted_total:,} answers 202, warm-up included)"
    )
    if problems:
        print(f"\nGuardian logged {len(problems)} errors, the first ones:")
        print("\n".join(f"  {line}" for line in problems[:5]))
    return same


def _interrupt(signum: int, frame: object) -> None:
    signal.raise_signal(signal.SIGINT)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured time per target")
    parser.add_argument("--connections", type=int, default=64, help="concurrent connections")
    parser.add_argument(
        "--held", action="store_true", help="quiet hours all day: hold instead of forward"
    )
    parser.add_argument("--bare-server", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_server is not None:
        serve_bare(args.bare_server)
        return 0
    if args.seconds <= 0 or not 1 <= args.connections <= 1000:
        parser.error("--seconds must be positive and --connections between 1 and 1000")
    # SIGTERM as Ctrl-C (which asyncio.run turns into a clean cancellation): KeyboardInterrupt
    # unwinds through the blocks that stop the servers.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        return 0 if benchmark(args.connections, args.seconds, args.held) else 1
    except RuntimeError as error:
        print(f"benchmark failed: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
