"""Logs never carry a personal link's token (nor a team invitation's).

A personal link is ``/p/<token>/``; whoever reads a log line with a token in it could open the
panelist's questionnaire. Django logs "Not Found: /p/<token>/" for an unknown or revoked link,
gunicorn's access log writes every request line, and an exception's report may quote the path.
So every log record is redacted when it is created (a log-record factory, which covers records
of every library in the process, including gunicorn's workers once Django's settings are
loaded), and `TokenFilter` does the same on handlers, for records built by hand.

Only the segment after ``/p/`` is replaced, except the names of the panelist's own pages.
"""

from __future__ import annotations

import logging
import re
from typing import Any

REDACTED = "[token]"
_PAGES = "consent|rate|review|submit|thanks"
# /p/<token> (a panelist's link) and /team/accept/<token> (an invitation to a study's team),
# also with URL-encoded slashes (%2F) and in absolute URLs; not /p/rate/... etc.
_TOKEN_PATH = re.compile(
    rf"((?:/p|/team(?:/|%2[fF])accept)(?:/|%2[fF]))"
    rf"(?!(?:{_PAGES})(?:[/?#\s\"']|%2[fF]|$))([^/\s\"'?#<>]+)"
)


def redact(text: str) -> str:
    """`text` with every personal-link token replaced by a placeholder."""
    if "/p" not in text and "accept" not in text:
        return text
    return _TOKEN_PATH.sub(rf"\g<1>{REDACTED}", text)


def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    """Replace the record's message by its redacted text when it carries a token."""
    try:
        message = record.getMessage()
    except Exception:  # a badly formatted record: leave it to the handler's own error path
        return record
    clean = redact(message)
    if clean != message:
        record.msg, record.args = clean, ()
    return record


class TokenFilter(logging.Filter):
    """A logging filter (for handlers in LOGGING) that redacts tokens and keeps the record."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


_installed = False


def install_token_redaction() -> None:
    """Make every log record created in this process redacted (idempotent)."""
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return redact_record(previous(*args, **kwargs))

    logging.setLogRecordFactory(factory)
    _installed = True
