"""IMAP: new mail in a member's mailboxes, pushed by IDLE where the server offers it (RFC 2177),
polled where not, and never marked read (RFC 3501: mailboxes are EXAMINEd, bodies read with
`BODY.PEEK`).

The cursor holds each mailbox's UIDVALIDITY and the last UID taken. A UID means nothing under
another UIDVALIDITY (the server rebuilt the mailbox), so then the mailbox starts again at "now",
with a warning, rather than reading it whole again. Only the headers, the structure and the first
bytes of one text part are fetched: an attachment is never downloaded.

The protocol is IMAPClient's (BSD licensed, maintained; imaplib underneath). It blocks, so each
mailbox has its own connection and its own thread; waiting for IDLE news is done on the event
loop by watching the socket, so a stop (cancellation) is immediate and costs no thread.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import quopri
import re
import socket
import ssl
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.parser import BytesHeaderParser
from email.policy import default as email_policy
from email.utils import parsedate_to_datetime
from functools import partial
from html.parser import HTMLParser
from typing import Any, Literal, TypeVar

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError
from imapclient.imapclient import _parse_untagged_response
from pydantic import Field, SecretStr, field_validator, model_validator

from guardian.clock import Clock
from guardian.plugin import IncomingMessage, PluginSettings, PullBatch, PullPlugin, SourceError
from guardian.webhook_format import MAX_TEXT
from plugins import GETTEXT_DOMAIN, LOCALE_DIR

#: RFC 2177: a client should re-issue IDLE at least every 29 minutes, or the server may log it out.
IDLE_RENEW = 29 * 60
#: How often a server without IDLE is asked for new mail.
POLL_EVERY = 60
#: A network operation (connect, login, fetch) that takes longer has failed.
TIMEOUT = 30
#: How many bytes of the chosen text part are fetched: enough for a preview, never a whole mail.
BODY_BYTES = 2048
#: Messages per batch: a burst of mail is stored in several small transactions.
BATCH = 50
#: Wake-ups in IDLE that bring no response before the connection is taken as dead.
SILENT_WAKEUPS = 5
HEADERS = ("FROM", "SUBJECT", "DATE", "MESSAGE-ID", "LIST-ID")
MAX_ID = 200
NAME_LENGTH = 200

T = TypeVar("T")


class ImapSettings(PluginSettings):
    host: str = Field(min_length=1, description="the IMAP server, e.g. imap.example.org")
    port: int = Field(
        993, ge=1, le=65535, description="993 for tls (the default); 143 for starttls or none"
    )
    security: Literal["tls", "starttls", "none"] = Field(
        "tls", description="tls (implicit TLS), starttls, or none (only on a trusted network)"
    )
    username: str = Field(min_length=1)
    password: SecretStr
    mailboxes: list[str] = Field(default_factory=lambda: ["INBOX"], min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _port_for_security(cls, data: Any) -> Any:
        # 993 is the implicit-TLS port: a STARTTLS or plain server listens on 143.
        if (
            isinstance(data, dict)
            and "port" not in data
            and data.get("security")
            in (
                "starttls",
                "none",
            )
        ):
            return {**data, "port": 143}
        return data

    @field_validator("mailboxes")
    @classmethod
    def _distinct(cls, mailboxes: list[str]) -> list[str]:
        if any(not name.strip() for name in mailboxes):
            raise ValueError("a mailbox name cannot be empty")
        if len(set(mailboxes)) != len(mailboxes):
            raise ValueError("a mailbox is listed twice")
        return mailboxes


class ImapError(SourceError):
    """The server refused us: shown as the source's error (never with the password)."""


@dataclass
class Position:
    """Where a mailbox was read up to."""

    uidvalidity: int
    uid: int


class ImapPlugin(PullPlugin[ImapSettings]):
    settings_model = ImapSettings
    gettext_domain = GETTEXT_DOMAIN
    locale_dir = LOCALE_DIR

    async def pull(self, cursor: str | None) -> AsyncIterator[PullBatch]:
        positions = self._read_cursor(cursor)
        mailboxes: list[Mailbox] = []
        try:
            for name in self.settings.mailboxes:
                mailbox = Mailbox(self.settings, name, self.log)
                mailboxes.append(mailbox)
                await mailbox.open()
            started = {}
            for mailbox in mailboxes:
                started[mailbox.name] = self._resume(mailbox, positions.get(mailbox.name))
            positions = started
            if self._write_cursor(positions) != cursor:
                yield PullBatch([], self._write_cursor(positions))
            while True:
                for mailbox in mailboxes:
                    position = positions[mailbox.name]
                    async with contextlib.aclosing(mailbox.new_mail(position)) as arrived:
                        async for messages, uid in arrived:
                            position.uid = uid
                            yield PullBatch(messages, self._write_cursor(positions))
                await self._wait_for_mail(mailboxes)
        finally:
            await asyncio.shield(asyncio.gather(*(m.close() for m in mailboxes)))

    def _resume(self, mailbox: Mailbox, stored: Position | None) -> Position:
        """The stored position, unless the mailbox is new to us or was rebuilt: then "now"."""
        if stored is not None and stored.uidvalidity == mailbox.uidvalidity:
            return stored
        if stored is not None:
            self.log.warning(
                "mailbox %r has a new UIDVALIDITY (%s, was %s): the server renumbered it, so"
                " mail is read again from now on; mail that arrived while Guardian was away"
                " is not imported",
                mailbox.name,
                mailbox.uidvalidity,
                stored.uidvalidity,
            )
        return Position(mailbox.uidvalidity, mailbox.uidnext - 1)

    async def _wait_for_mail(self, mailboxes: Sequence[Mailbox]) -> None:
        """Until some mailbox may have new mail: IDLE news, or the next poll."""
        idling = [m for m in mailboxes if m.can_idle]
        waits = [asyncio.ensure_future(m.idle(self.context.clock)) for m in idling]
        if len(idling) < len(mailboxes) or not waits:
            waits.append(asyncio.ensure_future(self.context.clock.sleep(POLL_EVERY)))
        try:
            done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
            # Each cancelled IDLE ends with DONE before its mailbox is used again.
            await asyncio.gather(*waits, return_exceptions=True)
        for wait in done:
            wait.result()  # a failed connection is the source's error

    def _read_cursor(self, cursor: str | None) -> dict[str, Position]:
        if cursor is None:
            return {}
        try:
            stored = json.loads(cursor)
            return {
                name: Position(int(p["uidvalidity"]), int(p["uid"])) for name, p in stored.items()
            }
        except (ValueError, TypeError, KeyError, AttributeError):
            self.log.warning("the stored cursor %r is not an IMAP cursor: reading from now", cursor)
            return {}

    @staticmethod
    def _write_cursor(positions: dict[str, Position]) -> str:
        return json.dumps(
            {name: {"uidvalidity": p.uidvalidity, "uid": p.uid} for name, p in positions.items()},
            sort_keys=True,
        )


class Mailbox:
    """One EXAMINEd mailbox on its own connection, worked from its own thread."""

    def __init__(self, settings: ImapSettings, name: str, log: logging.Logger) -> None:
        self.settings = settings
        self.name = name
        self.log = log
        self.client: IMAPClient | None = None
        self.uidvalidity = 0
        self.uidnext = 1
        self.can_idle = False
        self._idling = False
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"imap-{name}")

    async def _run(self, call: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, call)

    async def open(self) -> None:
        await self._run(self._connect)

    def _connect(self) -> None:
        settings = self.settings
        where = f"{settings.host}:{settings.port}"
        try:
            client = IMAPClient(
                settings.host,
                settings.port,
                ssl=settings.security == "tls",
                ssl_context=ssl.create_default_context(),
                timeout=TIMEOUT,
            )
        except ssl.SSLError as error:
            raise ImapError(f"{where}: TLS failed: {error}") from None
        except OSError as error:
            raise ImapError(f"{where}: cannot connect: {error}") from None
        self.client = client
        client.normalise_times = False
        # IMAPClient turns on imaplib's wire log, which at DEBUG would put the mail itself in
        # Guardian's logs: a member's mail is not for the logs.
        client._imap.debug = 0
        try:
            if settings.security == "starttls":
                if not client.has_capability("STARTTLS"):
                    raise ImapError(f"{where} does not offer STARTTLS")
                client.starttls(ssl.create_default_context())
            client.login(settings.username, settings.password.get_secret_value())
        except LoginError as error:
            raise ImapError(
                f"{where}: the server refused the login of {settings.username!r}:"
                f" {_server_words(error)}"
            ) from None
        except ssl.SSLError as error:
            raise ImapError(f"{where}: STARTTLS failed: {error}") from None
        try:
            status = client.select_folder(self.name, readonly=True)
        except IMAPClientError as error:
            raise ImapError(f"{where}: cannot open mailbox {self.name!r}: {error}") from None
        self.uidvalidity = int(status.get(b"UIDVALIDITY", 0))
        uidnext = status.get(b"UIDNEXT")
        if uidnext is None:  # optional before IMAP4rev2: the highest UID there is, plus one
            uidnext = max(client.search("ALL"), default=0) + 1
        self.uidnext = int(uidnext)
        self.can_idle = client.has_capability("IDLE")
        self.log.info(
            "reading %s on %s (%s)", self.name, where, "IDLE" if self.can_idle else "polling"
        )

    async def new_mail(
        self, since: Position
    ) -> AsyncGenerator[tuple[list[IncomingMessage], int], None]:
        """The mail after `since`, in batches, each with the last UID it covers."""
        last = since.uid
        while True:
            uids = await self._run(partial(self._uids_after, last))
            for start in range(0, len(uids), BATCH):
                chunk = uids[start : start + BATCH]
                messages = await self._run(partial(self._read, chunk))
                last = chunk[-1]
                yield messages, last
            # Mail that arrived while we searched and fetched was announced then (EXISTS), and
            # IDLE announces only what is newer still: look again before waiting.
            if not await self._run(self._announced):
                return

    def _uids_after(self, uid: int) -> list[int]:
        assert self.client is not None
        self._announced()
        # `n:*` always includes the highest UID, even when it is below n (RFC 3501 6.4.8).
        found = self.client.search(["UID", f"{uid + 1}:*"])
        return sorted(u for u in found if u > uid)

    def _announced(self) -> bool:
        """Whether the server announced new mail (EXISTS) since this was last asked."""
        assert self.client is not None
        # imaplib keeps untagged responses that no command asked for until they are taken.
        return self.client._imap.untagged_responses.pop("EXISTS", None) is not None

    def _read(self, uids: list[int]) -> list[IncomingMessage]:
        assert self.client is not None
        header_item = f"BODY.PEEK[HEADER.FIELDS ({' '.join(HEADERS)})]"
        found = self.client.fetch(uids, ["UID", "BODYSTRUCTURE", "INTERNALDATE", header_item])
        sections: dict[str, list[int]] = {}
        parts: dict[int, Part | None] = {}
        for uid in uids:
            part = text_part(found.get(uid, {}).get(b"BODYSTRUCTURE"))
            parts[uid] = part
            if part is not None:
                sections.setdefault(part.section, []).append(uid)
        bodies: dict[int, bytes] = {}
        for section, members in sections.items():
            got = self.client.fetch(members, [f"BODY.PEEK[{section}]<0.{BODY_BYTES}>"])
            for uid in members:
                bodies[uid] = _item(got.get(uid, {}), b"BODY[") or b""
        messages = []
        for uid in uids:
            data = found.get(uid)
            if data is None:  # expunged between the search and the fetch
                continue
            part = parts[uid]
            body = part.decode(bodies.get(uid, b"")) if part is not None else ""
            messages.append(self._message(uid, data, body))
        return messages

    def _message(self, uid: int, data: dict[bytes, Any], body: str) -> IncomingMessage:
        headers = BytesHeaderParser(policy=email_policy).parsebytes(
            _item(data, b"BODY[HEADER") or b""
        )
        address, name = _sender(headers)
        subject = _header(headers, "Subject")
        text = "\n".join(part for part in (subject, body) if part)
        list_id, list_name = _list(headers)
        # The Message-ID, so that one mail filed into two of the mailboxes read is one notification.
        message_id = _header(headers, "Message-ID").strip()
        if not message_id or len(message_id) > MAX_ID:
            message_id = f"{self.name}/{self.uidvalidity}/{uid}"
        return IncomingMessage(
            external_id=message_id,
            network="email",
            sender_id=address,
            sender_name=name,
            text=text[:MAX_TEXT],
            sent_at=_sent_at(headers, data.get(b"INTERNALDATE")),
            conversation_id=list_id,
            conversation_title=list_name,
            group=list_id is not None,
        )

    async def idle(self, clock: Clock) -> None:
        """Return when the server tells of new mail, or after IDLE_RENEW (IDLE is then
        re-issued by the caller's next round)."""
        assert self.client is not None
        client = self.client
        renew = asyncio.ensure_future(clock.sleep(IDLE_RENEW))
        try:
            await self._run(self._idle_start)
            news = await self._run(partial(_responses_waiting, client))
            silent = 0
            while not _tells_of_mail(news, self.settings.host):
                await _readable(client.socket(), renew)
                if renew.done():
                    return
                news = await self._run(partial(_responses_waiting, client))
                # TLS records that carry no response (session tickets) wake us too; a closed
                # connection wakes us forever with nothing.
                silent = 0 if news else silent + 1
                if silent >= SILENT_WAKEUPS:
                    return  # DONE fails on a dead connection, and that is the error
        finally:
            renew.cancel()
            await asyncio.shield(self._run(self._idle_done))

    def _idle_start(self) -> None:
        assert self.client is not None
        self.client.idle()
        self._idling = True  # here, in the thread: a cancelled wait for it still ends with DONE
        self.log.debug("IDLE on %s", self.name)

    def _idle_done(self) -> None:
        if self._idling and self.client is not None:
            self._idling = False
            try:
                self.client.idle_done()
            except (IMAPClientError, OSError) as error:
                raise ImapError(f"{self.settings.host}: the connection was lost: {error}") from None

    async def close(self) -> None:
        """Log out (ending IDLE first), or drop the connection if the server does not answer."""
        client = self.client
        if client is not None:
            try:
                async with asyncio.timeout(5):
                    await self._run(self._logout)
            except (TimeoutError, IMAPClientError, OSError, ImapError):
                _drop(client)
        self._thread.shutdown(wait=False)

    def _logout(self) -> None:
        assert self.client is not None
        self._idle_done()
        self.client.logout()
        self.client = None


# Reading what the server sent.


@dataclass(frozen=True)
class Part:
    """The MIME part whose start becomes the notification's text."""

    section: str
    subtype: str
    charset: str
    encoding: str

    def decode(self, raw: bytes) -> str:
        data = _undo_transfer_encoding(raw, self.encoding)
        try:
            text = data.decode(self.charset, errors="replace")
        except LookupError:  # a charset Python does not know
            text = data.decode("utf-8", errors="replace")
        text = text.rstrip("\ufffd")  # a character cut in two at the end of the bytes fetched
        if self.subtype == "html":
            text = _html_text(text)
        return " ".join(text.split())


def text_part(structure: Any) -> Part | None:
    """The first plain-text part that is not an attachment, else the first HTML one."""
    found: dict[str, Part] = {}
    _walk(structure, "", found)
    return found.get("plain") or found.get("html")


def _walk(structure: Any, section: str, found: dict[str, Part]) -> None:
    if not isinstance(structure, tuple) or not structure:
        return
    if isinstance(structure[0], list):  # multipart: its parts, numbered from 1
        for index, child in enumerate(structure[0], start=1):
            _walk(child, f"{section}.{index}" if section else str(index), found)
        return
    kind, subtype = (_text(structure[0]).lower(), _text(structure[1]).lower())
    if kind != "text" or subtype not in ("plain", "html") or subtype in found:
        return
    # text parts: type, subtype, params, id, description, encoding, size, lines, md5, disposition
    disposition = structure[9] if len(structure) > 9 else None
    if isinstance(disposition, tuple) and _text(disposition[0]).lower() == "attachment":
        return
    params = _pairs(structure[2])
    found[subtype] = Part(
        section=section or "1",
        subtype=subtype,
        charset=params.get("charset", "us-ascii") or "us-ascii",
        encoding=_text(structure[5]).lower() if len(structure) > 5 else "7bit",
    )


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("ascii", errors="replace")
    return value if isinstance(value, str) else ""


def _pairs(params: Any) -> dict[str, str]:
    if not isinstance(params, tuple):
        return {}
    items = [_text(v) for v in params]
    return {items[i].lower(): items[i + 1] for i in range(0, len(items) - 1, 2)}


def _undo_transfer_encoding(raw: bytes, encoding: str) -> bytes:
    if encoding == "base64":
        compact = re.sub(rb"[^A-Za-z0-9+/=]", b"", raw)
        compact = compact[: len(compact) - len(compact) % 4]  # the fetch cut it anywhere
        try:
            return base64.b64decode(compact)
        except binascii.Error:
            return b""
    if encoding == "quoted-printable":
        return quopri.decodestring(raw.rsplit(b"=", 1)[0] if raw[-2:].count(b"=") else raw)
    return raw


class _HtmlText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in ("script", "style", "head", "title"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "head", "title") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def _html_text(html: str) -> str:
    parser = _HtmlText()
    parser.feed(html)
    return " ".join(parser.parts)


def _item(data: dict[bytes, Any], prefix: bytes) -> bytes | None:
    """A FETCH item by the start of its name (servers echo section names in their own way)."""
    for key, value in data.items():
        if isinstance(key, bytes) and key.upper().startswith(prefix):
            return value if isinstance(value, bytes) else None
    return None


def _header(headers: Any, name: str) -> str:
    try:
        value = headers.get(name)
    except (ValueError, IndexError, TypeError):  # a header the parser cannot make sense of
        return ""
    return " ".join(str(value).split()) if value is not None else ""


def _sender(headers: Any) -> tuple[str, str | None]:
    """`(address, display name)` of the From header, decoded from RFC 2047 words."""
    try:
        addresses: tuple[Address, ...] = headers["From"].addresses if headers["From"] else ()
    except (ValueError, IndexError, TypeError, AttributeError):
        addresses = ()
    if not addresses:
        return "unknown", _header(headers, "From")[:NAME_LENGTH] or None
    first = addresses[0]
    address = (first.addr_spec or "unknown").lower()[:290]
    return address, (first.display_name or "")[:NAME_LENGTH] or None


def _list(headers: Any) -> tuple[str | None, str | None]:
    """A mailing list's id and name (RFC 2919): its mail is one group conversation."""
    value = _header(headers, "List-Id")
    match = re.search(r"<([^<>]+)>", value)
    if not match:
        return None, None
    name = value[: match.start()].strip().strip('"') or match.group(1)
    return match.group(1)[:MAX_ID], name[:NAME_LENGTH]


def _sent_at(headers: Any, internal: Any) -> datetime | None:
    date = _header(headers, "Date")
    try:
        sent = parsedate_to_datetime(date) if date else None
    except (ValueError, TypeError, IndexError):
        sent = None
    if sent is not None and sent.tzinfo is not None:
        return sent
    if isinstance(internal, datetime) and internal.tzinfo is not None:
        return internal
    return None


def _server_words(error: Exception) -> str:
    text = str(error)
    return text.removeprefix("b'").removesuffix("'") or "no reason given"


def _responses_waiting(client: IMAPClient) -> list[Any]:
    """The untagged responses the server has sent, without waiting for more.

    Like IMAPClient's `idle_check`, but it also reads what imaplib already buffered (a response
    that came in one packet with IDLE's continuation), which a poll of the socket cannot see.
    """
    sock = client.socket()
    sock.setblocking(False)
    responses = []
    try:
        while True:
            try:
                line = client._imap._get_line()
            except OSError:  # nothing more to read now (EAGAIN, or TLS wants more bytes)
                break
            except IMAPClient.AbortError as error:
                if "EOF" in str(error):
                    break
                raise
            if line.startswith(b"* "):
                responses.append(_parse_untagged_response(line))
    finally:
        sock.setblocking(True)
        sock.settimeout(TIMEOUT)
    return responses


def _tells_of_mail(responses: list[Any], host: str) -> bool:
    """Whether IDLE responses may mean new mail: EXISTS (not FLAGS changes or keep-alive OKs)."""
    for response in responses:
        if isinstance(response, tuple) and len(response) >= 2:
            if response[0] == b"BYE" or response[1] == b"BYE":
                raise ImapError(f"{host} ended the connection: {response[-1]!r}")
            if response[1] in (b"EXISTS", b"RECENT"):
                return True
    return False


async def _readable(sock: socket.socket, stop: asyncio.Future[Any]) -> None:
    """Until `sock` has data to read (or `stop` is done), on the event loop, without a thread."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def readable() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(sock.fileno(), readable)
    try:
        await asyncio.wait([ready, stop], return_when=asyncio.FIRST_COMPLETED)
    finally:
        loop.remove_reader(sock.fileno())
        ready.cancel()


def _drop(client: IMAPClient) -> None:
    with contextlib.suppress(OSError, IMAPClientError):
        client.shutdown()
