"""What a coordinator should know before the panel sees a study: texts missing in a language
of the study (the panelist would read them in another language) and no contact e-mail (the
panel's replies would reach nobody). Shown on the setup's review, the study page and the
confirmation before a round opens."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from rounds.models import Study


def language_name(code: str) -> str:
    return str(dict(settings.LANGUAGES).get(code, code))


Texts = dict[str, str]

ITEM_TEXT = gettext_lazy("item texts")
ITEM_DOMAIN = gettext_lazy("domain headings")
CRITERION_NAME = gettext_lazy("criterion names")
CRITERION_QUESTION = gettext_lazy("criterion questions")
ANCHOR = gettext_lazy("scale end labels")
TITLE = gettext_lazy("study titles")


@dataclass(frozen=True)
class Gap:
    """`count` texts of one kind lack the language `language`."""

    language: str
    kind: Promise
    count: int


def translation_gaps(languages: Sequence[str], texts: Iterable[tuple[Promise, Texts]]) -> list[Gap]:
    """Texts written in some language but not in every language of the study. A text empty
    in every language is not a gap (e.g. a criterion without a question)."""
    counts: dict[tuple[str, Promise], int] = {}
    kinds: list[Promise] = []
    for kind, by_language in texts:
        if kind not in kinds:
            kinds.append(kind)
        if not any((v or "").strip() for v in (by_language or {}).values()):
            continue
        for code in languages:
            if not (by_language or {}).get(code, "").strip():
                counts[(code, kind)] = counts.get((code, kind), 0) + 1
    return [
        Gap(code, kind, counts[(code, kind)])
        for code in languages
        for kind in kinds
        if (code, kind) in counts
    ]


def describe(gaps: list[Gap]) -> list[str]:
    """One sentence per language, e.g. "Nederlands: missing domain headings (3), criterion
    questions (2); panelists who read Nederlands see these in another language."""
    out = []
    for code in dict.fromkeys(g.language for g in gaps):
        parts = ", ".join(f"{g.kind} ({g.count})" for g in gaps if g.language == code)
        name = language_name(code)
        out.append(
            _(
                "%(language)s: missing %(parts)s; panelists who read %(language)s "
                "see these in another language."
            )
            % {"language": name, "parts": parts}
        )
    return out


def _texts(
    title: Texts,
    items: Iterable[tuple[Texts, Texts]],
    criteria: Iterable[tuple[Texts, Texts, dict[str, dict[str, str]]]],
) -> list[tuple[Promise, Texts]]:
    texts: list[tuple[Promise, Texts]] = [(TITLE, title)]
    for domain, text in items:
        texts += [(ITEM_TEXT, text), (ITEM_DOMAIN, domain)]
    for name, question, anchors in criteria:
        texts += [(CRITERION_NAME, name), (CRITERION_QUESTION, question)]
        for end in ("min", "max"):
            by_language = {c: labels.get(end, "") for c, labels in (anchors or {}).items()}
            texts.append((ANCHOR, by_language))
    return texts


def untranslated_domains(languages: Sequence[str], domains: Iterable[Texts]) -> list[str]:
    """Domain headings written once for every language (a single `domain` column)."""
    if len(languages) < 2:
        return []
    same = {
        next(iter(d.values()))
        for d in domains
        if d and len(set(d.values())) == 1 and all(d.get(c) for c in languages)
    }
    if not same:
        return []
    return [
        _(
            "Domain headings have the same text in every language (%(domains)s): give a "
            "domain_<language> column per language in the items file to translate them."
        )
        % {"domains": ", ".join(sorted(same)[:5]) + ("…" if len(same) > 5 else "")}
    ]


def warnings_for(
    *,
    languages: Sequence[str],
    contact_email: str,
    title: Texts,
    items: list[tuple[Texts, Texts]],
    criteria: list[tuple[Texts, Texts, dict[str, dict[str, str]]]],
) -> list[str]:
    gaps = translation_gaps(languages, _texts(title, items, criteria))
    domains = untranslated_domains(languages, [domain for domain, _text in items])
    return contact_warning(contact_email) + describe(gaps) + domains


def contact_warning(contact_email: str) -> list[str]:
    if contact_email:
        return []
    return [
        _(
            "No contact e-mail: the panel's e-mails have no address to reply to, and "
            "panelists with a question or an expired link cannot reach you. Add one under "
            "“Contact” on the study page."
        )
    ]


def study_warnings(study: Study) -> list[str]:
    return warnings_for(
        languages=list(study.languages),
        contact_email=study.contact_email,
        title=study.title,
        items=list(study.items.values_list("domain", "text")),
        criteria=[(c.name, c.question, c.anchors) for c in study.criteria.all()],
    )
