"""Coordinator pages. Every view goes through `rounds.access` for the study it shows."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from rounds import access, explain, imports, item_services, record, services
from rounds.errors import DomainError
from rounds.forms import (
    DeadlineForm,
    ItemSourceForm,
    NewItemForm,
    OverrideForm,
    ProtocolForm,
    ReopenForm,
    ScheduleForm,
    StudyRecordForm,
    UploadForm,
    WordingForm,
)
from rounds.models import ItemDecision, Round, RoundItem, Study


def home(request: HttpRequest) -> HttpResponse:
    context = {"studies": access.studies_for_user(request.user), "demo": _demo_info()}
    return render(request, "rounds/home.html", context)


def _demo_info() -> dict[str, str] | None:
    """What `delphi_demo` left for the home page's demo banner (demo mode only)."""
    path = settings.VAR_DIR / "demo.json"
    if not settings.DEMO_MODE or not path.exists():
        return None
    return dict(json.loads(path.read_text(encoding="utf-8")))


def _round_for(request: HttpRequest, slug: str, number: int) -> Round:
    return access.get_round_for_user(request.user, slug, number, access.RUN)


def _back(round: Round, name: str = "round-detail") -> HttpResponse:
    return redirect(name, slug=round.study.slug, number=round.number)


@login_required
def study_detail(request: HttpRequest, slug: str) -> HttpResponse:
    study = access.get_study_for_user(request.user, slug, access.RUN)
    context = {
        "study": study,
        "rounds": study.rounds.order_by("number"),
        "criteria": study.criteria.all(),
        "n_items": study.items.count(),
        "n_panelists": study.panelists.count(),
        "can_create_round": _can_create_round(study),
    }
    return render(request, "rounds/study_detail.html", context)


def _can_create_round(study: Study) -> bool:
    latest = study.rounds.order_by("-number").first()
    return study.status != Study.Status.FINISHED and (
        latest is None or latest.state == Round.State.ANALYSED
    )


@login_required
def round_results(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    round = _round_for(request, slug, number)
    results = round.results.select_related("round_item__item", "criterion").order_by(
        "round_item__position", "round_item__item__code", "criterion__position"
    )
    decisions = {d.round_item_id: d for d in round.decisions.select_related("overridden_by")}
    rows: dict[int, dict[str, Any]] = {}
    for result in results:
        row = rows.setdefault(
            result.round_item_id,
            {
                "round_item": result.round_item,
                "results": [],
                "decision": decisions.get(result.round_item_id),
            },
        )
        row["results"].append(result)
    _add_bases(round, rows.values())
    next_round = round.study.rounds.filter(number=round.number + 1).first()
    context = {
        "study": round.study,
        "round": round,
        "rows": list(rows.values()),
        "override_form": OverrideForm(),
        "next_round": next_round,
        "kendall": getattr(round, "analysis", None),
    }
    return render(request, "rounds/round_results.html", context)


def _add_bases(round: Round, rows: Iterable[dict[str, Any]]) -> None:
    """Each decision's basis: the clauses of the decision rule that decided it."""
    rule = round.study.protocol.decision_rule()
    for row in rows:
        decision = row["decision"]
        names = {r.criterion.code: r.criterion.text() for r in row["results"]}
        if decision is not None:
            basis = explain.results_basis(row["results"], rule, decision.computed)
            row["basis"] = explain.phrase(basis, names)


@login_required
def round_items(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    """Between rounds: the draft round's items, to reword, merge, split, drop or add."""
    round = _round_for(request, slug, number)
    languages = list(round.study.languages)
    entries = [
        (
            ri,
            WordingForm(
                languages=languages,
                prefix=f"ri{ri.pk}",
                initial={f"text_{c}": ri.text.get(c, "") for c in languages},
            ),
        )
        for ri in round.round_items.select_related("item").prefetch_related("item__derived_from")
    ]
    context = {
        "study": round.study,
        "round": round,
        "entries": entries,
        "new_form": NewItemForm(languages=languages, prefix="new"),
        "split_form": NewItemForm(languages=languages, prefix="split"),
    }
    return render(request, "rounds/round_items.html", context)


Action = Callable[[HttpRequest, Round], str | None]


def _run(request: HttpRequest, round: Round, action: Action, back: str) -> HttpResponse:
    try:
        message = action(request, round)
    except DomainError as exc:
        messages.error(request, str(exc))
    else:
        if message:
            messages.success(request, message)
    return _back(round, back)


def _form_errors(form: Any) -> DomainError:
    problems = [
        f"{form.fields[f].label if f in form.fields else ''}: {' '.join(e)}".lstrip(": ")
        for f, e in form.errors.items()
    ]
    return DomainError(" ".join(problems))


def _open(request: HttpRequest, round: Round) -> str:
    services.round_open(round=round, by=request.user)
    return _("Round %(n)d is open; the invitations are on their way.") % {"n": round.number}


def _close(request: HttpRequest, round: Round) -> str:
    services.round_close(round=round, by=request.user)
    return _("Round %(n)d is closed; the analysis is running.") % {"n": round.number}


def _schedule(request: HttpRequest, round: Round) -> str:
    form = ScheduleForm(request.POST, study=round.study)
    if not form.is_valid():
        raise _form_errors(form)
    services.round_schedule(
        round=round,
        opens_at=form.aware(form.cleaned_data["opens_at"]),
        closes_at=form.aware(form.cleaned_data["closes_at"]),
        by=request.user,
    )
    return _("The schedule is saved.")


def _deadline(request: HttpRequest, round: Round) -> str:
    form = DeadlineForm(request.POST, study=round.study)
    if not form.is_valid():
        raise _form_errors(form)
    closes_at = form.aware(form.cleaned_data["closes_at"])
    assert closes_at is not None
    services.round_set_deadline(round=round, closes_at=closes_at, by=request.user)
    return _("The deadline is moved.")


def _analyse(request: HttpRequest, round: Round) -> str:
    services.analysis_request(round=round, by=request.user, force=True)
    return _("The analysis is queued.")


def _reopen(request: HttpRequest, round: Round) -> str:
    form = ReopenForm(request.POST, study=round.study)
    if not form.is_valid():
        raise _form_errors(form)
    closes_at = form.aware(form.cleaned_data["closes_at"])
    assert closes_at is not None
    services.round_reopen(round=round, closes_at=closes_at, by=request.user)
    return _("Round %(n)d is open again until the new deadline.") % {"n": round.number}


ROUND_ACTIONS: dict[str, Action] = {
    "open": _open,
    "close": _close,
    "schedule": _schedule,
    "deadline": _deadline,
    "analyse": _analyse,
    "reopen": _reopen,
}


@login_required
@require_POST
def round_action(request: HttpRequest, slug: str, number: int, action: str) -> HttpResponse:
    round = _round_for(request, slug, number)
    handler = ROUND_ACTIONS.get(action)
    if handler is None:
        messages.error(request, _("Unknown action."))
        return _back(round)
    return _run(request, round, handler, "round-detail")


@login_required
@require_POST
def round_create(request: HttpRequest, slug: str) -> HttpResponse:
    study = access.get_study_for_user(request.user, slug, access.RUN)
    try:
        round = services.round_create(study=study, by=request.user)
    except DomainError as exc:
        messages.error(request, str(exc))
        return redirect("study-detail", slug=slug)
    return _back(round)


@login_required
@require_POST
def decision_override(request: HttpRequest, slug: str, number: int, pk: int) -> HttpResponse:
    round = _round_for(request, slug, number)
    decision = get_object_or_404(ItemDecision, round=round, pk=pk)

    def act(request: HttpRequest, round: Round) -> str:
        form = OverrideForm(request.POST)
        if not form.is_valid():
            raise _form_errors(form)
        services.decision_override(
            decision=decision,
            value=form.cleaned_data["decision"],
            reason=form.cleaned_data["reason"],
            by=request.user,
        )
        return _("The decision on %(code)s is overridden and recorded.") % {
            "code": decision.round_item.item.code
        }

    return _run(request, round, act, "round-results")


def _round_item(round: Round, pk: Any) -> RoundItem:
    return get_object_or_404(
        RoundItem.objects.select_related("item", "round__study"), round=round, pk=pk
    )


def _item_action(request: HttpRequest, round: Round, action: str) -> str:
    languages = list(round.study.languages)
    reason = request.POST.get("reason", "")
    if action == "reword":
        ri = _round_item(round, request.POST.get("round_item"))
        form = WordingForm(request.POST, languages=languages, prefix=f"ri{ri.pk}")
        if not form.is_valid():
            raise _form_errors(form)
        item_services.item_reword(
            round_item=ri, texts=form.texts(), by=request.user, reason=form.cleaned_data["reason"]
        )
        return _("%(code)s is reworded.") % {"code": ri.item.code}
    if action == "drop":
        ri = _round_item(round, request.POST.get("round_item"))
        item_services.item_drop(round_item=ri, by=request.user, reason=reason)
        return _("%(code)s is dropped from round %(n)d.") % {
            "code": ri.item.code,
            "n": round.number,
        }
    new = NewItemForm(
        request.POST, languages=languages, prefix="split" if action == "split" else "new"
    )
    if not new.is_valid():
        raise _form_errors(new)
    if action == "add":
        ri = item_services.item_add(
            round=round,
            code=new.cleaned_data["code"],
            texts=new.texts(),
            by=request.user,
            reason=reason,
        )
    elif action == "merge":
        chosen = [_round_item(round, pk) for pk in request.POST.getlist("merge")]
        ri = item_services.items_merge(
            round_items=chosen,
            code=new.cleaned_data["code"],
            texts=new.texts(),
            by=request.user,
            reason=reason,
        )
    elif action == "split":
        source = _round_item(round, request.POST.get("round_item"))
        second = NewItemForm(request.POST, languages=languages, prefix="split2")
        if not second.is_valid():
            raise _form_errors(second)
        parts = [
            (new.cleaned_data["code"], new.texts()),
            (second.cleaned_data["code"], second.texts()),
        ]
        item_services.item_split(round_item=source, parts=parts, by=request.user, reason=reason)
        return _("%(code)s is split in two.") % {"code": source.item.code}
    else:
        raise DomainError(_("Unknown action."))
    return _("%(code)s is in round %(n)d.") % {"code": ri.item.code, "n": round.number}


@login_required
@require_POST
def round_item_action(request: HttpRequest, slug: str, number: int, action: str) -> HttpResponse:
    round = _round_for(request, slug, number)
    return _run(request, round, lambda r, rd: _item_action(r, rd, action), "round-items")


@login_required
def audit_log(request: HttpRequest, slug: str) -> HttpResponse:
    study = access.get_study_for_user(request.user, slug, access.RUN)
    entries = study.audit_entries.select_related("actor").order_by("-at", "-id")
    return render(request, "rounds/audit_log.html", {"study": study, "entries": entries})


@login_required
def protocol_edit(request: HttpRequest, slug: str) -> HttpResponse:
    study = access.get_study_for_user(request.user, slug, access.RUN)
    protocol = study.protocol
    form = ProtocolForm(request.POST or None, instance=protocol)
    if request.method == "POST" and form.is_valid():
        changes = {name: form.cleaned_data[name] for name in form.changed_data if name != "reason"}
        protocol.refresh_from_db()
        try:
            services.protocol_update(
                protocol=protocol,
                changes=changes,
                by=request.user,
                reason=form.cleaned_data.get("reason", ""),
            )
        except DomainError as exc:
            form.add_error("reason", str(exc))
        else:
            messages.success(request, _("The protocol is saved."))
            return redirect("study-detail", slug=slug)
    return render(request, "rounds/protocol_edit.html", {"study": study, "form": form})


@login_required
def study_record_edit(request: HttpRequest, slug: str) -> HttpResponse:
    """The study record for the report, and each item's source."""
    study = access.get_study_for_user(request.user, slug, access.RUN)
    data = request.POST if request.method == "POST" else None
    form = StudyRecordForm(data, instance=record.study_record(study))
    items = list(study.items.order_by("position", "code"))
    rows = [
        (item, ItemSourceForm(data, prefix=f"item-{item.pk}",
                              initial={"source": item.source, "reference": item.reference}))
        for item in items
    ]  # fmt: skip
    if data is not None and form.is_valid() and all(f.is_valid() for _i, f in rows):
        sources = {i.pk: (f.cleaned_data["source"], f.cleaned_data["reference"]) for i, f in rows}
        fields = {name: form.cleaned_data[name] for name in record.RECORD_FIELDS}
        record.study_record_save(study=study, fields=fields, sources=sources, by=request.user)
        messages.success(request, _("The study record is saved."))
        return redirect("study-record", slug=slug)
    context = {"study": study, "form": form, "rows": rows}
    return render(request, "rounds/study_record.html", context)


@login_required
def import_upload(request: HttpRequest, slug: str, kind: str) -> HttpResponse:
    """Upload items or the panel: all rows or none, with every problem listed."""
    study = access.get_study_for_user(request.user, slug, access.RUN)
    if kind not in ("items", "panel"):
        raise Http404("No such import")
    form = UploadForm(request.POST or None, request.FILES or None)
    problems: list[imports.ImportProblem] = []
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        data = upload.read(imports.MAX_UPLOAD_BYTES + 1)
        run = imports.import_items if kind == "items" else imports.import_panel
        try:
            n = run(study=study, data=data, filename=upload.name, by=request.user)
        except imports.ImportRejected as exc:
            problems = exc.problems
        else:
            messages.success(
                request, _("Imported %(n)d rows from %(file)s.") % {"n": n, "file": upload.name}
            )
            return redirect("study-detail", slug=slug)
    columns = imports.item_columns(study) if kind == "items" else list(imports.PANEL_COLUMNS)
    context = {"study": study, "form": form, "problems": problems, "kind": kind, "columns": columns}
    return render(request, "rounds/import.html", context)
