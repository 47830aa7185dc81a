"""A real, throwaway Dovecot IMAP server for the tests: Debian's `dovecot-imapd` on free loopback
ports (implicit TLS, and plain with STARTTLS), a test certificate from trustme, a passwd-file of
test users, Maildirs in a temporary folder; stopped and removed at the end of the session.

Without Dovecot the IMAP tests are skipped with the reason, except under `CI=true`, where they
fail: CI (`.ci/run`) installs `dovecot-imapd` and must not pass by skipping it.
"""

from __future__ import annotations

import imaplib
import os
import pwd
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

from tests.conftest import free_port

TIMEOUT = 30


def skip_or_fail(reason: str) -> None:
    """Skip with the reason; under CI=true, fail instead (CI must have Dovecot)."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: Dovecot is required here)", pytrace=False)
    pytest.skip(reason)


@dataclass(frozen=True)
class User:
    name: str
    password: str


@dataclass
class Dovecot:
    root: Path
    tls_port: int
    plain_port: int
    #: The test CA: a client trusts the server's certificate through `SSL_CERT_FILE=ca_file`.
    ca_file: Path
    #: Has IDLE; `poller` logs in to a server that does not offer it (per-user capabilities).
    user: User
    poller: User
    #: For tests that end sessions (`doveadm kick`), so others' sessions are left alone.
    kicked: User

    def client(self, user: User | None = None) -> imaplib.IMAP4:
        """A plain IMAP connection (the tests' own, for delivering and looking), logged in."""
        user = user or self.user
        connection = imaplib.IMAP4("127.0.0.1", self.plain_port, timeout=TIMEOUT)
        connection.login(user.name, user.password)
        return connection

    def deliver(self, message: bytes, *, mailbox: str = "INBOX", user: User | None = None) -> int:
        """APPEND `message` to the mailbox; returns its UID."""
        connection = self.client(user)
        try:
            status, data = connection.append(mailbox, None, None, message)
            assert status == "OK", data
            # [APPENDUID <uidvalidity> <uid>] (RFC 4315, which Dovecot supports)
            return int(data[0].split(b"]")[0].split()[-1])
        finally:
            connection.logout()

    def flags(self, uid: int, *, mailbox: str = "INBOX", user: User | None = None) -> str:
        """The message's flags, as the server keeps them (`\\Seen` once read)."""
        connection = self.client(user)
        try:
            connection.select(mailbox, readonly=True)
            status, data = connection.uid("FETCH", str(uid), "(FLAGS)")
            assert status == "OK", data
            return data[0].decode() if data and data[0] else ""
        finally:
            connection.logout()

    def create(self, mailbox: str, *, user: User | None = None) -> None:
        connection = self.client(user)
        try:
            connection.create(mailbox)
        finally:
            connection.logout()

    def rebuild(self, mailbox: str = "INBOX", *, user: User | None = None) -> None:
        """Give the mailbox a new UIDVALIDITY, as a server does when it rebuilds its index."""
        user = user or self.user
        self.doveadm(
            "mailbox",
            "update",
            "-u",
            user.name,
            "--uid-validity",
            str(int(time.time()) + int.from_bytes(os.urandom(2), "big")),
            mailbox,
        )

    def doveadm(self, *args: str) -> str:
        result = subprocess.run(
            ["doveadm", "-c", str(self.root / "dovecot.conf"), *args],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"doveadm {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout


def _mail_owner() -> tuple[int, int, str]:
    """Dovecot never reads mail as root: as root, mail belongs to the `dovecot` user."""
    if os.geteuid() == 0:
        entry = pwd.getpwnam("dovecot")
        return entry.pw_uid, entry.pw_gid, "dovecot"
    entry = pwd.getpwuid(os.geteuid())
    return entry.pw_uid, entry.pw_gid, entry.pw_name


CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
instance_name = guardian-test-{tls_port}
listen = 127.0.0.1
protocols = imap
log_path = {root}/dovecot.log
first_valid_uid = 1
{login_users}
ssl = yes
ssl_cert = <{root}/cert.pem
ssl_key = <{root}/key.pem
ssl_min_protocol = TLSv1.2
# Loopback counts as secure to Dovecot; a plain login without STARTTLS is what `security = none` is.
disable_plaintext_auth = no
auth_mechanisms = plain login
# A refused login is answered at once, not after the usual 2 s.
auth_failure_delay = 0
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {root}/users
  default_fields = uid={uid} gid={gid} home={root}/mail/%u mail=maildir:~/Maildir
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {plain_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
"""


@contextmanager
def dovecot() -> Iterator[Dovecot]:
    """Start Dovecot in a temporary folder; stop it and remove the folder, even on failure."""
    binary = shutil.which("dovecot") or next(
        (p for p in ("/usr/sbin/dovecot",) if os.access(p, os.X_OK)), None
    )
    if binary is None or not Path("/usr/lib/dovecot/imap").exists():
        skip_or_fail(
            "Dovecot (dovecot, /usr/lib/dovecot/imap) not found; apt install dovecot-imapd"
        )
    assert binary is not None
    uid, gid, owner = _mail_owner()
    root = Path(tempfile.mkdtemp(prefix="guardian-dovecot-"))
    os.chmod(root, 0o755)  # the mail and login processes run as other users
    ca = trustme.CA()
    certificate = ca.issue_cert("127.0.0.1", "localhost")
    certificate.private_key_pem.write_to_path(str(root / "key.pem"))
    certificate.cert_chain_pems[0].write_to_path(str(root / "cert.pem"))
    ca.cert_pem.write_to_path(str(root / "ca.pem"))
    user = User("mia", "imap-test-password-5e1d")
    poller = User("noor", "imap-test-password-9c2a")
    kicked = User("lotte", "imap-test-password-47b0")
    # passwd-file: user:password:uid:gid:gecos:home:shell:extra fields. Noor's server offers no
    # IDLE after login, so her mailbox is polled: a userdb field overrides imap_capability.
    (root / "users").write_text(
        f"{user.name}:{user.password}::::::\n"
        f"{poller.name}:{poller.password}::::::userdb_imap_capability=IMAP4rev1\n"
        f"{kicked.name}:{kicked.password}::::::\n"
    )
    (root / "mail").mkdir()
    os.chown(root / "mail", uid, gid)
    tls_port, plain_port = free_port(), free_port()
    login_users = (
        ""
        if os.geteuid() == 0
        else f"default_login_user = {owner}\ndefault_internal_user = {owner}"
    )
    (root / "dovecot.conf").write_text(
        CONFIG.format(
            root=root,
            tls_port=tls_port,
            plain_port=plain_port,
            uid=uid,
            gid=gid,
            login_users=login_users,
        )
    )
    server = Dovecot(root, tls_port, plain_port, root / "ca.pem", user, poller, kicked)
    started = False
    try:
        # Dovecot daemonizes: its children keep the standard streams, so no pipes here.
        with open(root / "start.log", "wb") as output:
            code = subprocess.call(
                [binary, "-c", str(root / "dovecot.conf")],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                timeout=TIMEOUT,
            )
        if code != 0:
            log = (root / "dovecot.log").read_text() if (root / "dovecot.log").exists() else ""
            raise RuntimeError(f"dovecot did not start: {(root / 'start.log').read_text()}{log}")
        started = True
        _wait_until_it_answers(server)
        yield server
    finally:
        if started:
            _stop(root)
        shutil.rmtree(root, ignore_errors=True)


def _wait_until_it_answers(server: Dovecot) -> None:
    deadline = time.monotonic() + TIMEOUT
    context = ssl.create_default_context(cafile=str(server.ca_file))
    while True:
        try:
            imaplib.IMAP4_SSL("127.0.0.1", server.tls_port, ssl_context=context).logout()
            server.client().logout()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _stop(root: Path) -> None:
    """Stop the master (it stops its children) and wait until it is gone."""
    pid_file = root / "run" / "master.pid"
    try:
        pid = int(pid_file.read_text())
    except (OSError, ValueError):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
