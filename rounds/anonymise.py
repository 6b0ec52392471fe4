"""Keep names and e-mail addresses out of everything a report or an export shows.

Panelists appear only under their pseudonyms. Free-text comments are scrubbed: any e-mail
address, and any panelist's full name as recorded in the panel (whole words, any case), is
replaced by a marker. Names are matched word by word against a set, so the cost does not
grow with the size of the panel.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

EMAIL = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")
WORD = re.compile(r"\w+(?:[-'’]\w+)*")


def _key(words: Iterable[str]) -> str:
    return " ".join(word.casefold() for word in words)


class Scrubber:
    """Replaces e-mail addresses and the given full names in a text."""

    def __init__(
        self,
        names: Iterable[str] = (),
        *,
        email_marker: str = "[e-mail removed]",
        name_marker: str = "[name removed]",
    ) -> None:
        keys = {_key(WORD.findall(name)) for name in names}
        keys = {key for key in keys if len(key) >= 3}
        self._names = keys
        self._first_words = {key.split(" ", 1)[0] for key in keys}
        self._longest = max((key.count(" ") + 1 for key in keys), default=0)
        self._email_marker = email_marker
        self._name_marker = name_marker

    def __call__(self, text: str) -> str:
        text = EMAIL.sub(self._email_marker, text or "")
        return self._scrub_names(text) if self._names else text

    def _scrub_names(self, text: str) -> str:
        words = list(WORD.finditer(text))
        lowered = [m.group().casefold() for m in words]
        spans: list[tuple[int, int]] = []
        i = 0
        while i < len(words):
            matched = 0
            if lowered[i] in self._first_words:
                for length in range(min(self._longest, len(words) - i), 0, -1):
                    if " ".join(lowered[i : i + length]) in self._names:
                        matched = length
                        break
            if matched:
                spans.append((words[i].start(), words[i + matched - 1].end()))
                i += matched
            else:
                i += 1
        for start, end in reversed(spans):
            text = text[:start] + self._name_marker + text[end:]
        return text
