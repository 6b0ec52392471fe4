"""The development mail folder: one ``.eml`` file per message, named by its Message-ID.

Django's file backend writes every message of a connection into one file; the workers send
a whole batch over one connection, so this backend keeps one readable file per e-mail.
It is the delivery itself (the personal link is in it), so the folder is for development.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.core.mail.backends.base import BaseEmailBackend
from django.utils import timezone


class FolderBackend(BaseEmailBackend):
    def __init__(self, *args: Any, file_path: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.folder = Path(file_path or settings.EMAIL_FILE_PATH)

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        self.folder.mkdir(parents=True, exist_ok=True)
        for message in email_messages:
            raw = message.message()
            ident = re.sub(r"[^A-Za-z0-9.@_-]", "", str(raw["Message-ID"] or "")) or "message"
            stamp = timezone.now().strftime("%Y%m%d-%H%M%S-%f")
            path = self.folder / f"{stamp}-{ident}.eml"
            path.write_bytes(raw.as_bytes())
        return len(email_messages)
