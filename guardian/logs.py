"""Logging set-up: one readable line per event, with known secrets redacted before output."""

from __future__ import annotations

import logging
import re
import sys

# Secrets that can ride along in text we log: URL credentials, bearer tokens, whsec_ keys.
_PATTERNS = [
    (re.compile(r"(whsec_)[A-Za-z0-9+/=]+"), r"\1***"),
    (re.compile(r"(Bearer\s+)\S+", re.IGNORECASE), r"\1***"),
    (re.compile(r"(://[^/\s:@]*:)[^@\s/]+@"), r"\1***@"),
]


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Apprise logs each service's full URL at DEBUG and more; keep it to warnings.
    logging.getLogger("apprise").setLevel(logging.WARNING)
    logging.getLogger("tortoise").setLevel(logging.WARNING)
    # At DEBUG these log SQL parameters, which include source secrets.
    logging.getLogger("aiosqlite").setLevel(logging.WARNING)
    logging.getLogger("tortoise.db_client").setLevel(logging.WARNING)
