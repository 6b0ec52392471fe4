"""Every user-facing string has a French and a Dutch translation in the catalogues."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import polib
import pytest

ROOT = Path(__file__).resolve().parent.parent
LANGUAGES = ("fr", "nl")
SOURCES = ("delphi", "rounds", "panelists", "reports", "demo")
TRANSLATE_TAG = re.compile(r"""\{%\s*translate\s+(["'])(.+?)\1(?:\s+context\s+(["'])(.+?)\3)?""")
GETTEXT_CALL = re.compile(r"""\b(?:_|gettext|gettext_lazy)\(\s*"((?:[^"\\]|\\.)+)"\s*[,)]""")


def catalogue(language: str) -> polib.POFile:
    return polib.pofile(str(ROOT / "locale" / language / "LC_MESSAGES" / "django.po"))


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_catalogue_has_no_untranslated_or_fuzzy_entry(language: str) -> None:
    po = catalogue(language)
    untranslated = [e.msgid for e in po.untranslated_entries() if not e.obsolete]
    fuzzy = [e.msgid for e in po.fuzzy_entries() if not e.obsolete]
    assert not untranslated, f"{language}: untranslated {untranslated[:10]}"
    assert not fuzzy, f"{language}: fuzzy {fuzzy[:10]}"


def used_msgids() -> set[tuple[str | None, str]]:
    found: set[tuple[str | None, str]] = set()
    for path in (ROOT / "templates").rglob("*.html"):
        for match in TRANSLATE_TAG.finditer(path.read_text(encoding="utf-8")):
            # makemessages doubles a template string's "%" (it is python-format there).
            found.add((match.group(4), match.group(2).replace("%", "%%")))
    for package in SOURCES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            for match in GETTEXT_CALL.finditer(path.read_text(encoding="utf-8")):
                found.add((None, ast.literal_eval(f'"{match.group(1)}"')))
    return found


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_string_in_the_code_is_in_the_catalogue(language: str) -> None:
    po = catalogue(language)
    known = {(e.msgctxt, e.msgid) for e in po if not e.obsolete and e.translated()}
    missing = sorted(m for c, m in used_msgids() - known)
    assert not missing, f"{language}: run ./dev messages and translate: {missing[:10]}"
