"""The study setup wizard (django-formtools): six steps, then `rounds.studies.study_create`."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.contrib.auth.models import User
from django.core.exceptions import NON_FIELD_ERRORS
from django.forms.formsets import DELETION_FIELD_NAME, BaseFormSet
from django.http import HttpRequest, HttpResponse, HttpResponseBase, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from formtools.wizard.forms import ManagementForm
from formtools.wizard.views import NamedUrlSessionWizardView

from rounds import checks
from rounds.setup.forms import (
    CRITERIA_INITIAL,
    LANGUAGES,
    MAX_CRITERIA,
    RULE_SUGGESTIONS,
    STEP_TITLES,
    BasicsForm,
    CriteriaFormSet,
    FieldErrors,
    ImportForm,
    ItemsForm,
    PanelForm,
    ProtocolForm,
    ReviewForm,
    criteria_specs,
    items_table,
    kept_upload,
    language_name,
    panel_table,
)
from rounds.studies import CriterionSpec, SetupError, StudySetup, study_create

# --------------------------------------------------------------------------- the wizard

StepForm = forms.BaseForm | BaseFormSet


def error_summary(form: StepForm) -> list[tuple[str, str]]:
    """(anchor, message) for every error of a step, for the summary at the top of the page."""
    entries: list[tuple[str, str]] = []
    if isinstance(form, BaseFormSet):
        entries += [("#step-fields", str(error)) for error in form.non_form_errors()]
        for number, sub in enumerate(form.forms, start=1):
            if not (form.can_delete and getattr(sub, "cleaned_data", {}).get(DELETION_FIELD_NAME)):
                entries += _form_errors(sub, _("Criterion %(n)d") % {"n": number})
        return entries
    return _form_errors(form, "")


def _form_errors(form: forms.BaseForm, context: str) -> list[tuple[str, str]]:
    entries = []
    for name, errors in form.errors.items():
        if name == NON_FIELD_ERRORS:
            entries += [("#step-fields", f"{context}: {e}" if context else str(e)) for e in errors]
            continue
        field = form[name]
        anchor = "#" + (field.id_for_label or f"{field.auto_id}_0")
        label = f"{context}, {field.label}" if context else str(field.label)
        entries += [(anchor, f"{label}: {error}") for error in errors]
    return entries


class StudySetupWizard(LoginRequiredMixin, NamedUrlSessionWizardView):
    """Staff create a study here; see the module docstring for the steps."""

    form_list = [
        ("basics", BasicsForm),
        ("criteria", CriteriaFormSet),
        ("protocol", ProtocolForm),
        ("items", ItemsForm),
        ("panel", PanelForm),
        ("review", ReviewForm),
    ]
    template_name = "rounds/setup/step.html"
    file_storage = None  # uploads are kept base64 in the step data (ImportForm.step_data)

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        user = request.user
        if user.is_authenticated and not (user.is_staff or user.is_superuser):
            return render(request, "rounds/setup/forbidden.html", status=403)
        return super().dispatch(request, *args, **kwargs)

    def get_prefix(self, request: HttpRequest, *args: Any, **kwargs: Any) -> str:
        return f"study-setup-{request.user.pk}"

    # Forms ---------------------------------------------------------------------------

    def get_form_initial(self, step: str) -> Any:
        if step == "criteria":
            return copy.deepcopy(CRITERIA_INITIAL)
        return super().get_form_initial(step)

    def get_form_kwargs(self, step: str | None = None) -> dict[str, Any]:
        step = step or self.steps.current
        kwargs: dict[str, Any] = {"error_class": FieldErrors}
        if step == "criteria":
            kwargs["form_kwargs"] = {"languages": self._languages()}
        elif step == "protocol":
            kwargs["criteria"] = self._criteria()
        elif step in ("items", "panel"):
            kept = kept_upload(self.storage.get_step_data(step), self.get_form_prefix(step))
            kwargs.update(languages=self._languages(), kept=kept)
        return kwargs

    def _languages(self) -> list[str]:
        basics = self.get_cleaned_data_for_step("basics")
        return list(basics["languages"]) if basics else [code for code, _name in LANGUAGES]

    def _criteria(self) -> list[CriterionSpec]:
        return criteria_specs(self.get_cleaned_data_for_step("criteria"))

    def process_step(self, form: StepForm) -> Any:
        data = super().process_step(form)
        return form.step_data(data) if isinstance(form, ImportForm) else data

    def process_step_files(self, form: StepForm) -> dict[str, Any]:
        return {}  # kept in the step data instead; see ImportForm.step_data

    # Requests ------------------------------------------------------------------------

    def get(self, *args: Any, **kwargs: Any) -> HttpResponse:
        step = kwargs.get("step")
        if isinstance(step, str) and step in self.get_form_list():
            missing = self._first_incomplete(before=step)
            if missing is not None:
                messages.info(
                    self.request,
                    _("Complete “%(step)s” first: the later steps depend on it.")
                    % {"step": STEP_TITLES[missing]},
                )
                self.storage.current_step = missing
                return redirect(self.get_step_url(missing))
        return super().get(*args, **kwargs)

    def post(self, *args: Any, **kwargs: Any) -> HttpResponse:
        """Besides formtools' "next": "preview" and "add_criterion" re-render the step with
        what was typed; "wizard_goto_step" leaves it. All three keep what was typed, even
        when it is not valid yet."""
        post = self.request.POST
        leaving = post.get("wizard_goto_step") in self.get_form_list()
        if not (leaving or "preview" in post or "add_criterion" in post):
            return super().post(*args, **kwargs)
        management = ManagementForm(post, prefix=self.prefix)
        if not management.is_valid() or management.cleaned_data["current_step"] not in (
            self.get_form_list()
        ):
            return super().post(*args, **kwargs)
        self.storage.current_step = management.cleaned_data["current_step"]
        data = post
        if "add_criterion" in post and self.steps.current == "criteria":
            data = _with_another_criterion(post, self.get_form_prefix("criteria"))
        form = self.get_form(data=data, files=self.request.FILES)
        self._keep(form)
        if leaving:
            return super().post(*args, **kwargs)
        return self.render(form)

    def _keep(self, form: StepForm) -> None:
        data = form.step_data(form.data) if isinstance(form, ImportForm) else form.data
        self.storage.set_step_data(self.steps.current, data)
        for name in [name for name in vars(self) if name.startswith("_cleaned_data_cache_")]:
            delattr(self, name)

    def _first_incomplete(self, before: str) -> str | None:
        for step in self.get_form_list():
            if step == before:
                return None
            if self.get_cleaned_data_for_step(step) is None:
                return str(step)
        return None

    def render_revalidation_failure(self, failed_step: str, form: StepForm, **kwargs: Any) -> Any:
        messages.error(
            self.request,
            _(
                "“%(step)s” needs another look: something it depends on changed after you "
                "filled it in. Correct the fields marked below, then continue."
            )
            % {"step": STEP_TITLES[failed_step]},
        )
        return super().render_revalidation_failure(failed_step, form, **kwargs)

    def render_done(self, form: StepForm, **kwargs: Any) -> HttpResponse:
        try:
            return super().render_done(form, **kwargs)
        except SetupError as error:  # the wizard's data is kept: done() did not finish
            messages.error(self.request, str(error))
            self.storage.current_step = error.step
            return redirect(self.get_step_url(error.step))

    def done(self, form_list: list[StepForm], form_dict: dict[str, Any], **kwargs: Any) -> Any:
        user = self.request.user
        assert isinstance(user, User)
        study = study_create(setup=_setup(form_dict), by=user)
        messages.success(
            self.request,
            _("The study “%(title)s” is created. Prepare round 1 when you are ready.")
            % {"title": study.display_title},
        )
        return redirect(reverse("study-detail", args=[study.slug]))

    # Pages ---------------------------------------------------------------------------

    def get_context_data(self, form: StepForm, **kwargs: Any) -> dict[str, Any]:
        context: dict[str, Any] = super().get_context_data(form=form, **kwargs)
        current = self.steps.current
        partial = "upload" if current in ("items", "panel") else current
        context.update(
            step_title=STEP_TITLES[current],
            step_template=f"rounds/setup/_{partial}.html",
            step_list=list(self._step_list()),
            error_summary=error_summary(form),
        )
        if isinstance(form, ProtocolForm):
            context.update(preview=form.preview(), rule_suggestions=RULE_SUGGESTIONS)
        elif isinstance(form, ImportForm):
            required, optional = form.columns()
            rows = form.cleaned_data.get("rows") if form.is_bound and form.is_valid() else None
            table = form.table(rows) if rows else None
            context.update(required_columns=required, optional_columns=optional, table=table)
        elif current == "review":
            context["summary"] = self._summary()
        return context

    def _step_list(self) -> Iterator[dict[str, Any]]:
        reachable = True
        for number, step in enumerate(self.get_form_list(), start=1):
            complete = step != "review" and self.get_cleaned_data_for_step(step) is not None
            yield {
                "name": step,
                "title": STEP_TITLES[step],
                "number": number,
                "current": step == self.steps.current,
                "complete": complete,
                "reachable": reachable,
            }
            reachable = reachable and complete

    def _summary(self) -> dict[str, Any]:
        basics = self.get_cleaned_data_for_step("basics") or {"title": {}}
        protocol = self.get_form("protocol", data=self.storage.get_step_data("protocol"))
        protocol.is_valid()
        rules = protocol.cleaned_data.get("rules", {})
        items = self.get_cleaned_data_for_step("items") or {}
        panel = self.get_cleaned_data_for_step("panel") or {}
        return {
            "basics": basics,
            "languages": [language_name(code) for code in basics.get("languages", [])],
            "report_language": language_name(basics.get("report_language", "")),
            "criteria": [
                (spec, rules[spec.code].label if spec.code in rules else "")
                for spec in self._criteria()
            ],
            "protocol": protocol.summary(),
            "titles": [(language_name(code), text) for code, text in basics["title"].items()],
            "items": items_table(items.get("rows", []), basics.get("languages", [])),
            "panel": panel_table(panel.get("rows", [])),
            "groups": sorted({row.group for row in panel.get("rows", []) if row.group}),
            "warnings": checks.warnings_for(
                languages=basics.get("languages", []),
                contact_email=basics.get("contact_email", ""),
                title=basics["title"],
                items=[(row.domain, row.text) for row in items.get("rows", [])],
                criteria=[(c.name, c.question, c.anchors) for c in self._criteria()],
            ),
        }


def _with_another_criterion(post: QueryDict, prefix: str) -> QueryDict:
    data = post.copy()
    total = f"{prefix}-TOTAL_FORMS"
    try:
        count = int(data.get(total, "0"))
    except ValueError:
        return data
    if count < MAX_CRITERIA:
        data[total] = str(count + 1)
        data[f"{prefix}-{count}-scale"] = "1-9"  # the field's initial, so the form is "empty"
    return data


def _setup(form_dict: Mapping[str, Any]) -> StudySetup:
    basics = form_dict["basics"].cleaned_data
    protocol: ProtocolForm = form_dict["protocol"]
    return StudySetup(
        slug=basics["slug"],
        title=basics["title"],
        description=basics["description"],
        languages=basics["languages"],
        report_language=basics["report_language"],
        time_zone=basics["time_zone"],
        contact_name=basics["contact_name"],
        contact_email=basics["contact_email"],
        minutes_per_round=basics["minutes_per_round"],
        criteria=form_dict["criteria"].specs(),
        rules={code: rule.label for code, rule in protocol.cleaned_data["rules"].items()},
        protocol=protocol.settings(),
        items=form_dict["items"].cleaned_data["source"],
        panel=form_dict["panel"].cleaned_data["source"],
        round_0={"question": {}} if form_dict["review"].cleaned_data.get("round_0") else None,
    )
