"""Study settings (METHODS §1-3): the rating scale and its low / middle / high bands, the
consensus rule of each criterion with its parameters, and the quantile type.

A rule is written as text (``percent:75``, ``comet``, ``rand``, ``rand:half``, ``iqr:2``) in
the protocol, on the command line and in results files; ``Rule.parse`` reads it and
``Rule.label`` writes it back.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from typing import Literal

QUANTILE_TYPES: dict[int, str] = {5: "hazen", 6: "weibull", 7: "linear", 8: "median_unbiased"}
TOLERANCE = 1e-9  # for comparisons of interpolated quantiles (IQR <= k, IPR > IPRAS)

DEFAULT_BANDS: dict[tuple[int, int], tuple[tuple[int, int], ...]] = {
    (1, 9): ((1, 3), (4, 6), (7, 9)),
    (1, 7): ((1, 2), (3, 5), (6, 7)),
    (1, 5): ((1, 2), (3, 3), (4, 5)),
}


@dataclass(frozen=True)
class Scale:
    """A rating scale [min, max] and its low / middle / high bands (METHODS §1)."""

    min: int = 1
    max: int = 9
    low: tuple[int, int] = (1, 3)
    mid: tuple[int, int] = (4, 6)
    high: tuple[int, int] = (7, 9)

    def __post_init__(self) -> None:
        if self.max <= self.min:
            raise ValueError(f"scale {self.min}-{self.max}: the maximum must exceed the minimum")
        bands = (self.low, self.mid, self.high)
        ok = (
            self.low[0] == self.min
            and self.high[1] == self.max
            and all(lo <= hi for lo, hi in bands)
            and self.low[1] + 1 == self.mid[0]
            and self.mid[1] + 1 == self.high[0]
        )
        if not ok:
            raise ValueError(
                f"scale {self.min}-{self.max}: bands low {_span(self.low)}, "
                f"mid {_span(self.mid)}, high {_span(self.high)} must be non-empty, in order, "
                "contiguous and together cover the whole scale"
            )

    @classmethod
    def with_default_bands(cls, min: int, max: int) -> Scale:
        try:
            low, mid, high = DEFAULT_BANDS[(min, max)]
        except KeyError:
            raise ValueError(
                f"no default bands for scale {min}-{max}; defaults exist for 1-9, 1-7 and 1-5, "
                "other scales need explicit bands, e.g. '0-10:0-3,4-6,7-10'"
            ) from None
        return cls(min, max, low, mid, high)

    @classmethod
    def parse(cls, text: str) -> Scale:
        """``"1-9"`` (default bands) or ``"0-10:0-3,4-6,7-10"`` (explicit low,mid,high)."""
        scale_text, _, bands_text = text.strip().partition(":")
        lo, hi = _parse_span(scale_text, what="scale", example="1-9")
        if not bands_text:
            return cls.with_default_bands(lo, hi)
        parts = bands_text.split(",")
        if len(parts) != 3:
            raise ValueError(f"scale {text!r}: give three bands, e.g. '0-10:0-3,4-6,7-10'")
        low, mid, high = (_parse_span(p, what="band", example="4-6") for p in parts)
        return cls(lo, hi, low, mid, high)

    @property
    def size(self) -> int:
        return self.max - self.min + 1

    @property
    def label(self) -> str:
        base = f"{self.min}-{self.max}"
        if DEFAULT_BANDS.get((self.min, self.max)) == (self.low, self.mid, self.high):
            return base
        return f"{base}:{_span(self.low)},{_span(self.mid)},{_span(self.high)}"

    @property
    def is_rand_scale(self) -> bool:
        return (self.min, self.max) == (1, 9)


def _span(band: tuple[int, int]) -> str:
    return f"{band[0]}-{band[1]}"


def _parse_span(text: str, *, what: str, example: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(-?\d+)\s*-\s*(-?\d+)\s*", text)
    if not match:
        raise ValueError(f"cannot read {what} {text!r}; write it as MIN-MAX, e.g. '{example}'")
    return int(match.group(1)), int(match.group(2))


RuleKind = Literal["percent", "comet", "rand", "iqr"]
_RULE_FORMS = (
    "percent:T (T above 50 and at most 100, up to 4 decimals, e.g. 66.7; default 75), comet, "
    "rand, rand:half, iqr, iqr:K"
)
_THRESHOLD_TEXT = re.compile(r"\d+(?:\.\d{1,4})?")
PPM = 1_000_000  # a share of 1 in parts per million: thresholds have at most 4 decimals of a %


def _exact_threshold(value: Decimal | float) -> Decimal:
    exact = value if isinstance(value, Decimal) else Decimal(str(value))
    if not (exact.is_finite() and 0 < exact <= 100):
        raise ValueError(f"percent threshold {value} must be above 0 and at most 100")
    if exact != exact.quantize(Decimal("0.0001"), rounding=ROUND_FLOOR):
        raise ValueError(f"percent threshold {value} has more than 4 decimals")
    return exact


def _parse_threshold(text: str) -> Decimal:
    if not _THRESHOLD_TEXT.fullmatch(text):
        raise ValueError(f"percent threshold {text!r} is not a number such as 75 or 66.7")
    threshold = Decimal(text)
    if threshold <= 50:
        raise ValueError(
            f"a percent threshold must be above 50, not {text}: at 50 or below, both "
            "'in' and 'out' could hold"
        )
    return threshold


def _plain(number: Decimal) -> str:
    """Shortest plain decimal text: 75, 66.7, 0.0001 (never 7.5E+1)."""
    return f"{number.normalize():f}"


@dataclass(frozen=True)
class Rule:
    """A consensus rule of METHODS §3 with its parameters.

    ``threshold`` is stored as an exact ``Decimal`` (an int or float is converted through
    its shortest text, so 66.7 means 66.7). Built directly, a rule accepts any threshold
    above 0 and at most 100; ``parse``, which reads the rules studies are set up with (the
    protocol, the command line, results files), also requires it to be above 50, as METHODS
    §3 does: at 50 or below, ``in`` and ``out`` could both hold.
    """

    kind: RuleKind
    threshold: Decimal | int | float = 75
    k: float | None = None
    rand_half_points: bool = False

    def __post_init__(self) -> None:
        if self.kind not in ("percent", "comet", "rand", "iqr"):
            raise ValueError(f"unknown rule {self.kind!r}; valid forms: {_RULE_FORMS}")
        object.__setattr__(self, "threshold", _exact_threshold(self.threshold))
        if self.k is not None and not (math.isfinite(self.k) and self.k >= 0):
            raise ValueError(f"IQR k {self.k} must be a finite number >= 0")

    @classmethod
    def parse(cls, text: str) -> Rule:
        """Read ``percent:75``, ``percent:66.7``, ``comet``, ``rand``, ``rand:half``, ``iqr``
        or ``iqr:2`` (case and surrounding spaces do not matter)."""
        kind, _, arg = text.strip().lower().partition(":")
        try:
            if kind == "percent":
                return cls("percent", threshold=_parse_threshold(arg) if arg else 75)
            if kind == "iqr":
                return cls("iqr", k=float(arg) if arg else None)
            if kind == "rand" and arg in ("", "half"):
                return cls("rand", rand_half_points=arg == "half")
            if kind == "comet" and not arg:
                return cls("comet")
        except ValueError as exc:
            message = f"cannot read rule {text!r} ({exc}); valid forms: {_RULE_FORMS}"
            raise ValueError(message) from None
        raise ValueError(f"unknown rule {text!r}; valid forms: {_RULE_FORMS}")

    @property
    def label(self) -> str:
        """The rule as text; ``parse(label)`` gives the rule back. A bare ``iqr`` stays bare
        here (its k depends on the scale): ``resolved(scale).label`` writes it in full."""
        if self.kind == "percent":
            return f"percent:{_plain(Decimal(self.threshold))}"
        if self.kind == "iqr":
            return "iqr" if self.k is None else f"iqr:{_plain(Decimal(repr(self.k)))}"
        if self.kind == "rand" and self.rand_half_points:
            return "rand:half"
        return self.kind

    @property
    def threshold_ppm(self) -> int:
        """The percent threshold as an exact integer share of ``PPM`` (75 -> 750000)."""
        return int(Decimal(self.threshold) * (PPM // 100))

    def resolved(self, scale: Scale) -> Rule:
        """The same rule with every default written out for ``scale`` (the IQR rule's k)."""
        if self.kind == "iqr" and self.k is None:
            return Rule("iqr", k=self.iqr_k(scale))
        return self

    def iqr_k(self, scale: Scale) -> float:
        """k for the IQR rule: explicit, or 2 on 9-point and 1 on 5- and 7-point scales."""
        if self.k is not None:
            return self.k
        default = {9: 2.0, 7: 1.0, 5: 1.0}.get(scale.size)
        if default is None:
            raise ValueError(f"the IQR rule needs an explicit k on scale {scale.label}, e.g. iqr:2")
        return default

    def check(self, scale: Scale) -> None:
        """Raise ValueError if the rule cannot be used on ``scale``."""
        if self.kind == "rand" and not scale.is_rand_scale:
            raise ValueError(f"the RAND/UCLA rule needs the 1-9 scale, not {scale.label}")
        if self.kind == "iqr":
            self.iqr_k(scale)


@dataclass(frozen=True)
class CriterionSettings:
    scale: Scale = Scale()
    rule: Rule = Rule("percent")
    quantile: int = 7

    def __post_init__(self) -> None:
        if self.quantile not in QUANTILE_TYPES:
            raise ValueError(f"unknown quantile type {self.quantile!r}; choose one of 5, 6, 7 or 8")
        self.rule.check(self.scale)

    @property
    def rule_label(self) -> str:
        """The rule in full, as results carry it: ``iqr:2``, never a bare ``iqr``."""
        return self.rule.resolved(self.scale).label


ALL_RULES: tuple[Rule, ...] = (Rule("percent"), Rule("comet"), Rule("rand"), Rule("iqr"))
SettingsArg = Mapping[str, CriterionSettings] | CriterionSettings
