"""The setup wizard's forms: basics, criteria, protocol (with its rule checks), items and
panel uploads, review."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from django import forms
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.core.validators import MaxValueValidator, MinValueValidator
from django.forms.formsets import DELETION_FIELD_NAME, BaseFormSet
from django.forms.utils import ErrorList
from django.utils.datastructures import MultiValueDict
from django.utils.functional import Promise
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from rounds import consensus
from rounds.imports import (
    MAX_UPLOAD_BYTES,
    PANEL_COLUMNS,
    ImportRejected,
    ItemRow,
    PanelRow,
    parse_items,
    parse_panel,
)
from rounds.models import Protocol, Study
from rounds.setup.preview import Preview, preview
from rounds.studies import RULE_WORDS, CriterionSpec, Upload, criteria_named, slug_taken_message

LANGUAGES: tuple[tuple[str, Promise], ...] = (
    ("fr", gettext_lazy("French")),
    ("nl", gettext_lazy("Dutch")),
    ("en", gettext_lazy("English")),
)
LANGUAGE_NAMES: dict[str, Promise] = dict(LANGUAGES)
STEPS: tuple[tuple[str, Promise], ...] = (
    ("basics", gettext_lazy("Basics and languages")),
    ("criteria", gettext_lazy("Criteria and scales")),
    ("protocol", gettext_lazy("Consensus protocol")),
    ("items", gettext_lazy("Items")),
    ("panel", gettext_lazy("Panel")),
    ("review", gettext_lazy("Review and create")),
)
STEP_TITLES: dict[str, Promise] = dict(STEPS)

MAX_CRITERIA = 12
MAX_SCALE_POINTS = 11  # the panelist's rating grid must still fit a phone
MAX_ROUNDS = 10
DEFAULT_RULE = "percent:75"
RULE_SUGGESTIONS = ("percent:75", "percent:70", "percent:80", "comet", "rand", "iqr:2", "iqr:1")
PASTED_FILENAME = "pasted.csv"
RESERVED_SLUGS = frozenset({"new"})  # studies/new/ is this wizard

_CODE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


class FieldErrors(ErrorList):
    """Form errors in the site's style (`.field-error`)."""

    def __init__(
        self,
        initlist: Any = None,
        error_class: str | None = None,
        renderer: Any = None,
        field_id: str | None = None,
    ) -> None:
        super().__init__(initlist, error_class or "field-error", renderer, field_id)


SHORT_SLUG = 30  # a derived short name stays readable in addresses and file names


def short_slug(title: str, limit: int = SHORT_SLUG) -> str:
    """A short name from a title: its first words, whole, within `limit` characters."""
    words = [w for w in slugify(title).split("-") if w]
    out = ""
    for word in words:
        candidate = f"{out}-{word}" if out else word
        if len(candidate) > limit:
            break
        out = candidate
    return out or slugify(title)[:limit].strip("-_")


def language_name(code: str) -> str:
    return str(LANGUAGE_NAMES.get(code, code))


# --------------------------------------------------------------------------- basics


class BasicsForm(forms.Form):
    languages = forms.MultipleChoiceField(
        label=gettext_lazy("Languages of the study"),
        choices=LANGUAGES,
        initial=["fr", "nl", "en"],
        widget=forms.CheckboxSelectMultiple,
        help_text=gettext_lazy(
            "Panelists answer in one of these; titles, criteria and items are needed in each."
        ),
        error_messages={"required": gettext_lazy("Tick at least one language.")},
    )
    report_language = forms.ChoiceField(
        label=gettext_lazy("Report language"),
        choices=LANGUAGES,
        initial="en",
        help_text=gettext_lazy("Reports and exports are written in this language."),
    )
    slug = forms.CharField(
        label=gettext_lazy("Short name"),
        max_length=80,
        required=False,
        help_text=gettext_lazy(
            "Part of the study's web address, e.g. kce-2025: lowercase letters, digits and "
            "hyphens. Leave it empty to derive it from the title."
        ),
    )
    time_zone = forms.CharField(
        label=gettext_lazy("Time zone"),
        max_length=64,
        initial="Europe/Brussels",
        help_text=gettext_lazy("Round dates are shown in this time zone, e.g. Europe/Brussels."),
    )
    contact_name = forms.CharField(
        label=gettext_lazy("Contact name"),
        max_length=200,
        help_text=gettext_lazy("The person panelists can write to with questions."),
        error_messages={
            "required": gettext_lazy("Give the name of the person panelists can contact.")
        },
    )
    contact_email = forms.EmailField(
        label=gettext_lazy("Contact e-mail"),
        error_messages={
            "required": gettext_lazy("Give the e-mail address panelists can write to."),
            "invalid": gettext_lazy("Write a whole e-mail address, such as name@example.org."),
        },
    )
    minutes_per_round = forms.IntegerField(
        label=gettext_lazy("Minutes per round"),
        min_value=1,
        max_value=600,
        initial=15,
        help_text=gettext_lazy("The time one round takes a panelist, as the invitation says."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for code, name in LANGUAGES:
            self.fields[f"title_{code}"] = forms.CharField(
                label=_("Title in %(language)s") % {"language": name},
                max_length=200,
                required=False,
            )
            self.fields[f"description_{code}"] = forms.CharField(
                label=_("Description in %(language)s") % {"language": name},
                max_length=4000,
                required=False,
                widget=forms.Textarea(attrs={"rows": 3}),
                help_text=_("What panelists read first: the purpose of the study."),
            )

    def per_language(self) -> list[tuple[str, str, list[forms.BoundField]]]:
        return [
            (code, language_name(code), [self[f"title_{code}"], self[f"description_{code}"]])
            for code, _name in LANGUAGES
        ]

    def clean_time_zone(self) -> str:
        name = str(self.cleaned_data["time_zone"]).strip()
        try:
            ZoneInfo(name)
        except (KeyError, ValueError, OSError):
            raise ValidationError(
                _(
                    "“%(value)s” is not a time zone. Write a name from the time zone database, "
                    "such as Europe/Brussels or UTC."
                )
                % {"value": name}
            ) from None
        return name

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        chosen = data.get("languages") or []
        languages = [code for code, _name in LANGUAGES if code in chosen]
        for code in languages:
            if not str(data.get(f"title_{code}") or "").strip():
                self.add_error(
                    f"title_{code}",
                    _("Give the title in %(language)s, or untick %(language)s under Languages.")
                    % {"language": language_name(code)},
                )
        report = data.get("report_language")
        if languages and report and report not in languages:
            self.add_error(
                "report_language",
                _(
                    "The report language must be one of the study's languages: tick "
                    "%(language)s under Languages, or choose one of %(chosen)s."
                )
                % {
                    "language": language_name(report),
                    "chosen": ", ".join(language_name(code) for code in languages),
                },
            )
        data["languages"] = languages
        data["title"] = _texts(data, "title", languages)
        data["description"] = _texts(data, "description", languages)
        self._clean_slug(data)
        return data

    def _clean_slug(self, data: dict[str, Any]) -> None:
        typed = str(data.get("slug") or "").strip()
        if typed:
            if slugify(typed) != typed:
                self.add_error(
                    "slug",
                    _(
                        "Use only lowercase letters, digits and hyphens in the short name, "
                        "e.g. “%(suggestion)s”."
                    )
                    % {"suggestion": slugify(typed) or "my-study"},
                )
                return
            slug = typed
        else:
            title = next(iter(data["title"].values()), "")
            slug = short_slug(title)
            if not title:
                return  # the missing title is reported already
            if not slug:
                self.add_error(
                    "slug",
                    _("Give a short name: the title has no letters or digits to derive one from."),
                )
                return
        if slug in RESERVED_SLUGS:
            self.add_error(
                "slug",
                _(
                    "“%(slug)s” is reserved for the platform's own pages; choose another, "
                    "e.g. “%(slug)s-study”."
                )
                % {"slug": slug},
            )
            return
        if Study.objects.filter(slug=slug).exists():
            self.add_error("slug", slug_taken_message(slug))
            return
        data["slug"] = slug


def _texts(data: Mapping[str, Any], field: str, languages: list[str]) -> dict[str, str]:
    texts = {code: str(data.get(f"{field}_{code}") or "").strip() for code in languages}
    return {code: text for code, text in texts.items() if text}


# --------------------------------------------------------------------------- criteria
SCALES: tuple[tuple[str, Any], ...] = (
    ("1-9", "1–9"),
    ("1-7", "1–7"),
    ("1-5", "1–5"),
    ("custom", gettext_lazy("Other, with explicit bands")),
)

CRITERIA_INITIAL: list[dict[str, Any]] = [
    {
        "code": "acceptability",
        "name_fr": "Acceptabilité",
        "name_nl": "Aanvaardbaarheid",
        "name_en": "Acceptability",
        "scale": "1-9",
        "anchor_min_fr": "Pas du tout acceptable",
        "anchor_max_fr": "Tout à fait acceptable",
        "anchor_min_nl": "Helemaal niet aanvaardbaar",
        "anchor_max_nl": "Volledig aanvaardbaar",
        "anchor_min_en": "Not acceptable at all",
        "anchor_max_en": "Fully acceptable",
    },
    {
        "code": "priority",
        "name_fr": "Priorité",
        "name_nl": "Prioriteit",
        "name_en": "Priority",
        "scale": "1-9",
        "anchor_min_fr": "Pas prioritaire",
        "anchor_max_fr": "Hautement prioritaire",
        "anchor_min_nl": "Geen prioriteit",
        "anchor_max_nl": "Hoogste prioriteit",
        "anchor_min_en": "Not a priority",
        "anchor_max_en": "Top priority",
    },
]


class CriterionForm(forms.Form):
    code = forms.CharField(
        label=gettext_lazy("Code"),
        max_length=40,
        help_text=gettext_lazy(
            "Names the criterion in decision rules and exports, e.g. acceptability."
        ),
    )
    scale = forms.ChoiceField(
        label=gettext_lazy("Scale"),
        choices=SCALES,
        initial="1-9",
        widget=forms.Select(attrs={"data-scale-choice": ""}),
    )
    scale_min = forms.IntegerField(
        label=gettext_lazy("Lowest point"),
        required=False,
        min_value=-100,
        max_value=100,
        help_text=gettext_lazy("Only for “Other”."),
    )
    scale_max = forms.IntegerField(
        label=gettext_lazy("Highest point"),
        required=False,
        min_value=-100,
        max_value=100,
        help_text=gettext_lazy("Only for “Other”."),
    )
    low_max = forms.IntegerField(
        label=gettext_lazy("Low band ends at"),
        required=False,
        min_value=-100,
        max_value=100,
        help_text=gettext_lazy("Empty: the default of the scale (3 on 1–9, 2 on 1–7 and 1–5)."),
    )
    high_min = forms.IntegerField(
        label=gettext_lazy("High band starts at"),
        required=False,
        min_value=-100,
        max_value=100,
        help_text=gettext_lazy("Empty: the default of the scale (7 on 1–9, 6 on 1–7, 4 on 1–5)."),
    )

    def __init__(self, *args: Any, languages: Sequence[str] = ("en",), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.languages = list(languages)
        for code in self.languages:
            language = language_name(code)
            self.fields[f"name_{code}"] = forms.CharField(
                label=_("Name in %(language)s") % {"language": language}, max_length=200
            )
            self.fields[f"name_{code}"].error_messages["required"] = _(
                "Give the criterion's name in %(language)s."
            ) % {"language": language}
            self.fields[f"question_{code}"] = forms.CharField(
                label=_("Question in %(language)s") % {"language": language},
                max_length=500,
                required=False,
                help_text=_("Optional, e.g. “How acceptable is this action?”"),
            )
            for end, label in (
                ("min", _("Label of the lowest point in %(language)s")),
                ("max", _("Label of the highest point in %(language)s")),
            ):
                self.fields[f"anchor_{end}_{code}"] = forms.CharField(
                    label=label % {"language": language}, max_length=100, required=False
                )

    def texts(self) -> list[tuple[str, list[forms.BoundField]]]:
        return [
            (language_name(c), [self[f"name_{c}"], self[f"question_{c}"]]) for c in self.languages
        ]

    def anchor_fields(self) -> list[tuple[str, list[forms.BoundField]]]:
        return [
            (language_name(c), [self[f"anchor_min_{c}"], self[f"anchor_max_{c}"]])
            for c in self.languages
        ]

    def clean_code(self) -> str:
        code = str(self.cleaned_data["code"]).strip()
        if not _CODE.fullmatch(code):
            raise ValidationError(
                _(
                    "Start the code with a letter and use only letters, digits, “_” and “-”, "
                    "e.g. acceptability, so that decision rules can name it."
                )
            )
        if code.lower() in RULE_WORDS:
            raise ValidationError(
                _("“%(code)s” is a word of the decision rules; choose another code.")
                % {"code": code}
            )
        return code

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        scale = self._scale(data)
        if scale is not None and not self.errors:
            data["spec"] = CriterionSpec(
                code=data["code"],
                name=_texts(data, "name", self.languages),
                question=_texts(data, "question", self.languages),
                scale=scale,
                anchors=self._anchors(data),
            )
        return data

    def _anchors(self, data: Mapping[str, Any]) -> dict[str, dict[str, str]]:
        anchors = {}
        for code in self.languages:
            labels = {
                end: str(data.get(f"anchor_{end}_{code}") or "").strip() for end in ("min", "max")
            }
            if any(labels.values()):
                anchors[code] = labels
        return anchors

    def _scale(self, data: Mapping[str, Any]) -> consensus.Scale | None:
        choice = data.get("scale")
        if choice is None:
            return None
        if choice == "custom":
            lo, hi = data.get("scale_min"), data.get("scale_max")
            if lo is None or hi is None:
                self.add_error(
                    "scale_min" if lo is None else "scale_max",
                    _("Give the lowest and the highest point of the scale, e.g. 0 and 10."),
                )
                return None
        else:
            lo, hi = (int(part) for part in choice.split("-"))
        if not 3 <= hi - lo + 1 <= MAX_SCALE_POINTS:
            self.add_error(
                "scale_max",
                _(
                    "A scale needs from 3 to %(most)d points, the lowest first; "
                    "%(lo)d to %(hi)d does not fit."
                )
                % {"most": MAX_SCALE_POINTS, "lo": lo, "hi": hi},
            )
            return None
        return self._bands(data, lo, hi, custom=choice == "custom")

    def _bands(
        self, data: Mapping[str, Any], lo: int, hi: int, *, custom: bool
    ) -> consensus.Scale | None:
        low_max: int | None = data.get("low_max")
        high_min: int | None = data.get("high_min")
        if not custom:
            default = consensus.Scale.with_default_bands(lo, hi)
            if low_max is None:
                low_max = default.low[1]
            if high_min is None:
                high_min = default.high[0]
        if low_max is None or high_min is None:
            self.add_error(
                "low_max" if low_max is None else "high_min",
                _(
                    "A scale other than 1–9, 1–7 or 1–5 needs its bands: say where the low band "
                    "ends and where the high band starts, e.g. 3 and 7 on 0 to 10."
                ),
            )
            return None
        try:
            return consensus.Scale(
                lo, hi, (lo, low_max), (low_max + 1, high_min - 1), (high_min, hi)
            )
        except ValueError:
            self.add_error(
                "low_max",
                _(
                    "These bands do not fit the scale %(lo)d to %(hi)d: the low band runs from "
                    "%(lo)d to where it ends, the high band from where it starts to %(hi)d, and "
                    "at least one point must lie between them (e.g. 3 and 7 on 1 to 9)."
                )
                % {"lo": lo, "hi": hi},
            )
            return None


class BaseCriteriaFormSet(BaseFormSet):
    default_error_messages = {
        "too_many_forms": gettext_lazy("A study can have at most %(num)d criteria; remove one."),
    }

    def add_fields(self, form: forms.Form, index: int | None) -> None:
        super().add_fields(form, index)
        if DELETION_FIELD_NAME in form.fields:
            form.fields[DELETION_FIELD_NAME].label = _("Remove this criterion")

    def clean(self) -> None:
        if any(self.errors):
            return
        seen: dict[str, int] = {}
        for number, form in enumerate(self.forms, start=1):
            spec = self._spec(form)
            if spec is None:
                continue
            first = seen.setdefault(spec.code.casefold(), number)
            if first != number:
                form.add_error(
                    "code",
                    _(
                        "Criterion %(first)d already has the code “%(code)s”; give each "
                        "criterion its own code."
                    )
                    % {"first": first, "code": spec.code},
                )
        if not seen:
            raise ValidationError(
                _(
                    "Add at least one criterion: fill in its code and name, or untick "
                    "“Remove this criterion”."
                )
            )

    def _spec(self, form: forms.Form) -> CriterionSpec | None:
        if self.can_delete and form.cleaned_data.get(DELETION_FIELD_NAME):
            return None
        return form.cleaned_data.get("spec")

    def specs(self) -> list[CriterionSpec]:
        return [spec for form in self.forms if (spec := self._spec(form)) is not None]


CriteriaFormSet = forms.formset_factory(
    CriterionForm,
    formset=BaseCriteriaFormSet,
    extra=1,
    can_delete=True,
    can_delete_extra=False,
    max_num=MAX_CRITERIA,
    validate_max=True,
)


def criteria_specs(cleaned: Sequence[Mapping[str, Any]] | None) -> list[CriterionSpec]:
    """The criteria of the criteria step's cleaned data (deleted and empty forms left out)."""
    return [row["spec"] for row in cleaned or [] if row.get("spec") and not row.get("DELETE")]


# --------------------------------------------------------------------------- protocol


def rule_field(code: str) -> str:
    return f"rule_{code}"


class ProtocolForm(forms.ModelForm):
    stable_below = forms.FloatField(
        label=gettext_lazy("Stable when the percent change is below"),
        initial=15.0,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        error_messages={
            "min_value": gettext_lazy("Give a percentage from 0 to 100, e.g. 15."),
            "max_value": gettext_lazy("Give a percentage from 0 to 100, e.g. 15."),
        },
        help_text=gettext_lazy(
            "Between two rounds, an item is stable when fewer than this percentage of the "
            "ratings moved (METHODS §4)."
        ),
    )

    class Meta:
        model = Protocol
        fields = (
            "accept_rule",
            "reject_rule",
            "quantile_type",
            "rand_half_points",
            "max_rounds",
            "stable_below",
            "show_distribution",
            "show_own_rating",
            "show_comments",
            "show_groups",
            "min_group_size",
            "allow_dont_know",
            "require_comment_outside_iqr",
            "randomise_items",
            "realtime",
        )
        widgets = {
            "accept_rule": forms.TextInput(attrs={"size": 60}),
            "reject_rule": forms.TextInput(attrs={"size": 60}),
        }

    def __init__(self, *args: Any, criteria: Sequence[CriterionSpec] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.criteria = list(criteria)
        for spec in self.criteria:
            self.fields[rule_field(spec.code)] = forms.CharField(
                label=_("Rule for %(criterion)s (scale %(scale)s)")
                % {"criterion": spec.label, "scale": spec.scale.label},
                max_length=40,
                initial=DEFAULT_RULE,
                widget=forms.TextInput(attrs={"list": "rule-suggestions"}),
                help_text=_(
                    "percent:75 (any threshold above 50, decimals allowed), comet, rand (1–9 "
                    "scale only) or iqr:2 (any k)."
                ),
            )
        rounds = self.fields["max_rounds"]
        rounds.validators.append(MaxValueValidator(MAX_ROUNDS))
        rounds.error_messages["min_value"] = rounds.error_messages["max_value"] = _(
            "Give a number of rounds from 1 to %(most)d."
        ) % {"most": MAX_ROUNDS}
        self.fields["min_group_size"].error_messages["min_value"] = _(
            "Groups smaller than 5 would let panelists recognise each other; give 5 or more."
        )

    def rule_fields(self) -> list[forms.BoundField]:
        return [self[rule_field(spec.code)] for spec in self.criteria]

    def clean_accept_rule(self) -> str:
        return self._expression("accept_rule")

    def clean_reject_rule(self) -> str:
        return self._expression("reject_rule")

    def _expression(self, field: str) -> str:
        text = str(self.cleaned_data.get(field) or "").strip()
        if not text:
            return ""
        try:
            consensus.DecisionRule.parse(accept=text)
        except ValueError as exc:
            detail = str(exc).removeprefix(f"accept rule {text!r}: ")
            raise ValidationError(
                _(
                    "This rule cannot be read (%(detail)s). Write clauses such as "
                    "“acceptability = in” or “priority.median >= 7”, joined by AND or OR."
                )
                % {"detail": detail}
            ) from None
        codes = [spec.code for spec in self.criteria]
        for name in criteria_named(text):
            if name not in codes:
                raise ValidationError(
                    _(
                        "The rule names the criterion “%(name)s”, which this study does not "
                        "have. Use one of: %(codes)s (as written in step 2)."
                    )
                    % {"name": name, "codes": ", ".join(codes)}
                )
        return text

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        rules: dict[str, consensus.Rule] = {}
        for spec in self.criteria:
            field = rule_field(spec.code)
            if field in data:
                rule = self._rule(spec, field, str(data[field]))
                if rule is not None:
                    rules[spec.code] = rule
        data["rules"] = rules
        if "accept_rule" in data and "reject_rule" in data:
            data["decision"] = consensus.DecisionRule.parse(
                data["accept_rule"] or None, data["reject_rule"] or None
            )
        return data

    def _rule(self, spec: CriterionSpec, field: str, text: str) -> consensus.Rule | None:
        try:
            rule = consensus.Rule.parse(text)
        except ValueError:
            self.add_error(
                field,
                _(
                    "“%(rule)s” is not a consensus rule. Write percent:75 (any threshold above "
                    "50, decimals allowed), comet, rand or iqr:2 (any k of 0 or more)."
                )
                % {"rule": text},
            )
            return None
        try:
            rule.check(spec.scale)
        except ValueError:
            if rule.kind == "rand":
                message = _(
                    "The RAND/UCLA rule works only on the 1–9 scale, and %(criterion)s uses "
                    "%(scale)s. Choose percent:75, comet or iqr:1 instead, or change its scale "
                    "to 1–9 in step 2."
                )
            else:
                message = _(
                    "The IQR rule has no default k on the scale %(scale)s; write it, e.g. iqr:2."
                )
            self.add_error(field, message % {"criterion": spec.label, "scale": spec.scale.label})
            return None
        return rule

    def settings(self) -> dict[str, Any]:
        """The Protocol field values, for `study_create`."""
        return {name: self.cleaned_data[name] for name in self.Meta.fields}

    def preview(self) -> Preview:
        """The example distributions classified by the rules as they stand on the page."""
        if not self.is_bound:
            rules = {spec.code: consensus.Rule.parse(DEFAULT_RULE) for spec in self.criteria}
            quantile = int(Protocol.Quantile.TYPE_7)
            return preview(
                self.criteria, rules, quantile=quantile, decision=consensus.DecisionRule()
            )
        self.is_valid()
        data = self.cleaned_data
        return preview(
            self.criteria,
            data.get("rules", {}),
            quantile=data.get("quantile_type", int(Protocol.Quantile.TYPE_7)),
            rand_half_points=bool(data.get("rand_half_points")),
            decision=data.get("decision"),
        )

    def summary(self) -> list[tuple[str, str]]:
        rows = []
        for name in self.Meta.fields:
            field, value = self.fields[name], self.cleaned_data.get(name)
            if isinstance(field, forms.BooleanField):
                shown = _("yes") if value else _("no")
            elif isinstance(field, forms.ChoiceField):
                shown = str(dict(field.choices).get(value, value))  # type: ignore[arg-type]
            elif name == "accept_rule":
                shown = str(value or _("(default) every criterion reached consensus “in”"))
            elif name == "reject_rule":
                shown = str(value or _("(default) any criterion reached consensus “out”"))
            else:
                shown = str(value)
            rows.append((str(field.label), shown))
        return rows


# --------------------------------------------------------------------------- items and panel
def _unsaved_study(languages: Sequence[str]) -> Study:
    """A stand-in for the study being set up, for `parse_items` and `parse_panel`.

    Both look up the study's existing items or panelists, a query Django refuses on an
    instance without a primary key. This one gets a key no row has (ids start at 1), so the
    lookups find nothing, which is true of a study not yet created. It is never saved."""
    return Study(pk=0, languages=list(languages))


class ImportForm(forms.Form):
    """Rows from an uploaded CSV/XLSX file or from pasted CSV; optional."""

    upload = forms.FileField(
        label=gettext_lazy("File (CSV or XLSX, at most 2 MB)"),
        required=False,
        widget=forms.FileInput(attrs={"accept": ".csv,.xlsx,text/csv"}),
    )
    pasted = forms.CharField(
        label=gettext_lazy("Or paste the table (CSV, with its header row)"),
        required=False,
        strip=False,
        max_length=MAX_UPLOAD_BYTES,
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false"}),
    )
    discard = forms.BooleanField(
        label=gettext_lazy("Remove the file chosen before"), required=False
    )

    what: ClassVar[str] = ""

    def __init__(
        self,
        *args: Any,
        languages: Sequence[str] = ("en",),
        kept: Upload | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.languages = list(languages)
        self.kept = kept

    def parse(self, data: bytes, filename: str) -> list[Any]:
        raise NotImplementedError

    def columns(self) -> tuple[list[str], list[str]]:
        """Required and optional column names."""
        raise NotImplementedError

    def table(self, rows: Sequence[Any]) -> Table:
        raise NotImplementedError

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        source = self._source(data)
        data["source"], data["rows"] = source, []
        if source is None:
            return data
        field = "pasted" if source.filename == PASTED_FILENAME else "upload"
        shown = _("the pasted table") if field == "pasted" else source.filename
        try:
            data["rows"] = self.parse(source.data, source.filename)
        except ImportRejected as rejected:
            data["source"] = None
            for problem in rejected.problems:
                self.add_error(field, f"{shown}: {problem}")
        return data

    def _source(self, data: Mapping[str, Any]) -> Upload | None:
        upload: UploadedFile | None = data.get("upload")
        pasted = str(data.get("pasted") or "")
        if upload is not None and pasted.strip():
            self.add_error(
                "pasted",
                _("Upload a file or paste a table, not both: empty this box to use the file."),
            )
            return None
        if upload is not None:
            if (upload.size or 0) > MAX_UPLOAD_BYTES:
                self.add_error(
                    "upload",
                    _(
                        "“%(name)s” is larger than the 2 MB limit. Split it into smaller files, "
                        "or delete unused sheets, columns and formatting."
                    )
                    % {"name": upload.name},
                )
                return None
            return Upload(upload.read(), upload.name or "upload.csv")
        if pasted.strip():
            return Upload(pasted.encode("utf-8"), PASTED_FILENAME)
        if self.kept is not None and not data.get("discard"):
            return self.kept
        return None

    def step_data(self, raw: Mapping[str, Any]) -> MultiValueDict[str, Any]:
        """What the session keeps of this step: the posted fields, plus the chosen file
        (base64) when there is one; a failing step keeps the file chosen before."""
        if not isinstance(raw, MultiValueDict):
            raw = MultiValueDict({key: [value] for key, value in raw.items()})
        kept = raw.copy()
        for name in ("upload", "discard", "kept", "kept_name"):
            kept.pop(self.add_prefix(name), None)
        source = self.cleaned_data.get("source") if self.is_valid() else self.kept
        if source is not None and source.filename != PASTED_FILENAME:
            kept[self.add_prefix("kept")] = base64.b64encode(source.data).decode("ascii")
            kept[self.add_prefix("kept_name")] = source.filename
        return kept


def kept_upload(step_data: Mapping[str, Any] | None, prefix: str) -> Upload | None:
    """The file a step's stored data keeps (see `ImportForm.step_data`)."""
    if not step_data or not step_data.get(f"{prefix}-kept"):
        return None
    try:
        data = base64.b64decode(str(step_data.get(f"{prefix}-kept")), validate=True)
    except (binascii.Error, ValueError):
        return None
    return Upload(data, str(step_data.get(f"{prefix}-kept_name") or "file.csv"))


@dataclass(frozen=True)
class Table:
    """The first rows of an import, as the page shows them."""

    headers: list[str]
    rows: list[list[str]]
    count: int

    @property
    def more(self) -> int:
        return self.count - len(self.rows)


TABLE_ROWS = 20


def items_table(rows: Sequence[ItemRow], languages: Sequence[str]) -> Table:
    headers = ["code", "domain", *[f"text_{code}" for code in languages]]
    shown = [
        [
            row.code,
            " / ".join(dict.fromkeys(row.domain.values())),
            *[row.text.get(code, "") for code in languages],
        ]
        for row in rows[:TABLE_ROWS]
    ]
    return Table(headers, shown, len(rows))


def panel_table(rows: Sequence[PanelRow]) -> Table:
    shown = [[row.email, row.name, row.language, row.group] for row in rows[:TABLE_ROWS]]
    return Table(list(PANEL_COLUMNS[:4]), shown, len(rows))


class ItemsForm(ImportForm):
    what = "items"

    def parse(self, data: bytes, filename: str) -> list[ItemRow]:
        return parse_items(_unsaved_study(self.languages), data, filename)

    def columns(self) -> tuple[list[str], list[str]]:
        required = ["code", *[f"text_{code}" for code in self.languages]]
        return required, ["domain", *[f"domain_{code}" for code in self.languages]]

    def table(self, rows: Sequence[Any]) -> Table:
        return items_table(rows, self.languages)


class PanelForm(ImportForm):
    what = "panel"

    def parse(self, data: bytes, filename: str) -> list[PanelRow]:
        return parse_panel(_unsaved_study(self.languages), data, filename)

    def columns(self) -> tuple[list[str], list[str]]:
        required = ["email", "language"]
        return required, [name for name in PANEL_COLUMNS if name not in required]

    def table(self, rows: Sequence[Any]) -> Table:
        return panel_table(rows)


class ReviewForm(forms.Form):
    """The review step confirms, and asks whether round 1 is preceded by a round 0."""

    round_0 = forms.BooleanField(
        required=False,
        label=gettext_lazy("Start with a round 0: the panel proposes new items before round 1"),
        help_text=gettext_lazy(
            "Panelists answer an open question per domain and propose actions; you accept, "
            "merge or decline each, and the accepted ones are rated in round 1."
        ),
    )
