"""Logging set-up: one readable line per event, with known secrets redacted before output."""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from urllib.parse import quote

# Secrets that can ride along in text we log: URL credentials, bearer and basic credentials,
# whsec_ keys, and the usual secret-bearing query parameters of service URLs.
_PATTERNS = [
    (re.compile(r"(whsec_)[A-Za-z0-9+/=]+"), r"\1***"),
    (re.compile(r"((?:Bearer|Basic)(?:\s+|%20))[^\s,;\"']+", re.IGNORECASE), r"\1***"),
    (re.compile(r"(://[^/\s:@]*:)[^@\s/]+@"), r"\1***@"),
    (
        re.compile(
            r"([?&](?:token|access_token|apikey|api_key|key|secret|password|pass|pwd)=)[^&\s#]+",
            re.IGNORECASE,
        ),
        r"\1***",
    ),
]

#: The configured secrets themselves (channel URLs, tokens, webhook secrets), redacted wherever
#: they appear, whatever their shape: a pattern cannot know that `tgram://123:ABC/456` is one.
_known: list[str] = []
#: Shorter values are not redacted literally: they would mangle ordinary words.
MIN_SECRET_LENGTH = 6


def register_secrets(values: Iterable[str]) -> None:
    """Redact these exact strings (and URL-encoded forms) from every log line from now on."""
    found = set(_known)
    for value in values:
        for form in (value, quote(value, safe="")):
            if len(form) >= MIN_SECRET_LENGTH:
                found.add(form)
    _known[:] = sorted(found, key=len, reverse=True)  # the longest first: no partial leftovers
    by_prefix: dict[str, list[str]] = {}
    for secret in _known:
        by_prefix.setdefault(secret[:MIN_SECRET_LENGTH], []).append(secret)
    _by_prefix.clear()
    _by_prefix.update(by_prefix)


#: The known secrets by their first MIN_SECRET_LENGTH characters, the longest first: a line is
#: scanned once, whatever the number of secrets (a host with 10,000 members' channel URLs would
#: otherwise look for each of them in every line).
_by_prefix: dict[str, list[str]] = {}


def _redact_known(text: str) -> str:
    """Every occurrence of a known secret replaced, left to right, the longest at each place."""
    parts: list[str] = []
    start = index = 0
    last = len(text) - MIN_SECRET_LENGTH
    while index <= last:
        candidates = _by_prefix.get(text[index : index + MIN_SECRET_LENGTH])
        if candidates:
            secret = next((s for s in candidates if text.startswith(s, index)), None)
            if secret is not None:
                parts += (text[start:index], "***")
                index = start = index + len(secret)
                continue
        index += 1
    if not parts:
        return text
    parts.append(text[start:])
    return "".join(parts)


def redact(text: str) -> str:
    if _by_prefix:
        text = _redact_known(text)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonFormatter(RedactingFormatter):
    """One JSON object per line (`ts`, `level`, `logger`, `msg`, `error`), for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}",
            "level": record.levelname,
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        if record.exc_info:
            entry["error"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: str = "INFO", style: str = "text") -> None:
    """Logs to stderr, secrets redacted: readable lines, or JSON lines with `style="json"`."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if style == "json" else RedactingFormatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Apprise logs each service's full URL at DEBUG and more; keep it to warnings.
    logging.getLogger("apprise").setLevel(logging.WARNING)
    logging.getLogger("tortoise").setLevel(logging.WARNING)
    # At DEBUG these log SQL parameters, which include source secrets.
    logging.getLogger("aiosqlite").setLevel(logging.WARNING)
    logging.getLogger("tortoise.db_client").setLevel(logging.WARNING)
