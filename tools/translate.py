#!/usr/bin/env python3
"""Fill French and Dutch translations into the catalogues from a JSON table.

    .venv/bin/python tools/translate.py TABLE.json

TABLE maps each English msgid to [french, dutch]; for a plural msgid each is a pair
[singular, plural]. Entries found are filled and lose their "fuzzy" mark; run
`./dev messages` first (it adds new msgids) and again after (it compiles and counts).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import polib

LANGUAGES = ("fr", "nl")


def fill(table: dict[str, list[object]], root: Path = Path("locale")) -> dict[str, int]:
    filled = {}
    for index, lang in enumerate(LANGUAGES):
        path = root / lang / "LC_MESSAGES" / "django.po"
        po = polib.pofile(str(path), wrapwidth=79)
        count = 0
        for entry in po:
            if entry.obsolete or entry.msgid not in table:
                continue
            value = table[entry.msgid][index]
            if entry.msgid_plural:
                assert isinstance(value, list)
                entry.msgstr_plural = {0: str(value[0]), 1: str(value[1])}
            else:
                entry.msgstr = str(value)
            if "fuzzy" in entry.flags:
                entry.flags.remove("fuzzy")
            entry.previous_msgid = None
            entry.previous_msgid_plural = None
            count += 1
        po.save(str(path))
        filled[lang] = count
    return filled


if __name__ == "__main__":
    print(fill(json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))))
