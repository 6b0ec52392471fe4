"""The wording of the panel's e-mails: the built-in texts, or a study's own per kind and
language, with placeholders filled in when a message is composed.

Placeholders: {name} {study} {round} {link} {deadline} {contact}. A line that holds
{deadline} or {contact} is left out when the round has no deadline or the study no contact,
so one text serves every round.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.template.loader import render_to_string
from django.utils import translation
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from panelists.models import EmailMessage, EmailTemplate
from rounds.models import Study

PLACEHOLDERS = ("name", "study", "round", "link", "deadline", "contact")
OPTIONAL_LINES = ("deadline", "contact")
NEEDS_LINK = (EmailMessage.Kind.INVITATION, EmailMessage.Kind.REMINDER)
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


@dataclass(frozen=True)
class Text:
    subject: str
    body: str
    custom: bool = False


def default_text(study: Study, kind: str, language: str) -> Text:
    """The built-in wording, with placeholders where the message's values go."""
    context = {
        "panelist": {"name": "{name}", "pseudonym": "{name}", "language": language},
        "study": study,
        "round": {"number": "{round}"},
        "link": "{link}",
        "deadline": "{deadline}",
        "title": "{study}",
        "purpose": study.text("description", language),
    }
    with translation.override(language):
        subject = str(render_to_string(f"panelists/email/{kind}_subject.txt", context))
        body = str(render_to_string(f"panelists/email/{kind}.txt", context))
    body = re.sub(r"\n{3,}", "\n\n", body).strip() + "\n"
    if study.contact_email:
        body = body.replace(_contact_line(study, language), "{contact}")
    return Text(" ".join(subject.split()), body)


def _contact_line(study: Study, language: str) -> str:
    with translation.override(language):
        return _("Questions: %(name)s <%(email)s>") % {
            "name": study.contact_name,
            "email": study.contact_email,
        }


def text_for(study: Study, kind: str, language: str) -> Text:
    found = EmailTemplate.objects.filter(study=study, kind=kind, language=language).first()
    if found is None:
        return default_text(study, kind, language)
    return Text(found.subject, found.body, custom=True)


def problems(kind: str, subject: str, body: str) -> list[str]:
    """What is wrong with a study's own text (unknown placeholders, no link)."""
    out = []
    unknown = sorted({m for m in _PLACEHOLDER.findall(subject + body) if m not in PLACEHOLDERS})
    if unknown:
        out.append(
            _("Unknown placeholders: %(names)s. Use only %(known)s.")
            % {
                "names": ", ".join(f"{{{n}}}" for n in unknown),
                "known": " ".join(f"{{{n}}}" for n in PLACEHOLDERS),
            }
        )
    if kind in NEEDS_LINK and "{link}" not in body:
        out.append(_("The text must contain {link}: it is the panelist's personal link."))
    return out


def fill(template: str, values: dict[str, str]) -> str:
    """Replace the known placeholders; drop optional lines whose value is empty."""
    lines = []
    for line in template.splitlines():
        if any(f"{{{key}}}" in line and not values.get(key) for key in OPTIONAL_LINES):
            continue
        lines.append(
            _PLACEHOLDER.sub(
                lambda m: (
                    values.get(m.group(1), m.group(0)) if m.group(1) in PLACEHOLDERS else m.group(0)
                ),
                line,
            )
        )
    return "\n".join(lines).strip() + "\n"


def as_html(body: str, link: str, language: str) -> SafeString:
    """A plain HTML version of a study's own text: paragraphs, the link as a button."""
    paragraphs = []
    for block in re.split(r"\n\s*\n", body.strip()):
        html = "<br>".join(escape(line) for line in block.splitlines())
        if link and escape(link) in html:
            button = (
                f'<a href="{escape(link)}" style="display: inline-block; padding: 10px 18px; '
                f"background: #0b5394; color: #ffffff; text-decoration: none; "
                f'border-radius: 4px;">{escape(_("Open my questionnaire"))}</a>'
            )
            html = html.replace(escape(link), button)
        paragraphs.append(f"<p>{html}</p>")
    return mark_safe(  # every piece of text above is escaped
        f'<!doctype html><html lang="{escape(language)}"><body style="font-family: Arial, '
        f'sans-serif; color: #1a1a1a; line-height: 1.5;">{"".join(paragraphs)}</body></html>'
    )
