"""The setup wizard's other start: a new study from a study file (`rounds.studyfile`).

Two pages: the coordinator chooses a file, which is read at once (every problem is listed
by line and field, and nothing is kept); a valid file is kept in the session and shown for
review, with its short name to confirm or change; "Create the study" then goes through
`study_create_from_file`, all or nothing.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.text import capfirst
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _

from rounds import checks
from rounds.imports import MAX_UPLOAD_BYTES
from rounds.models import Protocol, Study, StudyRecord, translated
from rounds.setup.forms import FieldErrors, Table, language_name
from rounds.studies import free_slug
from rounds.studyfile.create import study_create_from_file
from rounds.studyfile.problems import StudyFileProblem, StudyFileRejected
from rounds.studyfile.reader import StudyDesign, read_study_file

SESSION_KEY = "study-file-upload"
TABLE_ROWS = 20


class StudyFileForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("Study file (.yaml, at most 2 MB)"),
        widget=forms.FileInput(attrs={"accept": ".yaml,.yml,application/yaml,text/yaml"}),
        error_messages={"required": gettext_lazy("Choose a study file to read.")},
    )


class StudyFileSlugForm(forms.Form):
    slug = forms.CharField(
        label=gettext_lazy("Short name of the new study"),
        max_length=80,
        help_text=gettext_lazy(
            "Part of the study's web address: lowercase letters, digits and hyphens."
        ),
        error_messages={"required": gettext_lazy("Give the new study a short name.")},
    )


def _staff(request: HttpRequest) -> HttpResponse | None:
    user = request.user
    if not (user.is_staff or user.is_superuser):
        return render(request, "rounds/setup/forbidden.html", status=403)
    return None


@login_required
def study_file_upload(request: HttpRequest) -> HttpResponse:
    """Choose a study file; a valid one goes on to the review page."""
    refused = _staff(request)
    if refused is not None:
        return refused
    form = StudyFileForm(request.POST or None, request.FILES or None, error_class=FieldErrors)
    problems: list[StudyFileProblem] = []
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        data = upload.read(MAX_UPLOAD_BYTES + 1)
        try:
            read_study_file(data)
        except StudyFileRejected as rejected:
            problems = rejected.problems
        else:
            request.session[SESSION_KEY] = {
                "data": base64.b64encode(data).decode("ascii"),
                "name": upload.name or "study.yaml",
            }
            return redirect("study-from-file-review")
    context = {"form": form, "problems": problems, "file_name": _posted_name(request)}
    return render(request, "rounds/setup/from_file.html", context)


def _posted_name(request: HttpRequest) -> str:
    upload = request.FILES.get("file")
    return upload.name if upload is not None and upload.name else ""


@login_required
def study_file_review(request: HttpRequest) -> HttpResponse:
    """What the file describes, its short name to confirm, and "Create the study"."""
    refused = _staff(request)
    if refused is not None:
        return refused
    kept = _kept(request)
    if kept is None:
        messages.info(request, _("Choose a study file first."))
        return redirect("study-from-file")
    data, name = kept
    try:
        design = read_study_file(data)
    except StudyFileRejected:  # e.g. the platform changed since: read it again
        request.session.pop(SESSION_KEY, None)
        return redirect("study-from-file")
    form = StudyFileSlugForm(
        request.POST or None, initial={"slug": _slug_to_offer(design)}, error_class=FieldErrors
    )
    problems: list[StudyFileProblem] = []
    if request.method == "POST" and form.is_valid():
        user = request.user
        assert isinstance(user, User)
        try:
            study = study_create_from_file(data=data, by=user, slug=form.cleaned_data["slug"])
        except StudyFileRejected as rejected:
            problems = rejected.problems
        else:
            request.session.pop(SESSION_KEY, None)
            messages.success(
                request,
                _("The study “%(title)s” is created from %(file)s. Import its panel when you "
                  "are ready.") % {"title": study.display_title, "file": name},
            )  # fmt: skip
            return redirect(reverse("study-detail", args=[study.slug]))
    context = {
        "form": form,
        "problems": problems,
        "file_name": name,
        "design": design,
        "summary": _summary(design),
    }
    return render(request, "rounds/setup/from_file_review.html", context)


def _kept(request: HttpRequest) -> tuple[bytes, str] | None:
    kept = request.session.get(SESSION_KEY)
    if not isinstance(kept, dict):
        return None
    try:
        return base64.b64decode(str(kept.get("data", "")), validate=True), str(kept.get("name"))
    except (binascii.Error, ValueError):
        return None


def _slug_to_offer(design: StudyDesign) -> str:
    slug = str(design.document["study"]["slug"])
    return free_slug(slug) if Study.objects.filter(slug=slug).exists() else slug


def _summary(design: StudyDesign) -> dict[str, Any]:
    doc = design.document
    study, plan = doc["study"], doc["schedule"]["round_1"]
    languages: list[str] = study["languages"]
    fallbacks = [study["report_language"], *languages]

    def text(values: dict[str, str]) -> str:
        return translated(values, get_language(), fallbacks)

    return {
        "file_slug": study["slug"],
        "slug_taken": Study.objects.filter(slug=study["slug"]).exists(),
        "titles": [(language_name(code), title) for code, title in study["title"].items()],
        "languages": [language_name(code) for code in languages],
        "report_language": language_name(study["report_language"]),
        "study": study,
        "criteria": [
            {
                "code": c["code"],
                "name": text(c["name"]) or c["code"],
                "scale": f"{c['scale']['min']}–{c['scale']['max']}",
                "bands": _bands(c["scale"], c["bands"]),
                "rule": c["rule"],
            }
            for c in doc["criteria"]
        ],
        "protocol": _protocol_rows(doc["protocol"]),
        "items": _items_table(doc["items"], languages),
        "groups": doc["groups"],
        "record": [
            (capfirst(str(_verbose(StudyRecord, name))), value)
            for name, value in doc["record"].items()
            if value
        ],
        "plan": {
            "opens_at": _instant(plan["opens_at"]),
            "closes_at": _instant(plan["closes_at"]),
            "reminders_days_before": plan["reminders_days_before"],
        },
        "warnings": checks.warnings_for(
            languages=languages,
            contact_email=study["contact_email"],
            title=study["title"],
            items=[(item["domain"], item["text"]) for item in doc["items"]],
            criteria=[(c["name"], c["question"], c["anchors"]) for c in doc["criteria"]],
        ),
    }


def _bands(scale: dict[str, int], bands: dict[str, int]) -> str:
    low, high = bands["low_max"], bands["high_min"]
    spans = [(scale["min"], low), (low + 1, high - 1), (high, scale["max"])]
    return " / ".join(f"{a}–{b}" if a != b else str(a) for a, b in spans)


def _verbose(model: Any, name: str) -> str:
    return str(model._meta.get_field(name).verbose_name)


def _instant(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _protocol_rows(protocol: dict[str, Any]) -> list[tuple[str, str]]:
    rows = []
    for name, value in protocol.items():
        field: Any = Protocol._meta.get_field(name)
        if isinstance(value, bool):
            shown = _("yes") if value else _("no")
        elif field.choices:
            shown = str(dict(field.flatchoices).get(value, value))
        elif name in ("accept_rule", "reject_rule") and not value:
            shown = (
                _("(default) every criterion reached consensus “in”")
                if name == "accept_rule"
                else _("(default) any criterion reached consensus “out”")
            )
        elif isinstance(value, float):
            shown = f"{value:g}"
        else:
            shown = str(value)
        rows.append((capfirst(str(field.verbose_name)), shown))
    return rows


def _items_table(items: list[dict[str, Any]], languages: list[str]) -> Table:
    headers = ["code", "domain", *[f"text_{code}" for code in languages]]
    rows = [
        [
            item["code"],
            " / ".join(dict.fromkeys(item["domain"].values())),
            *[item["text"].get(code, "") for code in languages],
        ]
        for item in items[:TABLE_ROWS]
    ]
    return Table(headers, rows, len(items))
