"""What the benchmarks share: the servers they start, the cores they pin them to, and what the
processes cost (CPU time and memory, read from /proc on Linux).

A server runs as a subprocess for the duration of a `with running(...)` block and is stopped
(SIGTERM, then SIGKILL) however the block ends; its output goes to a log file, never a pipe, so
a chatty server cannot block on a full pipe.
"""

from __future__ import annotations

import os
import resource
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"
READY_TIMEOUT = 120.0
STOP_TIMEOUT = 15.0
CLOCK_TICK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


# ── cores ─────────────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Cores:
    """Which core the server gets and which the client, or why they share all of them."""

    server: int | None
    client: int | None
    note: str

    @property
    def pinned(self) -> bool:
        return self.server is not None

    def server_prefix(self) -> list[str]:
        """The command prefix that runs a server on its core (`taskset -c N`), or nothing."""
        return ["taskset", "-c", str(self.server)] if self.server is not None else []

    def client_prefix(self) -> list[str]:
        return ["taskset", "-c", str(self.client)] if self.client is not None else []

    def pin_this_process(self) -> None:
        """Run this script (the receiver, the Python client) on the client's core."""
        if self.client is not None:
            os.sched_setaffinity(0, {self.client})


def choose_cores() -> Cores:
    """Server on the first core this process may use, client on the second, if there are two."""
    available = sorted(os.sched_getaffinity(0))
    if len(available) < 2:
        return Cores(None, None, f"{len(available)} core: server and client share it, not pinned")
    if shutil.which("taskset") is None:
        return Cores(None, None, "taskset not found (util-linux): server and client not pinned")
    server, client = available[:2]
    return Cores(server, client, f"server pinned to core {server}, client to core {client}")


# ── servers as subprocesses ───────────────────────────────────────────────────────────────────


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def errors_logged(self) -> list[str]:
        """Lines of the log that point at a failure."""
        return [
            line
            for line in self.log_text().splitlines()
            if " ERROR " in line or line.startswith("Traceback")
        ]


@contextmanager
def running(
    name: str,
    command: list[str],
    workdir: Path,
    port: int,
    env: Mapping[str, str] | None = None,
    wait: bool = True,
) -> Iterator[Server]:
    """Run `command` for the block's duration (ready once `GET /readyz` answers 200)."""
    log = workdir / f"{name}.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            command,
            cwd=workdir,
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
    server = Server(name, process, port, log)
    try:
        if wait:
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


def wait_ready(server: Server, timeout: float = READY_TIMEOUT) -> None:
    """Poll `GET /readyz` until it answers 200; fail early if the server exits."""
    url = f"{server.base_url}/readyz"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"{server.name} exited with {server.process.returncode} before it was ready:\n"
                f"{server.log_tail()}"
            )
        if _ready(url):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{server.name} not ready after {timeout:.0f} s:\n{server.log_tail()}")


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def guardian_command(config: Path, log_level: str = "WARNING") -> list[str]:
    """`guardian serve` from the virtual environment this script runs in."""
    executable = Path(sys.executable).with_name("guardian")
    if not executable.exists():
        raise RuntimeError(f"{executable} not found: run this with the venv's python")
    return [str(executable), "serve", "--config", str(config), "--log-level", log_level]


# ── what the processes cost ───────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Cpu:
    """CPU seconds used so far: by the whole machine (all cores, busy time only), by the
    servers (all their threads), by finished client subprocesses (wrk), and by this script."""

    machine: float
    servers: float
    children: float
    script: float

    def __sub__(self, earlier: Cpu) -> Cpu:
        return Cpu(
            self.machine - earlier.machine,
            self.servers - earlier.servers,
            self.children - earlier.children,
            self.script - earlier.script,
        )


def cpu_now(*server_pids: int) -> Cpu | None:
    """From /proc (Linux); None elsewhere, or when a server has already exited."""
    try:
        machine = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
        servers = sum(_process_ticks(pid) for pid in server_pids)
    except OSError:
        return None
    # user nice system idle iowait irq softirq steal: busy is all but idle and iowait.
    busy = sum(int(value) for value in machine) - int(machine[3]) - int(machine[4])
    finished = resource.getrusage(resource.RUSAGE_CHILDREN)
    return Cpu(
        busy / CLOCK_TICK,
        servers / CLOCK_TICK,
        finished.ru_utime + finished.ru_stime,
        time.process_time(),
    )


def _process_ticks(pid: int) -> int:
    """User and system time of a process, all its threads, in clock ticks."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def tree_seconds(pid: int | None) -> float | None:
    """CPU seconds of a server and its child processes (PostgreSQL's backends), the ones that
    have exited included (a parent's cutime and cstime); None without /proc or that process."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    ticks = sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            child = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited meanwhile: counted in the parent's cutime once reaped
        if int(child[1]) == pid:
            ticks += int(child[11]) + int(child[12])
    return ticks / CLOCK_TICK


def rss_mib(pid: int) -> float | None:
    """The resident set size of a process (VmRSS in /proc/PID/status), in MiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def machine_load() -> str:
    """The load averages, to show with the figures: a busy machine moves them."""
    try:
        one, five, fifteen = Path("/proc/loadavg").read_text().split()[:3]
    except OSError:
        return "unknown"
    return f"{one} {five} {fifteen} (1, 5, 15 min)"
