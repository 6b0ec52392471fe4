"""Coordinator pages. Every view goes through `rounds.access` for the study it shows."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login as auth_login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import UserCreationForm
from django.contrib.auth.models import User
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from rounds import (
    access,
    checks,
    explain,
    imports,
    item_services,
    overview,
    record,
    services,
    studies,
    team,
)
from rounds.errors import DomainError
from rounds.forms import (
    ContactForm,
    DeadlineForm,
    InviteForm,
    ItemSourceForm,
    NewItemForm,
    OpenForm,
    OverrideForm,
    ProtocolForm,
    ReopenForm,
    ScheduleForm,
    StudyRecordForm,
    TextsForm,
    UploadForm,
    WordingForm,
)
from rounds.models import (
    ItemDecision,
    Round,
    RoundItem,
    Study,
    StudyInvitation,
    StudyMembership,
)
from rounds.studyfile import writer


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
        "can_end": _can_end(study),
        "warnings": checks.study_warnings(study) if study.status != Study.Status.FINISHED else [],
        "contact_form": ContactForm(
            initial={"contact_name": study.contact_name, "contact_email": study.contact_email}
        ),
    }
    return render(request, "rounds/study_detail.html", context)


@login_required
def study_file_download(request: HttpRequest, slug: str) -> HttpResponse:
    """The study's design as it stands, as a study file (YAML)."""
    study = access.get_study_for_user(request.user, slug, access.RUN)
    response = HttpResponse(writer.study_file(study), content_type=writer.MEDIA_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{writer.study_file_name(study)}"'
    return response


@login_required
@require_POST
def study_contact(request: HttpRequest, slug: str) -> HttpResponse:
    study = access.get_study_for_user(request.user, slug, access.RUN)
    form = ContactForm(request.POST)
    if form.is_valid():
        assert isinstance(request.user, User)
        studies.study_contact_update(
            study=study,
            name=form.cleaned_data["contact_name"],
            email=form.cleaned_data["contact_email"],
            by=request.user,
        )
        messages.success(request, _("The contact is saved."))
    else:
        messages.error(request, str(_form_errors(form)))
    return redirect("study-detail", slug=slug)


def _can_end(study: Study) -> bool:
    """Ending by decision is offered between rounds: the last round that ran is analysed."""
    ran = study.rounds.exclude(state=Round.State.DRAFT).order_by("-number").first()
    if study.status == Study.Status.FINISHED or ran is None:
        return False
    return ran.state == Round.State.ANALYSED or (
        ran.state == Round.State.CLOSED
        and not ran.participations.filter(status="submitted").exists()
    )


@login_required
@require_POST
def study_end(request: HttpRequest, slug: str) -> HttpResponse:
    study = access.get_study_for_user(request.user, slug, access.RUN)
    try:
        services.study_end_after_round(
            study=study, by=request.user, reason=request.POST.get("reason", "")
        )
    except DomainError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request, _("The study is finished. Its next report version is the final report.")
        )
    return redirect("study-detail", slug=slug)


def _can_create_round(study: Study) -> bool:
    latest = study.rounds.order_by("-number").first()
    return study.status != Study.Status.FINISHED and (
        latest is None or latest.state == Round.State.ANALYSED
    )


@login_required
def round_results(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    round = _round_for(request, slug, number)
    filters = overview.Filters.from_query(request.GET)
    found = overview.overview(round, filters, request.GET.get("page", 1))
    _add_bases(round, found.page.object_list if found.page is not None else found.shown)
    next_round = round.study.rounds.filter(number=round.number + 1).first()
    context = {
        "study": round.study,
        "round": round,
        "overview": found,
        "filters": filters,
        "sorts": overview.SORTS,
        "decisions": ItemDecision.Decision.choices,
        "override_form": OverrideForm(),
        "next_round": next_round,
        "kendall": getattr(round, "analysis", None),
    }
    return render(request, "rounds/round_results.html", context)


def _add_bases(round: Round, rows: Iterable[overview.Row]) -> None:
    """Each decision's basis: the clauses of the decision rule that decided it."""
    rule = round.study.protocol.decision_rule()
    for row in rows:
        names = {r.criterion.code: r.criterion.text() for r in row.results}
        if row.decision is not None:
            basis = explain.results_basis(row.results, rule, row.decision.computed)
            row.basis = explain.phrase(basis, names)


@login_required
def round_items(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    """Between rounds: the draft round's items, to reword, merge, split, drop or add."""
    round = _round_for(request, slug, number)
    languages = list(round.study.languages)
    query = request.GET.get("q", "").strip()[:100]
    found = round.round_items.select_related("item").prefetch_related("item__derived_from")
    if query:
        found = found.filter(Q(item__code__icontains=query) | Q(text__icontains=query))
    page = Paginator(found.order_by("position", "pk"), EDITABLE_ITEMS_PER_PAGE).get_page(
        request.GET.get("page", 1)
    )
    entries = [
        (
            ri,
            WordingForm(
                languages=languages,
                prefix=f"ri{ri.pk}",
                initial={f"text_{c}": ri.text.get(c, "") for c in languages},
            ),
        )
        for ri in page.object_list
    ]
    previous = overview.previous_rows(round, [ri.item_id for ri, _form in entries])
    context = {
        "study": round.study,
        "round": round,
        "entries": [(ri, form, previous.get(ri.item_id)) for ri, form in entries],
        "page": page,
        "query": query,
        "new_form": NewItemForm(languages=languages, prefix="new"),
        "intro_form": TextsForm(
            languages=languages,
            label=_("Introduction for the panel"),
            initial={f"text_{c}": (round.introduction or {}).get(c, "") for c in languages},
        ),
        "split_form": NewItemForm(languages=languages, prefix="split"),
    }
    return render(request, "rounds/round_items.html", context)


EDITABLE_ITEMS_PER_PAGE = 25  # each with its statistics, comments and wording forms
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
    form = OpenForm(request.POST, study=round.study)
    if not form.is_valid():
        raise _form_errors(form)
    closes_at = form.aware(form.cleaned_data["closes_at"])
    services.round_open(round=round, by=request.user, closes_at=closes_at)
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
    if action in CONFIRMED_ACTIONS and request.POST.get("confirmed") != "yes":
        return _confirm(request, round, action)
    return _run(request, round, handler, "round-detail")


# Actions that cannot be undone: the page asks once more, saying what will happen.
CONFIRMED_ACTIONS = ("open", "close")


def _confirm(request: HttpRequest, round: Round, action: str) -> HttpResponse:
    form = OpenForm(request.POST, study=round.study)
    closes_at = form.aware(form.cleaned_data["closes_at"]) if form.is_valid() else round.closes_at
    participations = round.participations.all()
    context = {
        "study": round.study,
        "round": round,
        "action": action,
        "closes_at": closes_at,
        "typed_closes_at": request.POST.get("closes_at", ""),
        "n_panelists": round.study.panelists.count(),
        "n_submitted": participations.filter(status="submitted").count(),
        "n_invited": participations.count(),
        "warnings": checks.study_warnings(round.study) if action == "open" else [],
    }
    return render(request, "rounds/round_confirm.html", context)


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
    """The round's item `pk` (as posted: any text); a clear message when there is none."""
    found = None
    if isinstance(pk, str) and pk.isdigit() and len(pk) < 19:  # a bigint, never a 500
        found = (
            RoundItem.objects.select_related("item", "round__study")
            .filter(round=round, pk=int(pk))
            .first()
        )
    if found is None:
        raise DomainError(
            _("Choose an item of round %(n)d from the list, then try again.") % {"n": round.number}
        )
    return found


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


# --------------------------------------------------------------------------- the team


@login_required
def team_page(request: HttpRequest, slug: str) -> HttpResponse:
    """Who may run or read the study; invite colleagues and the policy team by e-mail."""
    study = access.get_study_for_user(request.user, slug, access.RUN)
    form = InviteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        assert isinstance(request.user, User)
        try:
            url = team.team_invite(
                study=study,
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
                by=request.user,
            )
        except DomainError as exc:
            form.add_error("email", str(exc))
        else:
            messages.success(
                request,
                _("The invitation is on its way to %(email)s.")
                % {"email": form.cleaned_data["email"]},
            )
            request.session["invitation_url"] = url
            return redirect("team", slug=slug)
    context = {
        "study": study,
        "form": form,
        "members": study.memberships.select_related("user").order_by("role", "user__username"),
        "invitations": study.invitations.filter(accepted_at__isnull=True, revoked_at__isnull=True),
        "roles": StudyMembership.Role.choices,
        "new_url": request.session.pop("invitation_url", None),
    }
    return render(request, "rounds/team.html", context)


@login_required
@require_POST
def team_member(request: HttpRequest, slug: str, pk: int, action: str) -> HttpResponse:
    study = access.get_study_for_user(request.user, slug, access.RUN)
    membership = get_object_or_404(
        StudyMembership.objects.select_related("user"), study=study, pk=pk
    )
    assert isinstance(request.user, User)
    try:
        if action == "role":
            team.membership_change(
                membership=membership, role=request.POST.get("role", ""), by=request.user
            )
            messages.success(request, _("The role is changed."))
        elif action == "remove":
            team.membership_remove(membership=membership, by=request.user)
            messages.success(
                request, _("%(user)s is removed from the team.") % {"user": membership.user}
            )
        else:
            raise Http404("No such action")
    except DomainError as exc:
        messages.error(request, str(exc))
    return redirect("team", slug=slug)


@login_required
@require_POST
def team_invitation_revoke(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    study = access.get_study_for_user(request.user, slug, access.RUN)
    invitation = get_object_or_404(StudyInvitation, study=study, pk=pk)
    assert isinstance(request.user, User)
    team.invitation_revoke(invitation=invitation, by=request.user)
    messages.success(
        request, _("The invitation to %(email)s is withdrawn.") % {"email": invitation.email}
    )
    return redirect("team", slug=slug)


def team_accept(request: HttpRequest, token: str) -> HttpResponse:
    """A colleague opens the invitation: joins with their account or creates one."""
    invitation = team.invitation_for(token)
    if invitation is None:
        response = render(request, "rounds/team_accept.html", {"invalid": True}, status=404)
        response["Referrer-Policy"] = "no-referrer"
        return response
    signup: UserCreationForm[User] = UserCreationForm(
        request.POST if request.POST.get("create") else None
    )
    if request.method == "POST":
        user = request.user if request.user.is_authenticated else None
        if user is None and signup.is_valid():
            user = signup.save(commit=False)
            user.email = invitation.email
            user.save()
            auth_login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        if isinstance(user, User):
            try:
                team.invitation_accept(token=token, user=user)
            except DomainError as exc:
                messages.error(request, str(exc))
                return redirect("home")
            messages.success(
                request,
                _("You have joined “%(study)s”.") % {"study": invitation.study.display_title},
            )
            return redirect("home")
    context = {"invitation": invitation, "signup": signup, "study": None}
    response = render(request, "rounds/team_accept.html", context)
    response["Referrer-Policy"] = "no-referrer"
    return response


# --------------------------------------------------------------------------- texts


@login_required
def study_texts(request: HttpRequest, slug: str) -> HttpResponse:
    """The summary for policy readers, written apart from what the panel reads."""
    study = access.get_study_for_user(request.user, slug, access.RUN)
    languages = list(study.languages)
    initial = {f"text_{c}": (study.policy_summary or {}).get(c, "") for c in languages}
    form = TextsForm(request.POST or None, languages=languages, initial=initial,
                     label=_("Summary for policy readers"))  # fmt: skip
    if request.method == "POST" and form.is_valid():
        assert isinstance(request.user, User)
        studies.study_policy_summary_update(study=study, texts=form.texts(), by=request.user)
        messages.success(request, _("The summary for policy readers is saved."))
        return redirect("study-detail", slug=slug)
    return render(request, "rounds/study_texts.html", {"study": study, "form": form})


@login_required
@require_POST
def round_introduction(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    round = _round_for(request, slug, number)
    form = TextsForm(request.POST, languages=list(round.study.languages),
                     label=_("Introduction for the panel"))  # fmt: skip
    if form.is_valid():
        assert isinstance(request.user, User)
        studies.round_introduction_update(round=round, texts=form.texts(), by=request.user)
        messages.success(request, _("The introduction for the panel is saved."))
    return redirect("round-items", slug=slug, number=number)
