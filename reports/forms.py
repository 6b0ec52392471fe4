"""The coordinator's recommendation form."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from reports.models import Actor
from rounds.models import Item, Study


class ItemChoiceField(forms.ModelMultipleChoiceField):
    """Items labelled with their code, wording and final disposition."""

    def __init__(self, *args: Any, dispositions: dict[int, str], **kwargs: Any) -> None:
        self.dispositions = dispositions
        super().__init__(*args, **kwargs)

    def label_from_instance(self, obj: Item) -> str:
        disposition = self.dispositions.get(obj.pk)
        label = f"{obj.code} — {obj.label()}"
        return f"{label} ({disposition})" if disposition else label


class RecommendationForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=300)
    text = forms.CharField(
        label=_("Recommendation"),
        widget=forms.Textarea(attrs={"rows": 10}),
        help_text=_("Markdown: blank lines between paragraphs, **bold**, *italics*, - lists."),
    )
    actors = forms.MultipleChoiceField(
        label=_("Actors concerned"),
        choices=Actor.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    implementation_notes = forms.CharField(
        label=_("Implementation notes"),
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
        help_text=_("Who does what, when, and how it will be evaluated (markdown)."),
    )

    def __init__(
        self, *args: Any, study: Study, dispositions: dict[int, str], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        items = (
            Item.objects.filter(study=study).select_related("study").order_by("position", "code")
        )
        self.fields["items"] = ItemChoiceField(
            queryset=items.order_by("position", "code"),
            dispositions=dispositions,
            label=_("Items it rests on"),
            widget=forms.CheckboxSelectMultiple,
            required=False,
            help_text=_("The sheet shows the panel's ratings and the disposition of each item."),
        )
        self.fields["justification"] = forms.CharField(
            label=_("Why it rests on items the panel did not accept"),
            widget=forms.Textarea(attrs={"rows": 3}),
            required=False,
            help_text=_(
                "Required when an item above was rejected or reached no consensus (e.g. kept "
                "from the interviews, or rephrased after a stakeholder workshop). The sheet "
                "prints it, and the report lists the recommendation apart from those the "
                "panel supported."
            ),
        )
