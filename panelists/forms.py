from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django import forms
from django.utils.translation import gettext as _

from panelists.questionnaire import Cell, Entry, Step
from rounds.answers import Answer
from rounds.models import Protocol

DONT_KNOW = "dk"


def rating_name(entry: Entry, cell: Cell) -> str:
    return f"r-{entry.round_item.pk}-{cell.criterion.pk}"


def comment_name(entry: Entry, cell: Cell) -> str:
    return f"c-{entry.round_item.pk}-{cell.criterion.pk}"


class StepForm(forms.Form):
    """The ratings (and comments) of one step: one radio group per item and criterion."""

    def __init__(self, *args: Any, step: Step, protocol: Protocol, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.step = step
        self.protocol = protocol
        for entry in step.entries:
            for cell in entry.cells:
                c = cell.criterion
                choices = [(str(v), str(v)) for v in range(c.scale_min, c.scale_max + 1)]
                if protocol.allow_dont_know:
                    choices.append((DONT_KNOW, _("Don't know")))
                self.fields[rating_name(entry, cell)] = forms.ChoiceField(
                    choices=choices,
                    widget=forms.RadioSelect,
                    error_messages={
                        "required": _("Choose a rating for this criterion."),
                        "invalid_choice": _(
                            "%(value)s is not a rating on this scale; choose one of the options."
                        ),
                    },
                )
                self.fields[comment_name(entry, cell)] = forms.CharField(
                    required=False, max_length=4000, widget=forms.Textarea(attrs={"rows": 2})
                )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if not self.protocol.require_comment_outside_iqr:
            return cleaned
        for entry in self.step.entries:
            for cell in entry.cells:
                raw = cleaned.get(rating_name(entry, cell))
                feedback = cell.feedback
                if not raw or raw == DONT_KNOW or feedback is None:
                    continue
                q1, q3 = feedback.result.q1, feedback.result.q3
                outside = q1 is not None and q3 is not None and not q1 <= int(raw) <= q3
                if outside and not cleaned.get(comment_name(entry, cell), "").strip():
                    self.add_error(
                        comment_name(entry, cell),
                        _(
                            "Your rating is outside the panel's middle range "
                            "(%(q1)s–%(q3)s): please say why in a comment."
                        )
                        % {"q1": f"{q1:g}", "q3": f"{q3:g}"},
                    )
        return cleaned

    def answers(self, *, partial: bool = False) -> list[Answer]:
        """Answers in the form; with ``partial``, every individually valid one from the raw
        data, so nothing typed is lost when the step as a whole does not validate."""
        out = []
        for entry in self.step.entries:
            for cell in entry.cells:
                value = self._value(rating_name(entry, cell), partial)
                if value is _MISSING:
                    continue
                comment = self._comment(comment_name(entry, cell), partial)
                out.append(Answer(entry.round_item.pk, cell.criterion.pk, value, comment))
        return out

    def _value(self, name: str, partial: bool) -> Any:
        raw = self.cleaned_data.get(name) if not partial else self.data.get(self.add_prefix(name))
        if not raw:
            return _MISSING
        if raw == DONT_KNOW:
            return None if self.protocol.allow_dont_know else _MISSING
        valid = {value for value, _label in self.fields[name].choices}  # type: ignore[attr-defined]
        return int(raw) if raw in valid else _MISSING

    def _comment(self, name: str, partial: bool) -> str:
        raw = self.cleaned_data.get(name) if not partial else self.data.get(self.add_prefix(name))
        return str(raw or "").strip()[:4000]


_MISSING = object()


@dataclass(frozen=True)
class Posted:
    """A posted step read without building its form: the answers to save, and whether the
    step is complete (every cell has a valid rating), which is all a save needs when no
    comment rule applies. Matches `StepForm.answers(partial=True)` and `is_valid()`."""

    answers: list[Answer]
    complete: bool


def read_posted(step: Step, data: Mapping[str, Any], prefix: str, protocol: Protocol) -> Posted:
    found, complete = [], True
    for entry in step.entries:
        for cell in entry.cells:
            raw = data.get(f"{prefix}-{rating_name(entry, cell)}")
            value = _posted_value(raw, cell.criterion, protocol.allow_dont_know)
            comment = str(data.get(f"{prefix}-{comment_name(entry, cell)}") or "")
            if len(comment) > 4000:
                complete = False  # the form refuses it; the save keeps the first 4,000
            if value is _MISSING:
                complete = False
                continue
            found.append(
                Answer(entry.round_item.pk, cell.criterion.pk, value, comment.strip()[:4000])
            )
    return Posted(found, complete)


def _posted_value(raw: Any, criterion: Any, allow_dont_know: bool) -> Any:
    if not raw:
        return _MISSING
    if raw == DONT_KNOW:
        return None if allow_dont_know else _MISSING
    try:
        value = int(raw)
    except (TypeError, ValueError):
        return _MISSING
    if str(value) != raw or not criterion.scale_min <= value <= criterion.scale_max:
        return _MISSING
    return value
