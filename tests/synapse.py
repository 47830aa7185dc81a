"""A real, throwaway Synapse homeserver for the tests, with a simulated mautrix bridge.

Synapse (`matrix-synapse` from PyPI, AGPL) runs from its own virtual environment, built by
`make synapse` under `.cache/synapse` (or the Python named by `GUARDIAN_SYNAPSE_PYTHON`), as a
separate process: our code never imports it. SQLite, loopback, a free port, no federation; users
are registered through the shared-secret admin API. The "bridge" is an application service
(its registration file below) that may act as `@whatsapp_…`, `@signal_…` and the other ghosts
and as its bot `@bridgebot`, as a mautrix bridge does (`?user_id=` on each call).

Without Synapse the Matrix tests are skipped with the reason, except under `CI=true`, where they
fail: CI (`.ci/run`) builds Synapse's environment and must not pass by skipping it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest

from tests.conftest import free_port

ROOT = Path(__file__).parent.parent
TIMEOUT = 90
SERVER_NAME = "guardian.test"
SHARED_SECRET = "synapse-shared-secret-for-tests-3b7c"
AS_TOKEN = "bridge-as-token-for-tests-61f0"
HS_TOKEN = "bridge-hs-token-for-tests-a94d"
BOT = f"@bridgebot:{SERVER_NAME}"
GHOSTS = "whatsapp|signal|telegram|instagram|facebook|gmessages|tg"


def skip_or_fail(reason: str) -> None:
    """Skip with the reason; under CI=true, fail instead (CI must have Synapse)."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: Synapse is required here)", pytrace=False)
    pytest.skip(reason)


def synapse_python() -> Path | None:
    named = os.environ.get("GUARDIAN_SYNAPSE_PYTHON")
    candidate = Path(named) if named else ROOT / ".cache" / "synapse" / "bin" / "python"
    return candidate if candidate.exists() else None


CONFIG = """\
server_name: "{server_name}"
public_baseurl: "http://127.0.0.1:{port}/"
listeners:
  - port: {port}
    bind_addresses: ["127.0.0.1"]
    type: http
    tls: false
    x_forwarded: false
    resources:
      - names: [client]
        compress: false
database:
  name: sqlite3
  args:
    database: "{root}/homeserver.db"
log_config: "{root}/log.yaml"
media_store_path: "{root}/media"
signing_key_path: "{root}/signing.key"
registration_shared_secret: "{secret}"
report_stats: false
# Test users' passwords need no strength: registering one takes milliseconds, not half a second.
bcrypt_rounds: 4
trusted_key_servers: []
suppress_key_server_warning: true
enable_metrics: false
federation_domain_whitelist: []
presence:
  enabled: false
app_service_config_files: ["{root}/bridge.yaml"]
rc_message: {{per_second: 10000, burst_count: 10000}}
rc_registration: {{per_second: 10000, burst_count: 10000}}
rc_joins:
  local: {{per_second: 10000, burst_count: 10000}}
rc_invites:
  per_room: {{per_second: 10000, burst_count: 10000}}
  per_user: {{per_second: 10000, burst_count: 10000}}
  per_issuer: {{per_second: 10000, burst_count: 10000}}
rc_login:
  address: {{per_second: 10000, burst_count: 10000}}
  account: {{per_second: 10000, burst_count: 10000}}
  failed_attempts: {{per_second: 10000, burst_count: 10000}}
"""

LOG_CONFIG = """\
version: 1
formatters:
  precise:
    format: "%(asctime)s %(name)s %(levelname)s %(message)s"
handlers:
  file:
    class: logging.FileHandler
    formatter: precise
    filename: "{root}/homeserver.log"
root:
  level: WARNING
  handlers: [file]
disable_existing_loggers: false
"""

# An application service as a mautrix bridge registers it (`url: null`: it is not sent events).
BRIDGE = """\
id: bridge
url: null
as_token: "{as_token}"
hs_token: "{hs_token}"
sender_localpart: bridgebot
rate_limited: false
namespaces:
  users:
    - exclusive: true
      regex: "@({ghosts})_.*:{server_name}"
"""


@dataclass
class Synapse:
    url: str
    root: Path
    _names: Iterator[int]

    def unique(self, prefix: str) -> str:
        return f"{prefix}{next(self._names)}{os.getpid()}"

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = None,
        user_id: str | None = None,
        **query: str,
    ) -> dict[str, Any]:
        """One client-server API call; `user_id` acts as that ghost (with the bridge's token)."""
        if user_id is not None:
            query["user_id"] = user_id
            token = AS_TOKEN
        url = self.url + path + (f"?{urlencode(query)}" if query else "")
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
                return dict(json.load(response))
        except urllib.error.HTTPError as error:
            raise RuntimeError(f"{method} {path}: {error.code} {error.read()[:300]!r}") from None

    def register(self, name: str, display_name: str | None = None) -> Account:
        """A user registered with the shared secret (as `register_new_matrix_user` does)."""
        nonce = self.call("GET", "/_synapse/admin/v1/register")["nonce"]
        password = f"pw-{name}-for-tests"
        mac = hmac.new(
            SHARED_SECRET.encode(),
            b"\0".join([nonce.encode(), name.encode(), password.encode(), b"notadmin"]),
            hashlib.sha1,
        ).hexdigest()
        answer = self.call(
            "POST",
            "/_synapse/admin/v1/register",
            {"nonce": nonce, "username": name, "password": password, "admin": False, "mac": mac},
        )
        account = Account(self, answer["user_id"], answer["access_token"])
        if display_name:
            account.put(
                f"/profile/{quote(account.user_id)}/displayname", {"displayname": display_name}
            )
        return account

    def ghost(self, localpart: str, display_name: str) -> Account:
        """A bridge's ghost user, registered by the application service, with its name."""
        user_id = f"@{localpart}:{SERVER_NAME}"
        try:
            self.call(
                "POST",
                "/_matrix/client/v3/register",
                {"type": "m.login.application_service", "username": localpart},
                token=AS_TOKEN,
            )
        except RuntimeError as error:
            if "M_USER_IN_USE" not in str(error):
                raise
        ghost = Account(self, user_id, AS_TOKEN, act_as=user_id)
        ghost.put(f"/profile/{quote(user_id)}/displayname", {"displayname": display_name})
        return ghost

    def bot(self) -> Account:
        return Account(self, BOT, AS_TOKEN, act_as=BOT)


@dataclass
class Account:
    server: Synapse
    user_id: str
    token: str
    act_as: str | None = None

    def _call(self, method: str, path: str, body: Any = None, **query: str) -> dict[str, Any]:
        if self.act_as is not None:
            return self.server.call(
                method, "/_matrix/client/v3" + path, body, user_id=self.act_as, **query
            )
        return self.server.call(
            method, "/_matrix/client/v3" + path, body, token=self.token, **query
        )

    def put(self, path: str, body: Any, **query: str) -> dict[str, Any]:
        return self._call("PUT", path, body, **query)

    def create_room(self, *, invite: list[Account], **body: Any) -> str:
        answer = self._call("POST", "/createRoom", {"invite": [a.user_id for a in invite], **body})
        return str(answer["room_id"])

    def join(self, room: str) -> None:
        self._call("POST", f"/join/{quote(room)}", {})

    def send(
        self,
        room: str,
        text: str,
        *,
        kind: str = "m.room.message",
        msgtype: str = "m.text",
        content: dict[str, Any] | None = None,
    ) -> str:
        """Send an event; returns its id."""
        body = content if content is not None else {"msgtype": msgtype, "body": text}
        txn = f"t{time.monotonic_ns()}"
        answer = self.put(f"/rooms/{quote(room)}/send/{kind}/{txn}", body)
        return str(answer["event_id"])

    def state(self, room: str, kind: str, key: str, content: dict[str, Any]) -> None:
        self.put(f"/rooms/{quote(room)}/state/{kind}/{quote(key, safe='')}", content)


def _signing_key() -> str:
    """A Synapse signing key file: `ed25519 <version> <unpadded base64 of a 32-byte seed>`."""
    seed = base64.b64encode(os.urandom(32)).decode().rstrip("=")
    return f"ed25519 a_test {seed}\n"


@contextmanager
def synapse() -> Iterator[Synapse]:
    """Start Synapse in a temporary folder; stop it and remove the folder, even on failure."""
    python = synapse_python()
    if python is None:
        skip_or_fail(
            "Synapse is not installed: `make synapse` builds its virtual environment in"
            " .cache/synapse (or set GUARDIAN_SYNAPSE_PYTHON)"
        )
    assert python is not None
    root = Path(tempfile.mkdtemp(prefix="guardian-synapse-"))
    port = free_port()
    values = {
        "root": root,
        "port": port,
        "server_name": SERVER_NAME,
        "secret": SHARED_SECRET,
        "as_token": AS_TOKEN,
        "hs_token": HS_TOKEN,
        "ghosts": GHOSTS,
    }
    (root / "homeserver.yaml").write_text(CONFIG.format(**values))
    (root / "log.yaml").write_text(LOG_CONFIG.format(**values))
    (root / "bridge.yaml").write_text(BRIDGE.format(**values))
    (root / "signing.key").write_text(_signing_key())
    output = open(root / "stdout.log", "wb")  # noqa: SIM115 (closed below)
    process = subprocess.Popen(
        [str(python), "-m", "synapse.app.homeserver", "-c", str(root / "homeserver.yaml")],
        cwd=root,
        stdin=subprocess.DEVNULL,
        stdout=output,
        stderr=subprocess.STDOUT,
    )
    try:
        server = Synapse(f"http://127.0.0.1:{port}", root, itertools.count(1))
        _wait_until_it_answers(server, process)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=20)
        output.close()
        shutil.rmtree(root, ignore_errors=True)


def _wait_until_it_answers(server: Synapse, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + TIMEOUT
    while True:
        try:
            server.call("GET", "/_matrix/client/versions")
            return
        except (OSError, RuntimeError):
            if process.poll() is not None or time.monotonic() > deadline:
                log = (server.root / "stdout.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"Synapse did not start:\n{log}") from None
            time.sleep(0.1)
