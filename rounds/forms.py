"""Coordinator forms. Datetimes are typed in the study's time zone and stored in UTC."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from rounds.models import Item, ItemDecision, Protocol, Study, StudyMembership, StudyRecord
from rounds.record import RECORD_FIELDS


class LocalDateTimeField(forms.DateTimeField):
    widget = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("input_formats", ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"])
        super().__init__(*args, **kwargs)


class StudyTimeForm(forms.Form):
    """Base for forms whose datetimes are in the study's local time."""

    def __init__(self, *args: Any, study: Study, **kwargs: Any) -> None:
        self.tz = ZoneInfo(study.time_zone)
        super().__init__(*args, **kwargs)

    def aware(self, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=None).replace(tzinfo=self.tz)


class ScheduleForm(StudyTimeForm):
    opens_at = LocalDateTimeField(label=_("Opens at"), required=False)
    closes_at = LocalDateTimeField(label=_("Deadline"), required=False)


class OpenForm(StudyTimeForm):
    """ "Open now": the deadline typed beside the button goes with it (optional)."""

    closes_at = LocalDateTimeField(label=_("Deadline"), required=False)


class DeadlineForm(StudyTimeForm):
    closes_at = LocalDateTimeField(label=_("New deadline"))


class ReopenForm(StudyTimeForm):
    closes_at = LocalDateTimeField(label=_("New deadline"))


class ReminderScheduleForm(forms.Form):
    days_before = forms.CharField(
        label=_("Send reminders this many days before the deadline"),
        initial="7, 2",
        required=False,
        help_text=_("Comma-separated whole days, e.g. 7, 2. Leave empty for none."),
    )

    def clean_days_before(self) -> list[int]:
        raw = self.cleaned_data["days_before"]
        try:
            days = [int(part) for part in raw.replace(";", ",").split(",") if part.strip()]
        except ValueError:
            raise forms.ValidationError(
                _("Write whole numbers of days separated by commas, e.g. 7, 2.")
            ) from None
        if any(d < 1 or d > 60 for d in days):
            raise forms.ValidationError(_("Each reminder must be 1 to 60 days before."))
        return days


class OverrideForm(forms.Form):
    decision = forms.ChoiceField(label=_("Decision"), choices=ItemDecision.Decision.choices)
    reason = forms.CharField(
        label=_("Reason (recorded in the audit log and the report)"),
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=2000,
    )


class WordingForm(forms.Form):
    """One text field per study language."""

    def __init__(self, *args: Any, languages: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for code in languages:
            self.fields[f"text_{code}"] = forms.CharField(
                label=_("Wording (%(lang)s)") % {"lang": code},
                max_length=1000,
                widget=forms.Textarea(attrs={"rows": 2}),
            )
        self.fields["reason"] = forms.CharField(
            label=_("Reason (optional)"), required=False, max_length=2000
        )
        self.languages = languages

    def texts(self) -> dict[str, str]:
        return {code: self.cleaned_data[f"text_{code}"] for code in self.languages}


class NewItemForm(WordingForm):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["code"] = forms.CharField(label=_("Code of the new item"), max_length=40)
        self.order_fields(["code"])


class ProtocolForm(forms.ModelForm):
    reason = forms.CharField(
        label=_("Reason for the change"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Required once round 1 has opened: the protocol is locked then."),
    )

    class Meta:
        model = Protocol
        fields = [
            "accept_rule",
            "reject_rule",
            "quantile_type",
            "max_rounds",
            "stable_below",
            "rand_half_points",
            "allow_dont_know",
            "require_comment_outside_iqr",
            "randomise_items",
            "show_distribution",
            "show_own_rating",
            "show_comments",
            "show_groups",
            "min_group_size",
            "realtime",
        ]

    def clean_realtime(self) -> bool:
        value = bool(self.cleaned_data.get("realtime"))
        if self.instance.is_locked and value != self.instance.realtime:
            raise forms.ValidationError(
                _("Real-time mode is chosen before round 1 opens; it cannot change afterwards.")
            )
        return value

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        from rounds import consensus

        try:
            consensus.DecisionRule.parse(
                accept=cleaned.get("accept_rule") or None,
                reject=cleaned.get("reject_rule") or None,
            )
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from exc
        return cleaned


class ContactForm(forms.Form):
    contact_name = forms.CharField(label=_("Contact name"), max_length=200, required=False)
    contact_email = forms.EmailField(
        label=_("Contact e-mail"),
        required=False,
        help_text=_("Panelists' replies to the study's e-mails go to this address."),
    )


class TextsForm(forms.Form):
    """One optional text per study language."""

    def __init__(self, *args: Any, languages: list[str], label: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.languages = languages
        names = dict(settings.LANGUAGES)
        for code in languages:
            self.fields[f"text_{code}"] = forms.CharField(
                label=f"{label} ({names.get(code, code)})",
                required=False,
                max_length=5000,
                widget=forms.Textarea(attrs={"rows": 5}),
            )

    def texts(self) -> dict[str, str]:
        return {code: self.cleaned_data[f"text_{code}"] for code in self.languages}


class InviteForm(forms.Form):
    email = forms.EmailField(label=_("E-mail"))
    role = forms.ChoiceField(
        label=_("Role"),
        choices=StudyMembership.Role.choices,
        initial=StudyMembership.Role.COORDINATOR,
    )


class UploadForm(forms.Form):
    file = forms.FileField(
        label=_("CSV or XLSX file"),
        help_text=_("At most 2 MB; UTF-8 or Latin-1; comma or semicolon separated."),
    )


class StudyRecordForm(forms.ModelForm):
    """The study record: every field optional; the report prints "not recorded" for the
    empty ones."""

    class Meta:
        model = StudyRecord
        fields = RECORD_FIELDS
        widgets = {
            name: forms.Textarea(attrs={"rows": 3, "style": "width: 100%; max-width: 46rem"})
            for name in RECORD_FIELDS
        }


class ItemSourceForm(forms.Form):
    """One item's source and reference (prefix: the item's id)."""

    source = forms.ChoiceField(
        label=_("Source"), choices=[("", "–"), *Item.Source.choices], required=False
    )
    reference = forms.CharField(label=_("Reference"), max_length=500, required=False)
