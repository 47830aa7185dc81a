"""Logs: readable or JSON lines, with secrets redacted in both."""

from __future__ import annotations

import json
import logging

from guardian.logs import TEXT_FORMAT, JsonFormatter, RedactingFormatter, redact

SECRET_URL = "json://user:s3cretpass@127.0.0.1:9/x"


def record(message: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("guardian.test", logging.WARNING, __file__, 1, message, args, None)


def test_json_lines_carry_the_fields_and_no_secret() -> None:
    line = JsonFormatter().format(record("channel %s failed", SECRET_URL))
    entry = json.loads(line)
    assert entry["level"] == "WARNING"
    assert entry["logger"] == "guardian.test"
    assert entry["msg"] == "channel json://user:***@127.0.0.1:9/x failed"
    assert "s3cretpass" not in line


def test_text_lines_are_redacted_too() -> None:
    line = RedactingFormatter(TEXT_FORMAT).format(record("Authorization: Bearer abc.def"))
    assert line.endswith("Authorization: Bearer ***")
    assert redact("whsec_c2VjcmV0c2VjcmV0c2VjcmV0") == "whsec_***"
