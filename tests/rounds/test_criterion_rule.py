"""A criterion's consensus rule, as the admin and the protocol check it (METHODS §3)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from tests.factories import make_study

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("rule", ["percent:50", "percent:50.0", "percent:30"])
def test_it_refuses_a_percent_threshold_of_50_or_below(rule: str) -> None:
    criterion = make_study().criteria.get(code="acceptability")
    criterion.rule = rule
    with pytest.raises(ValidationError, match="above 50"):
        criterion.clean()


def test_it_accepts_a_percent_threshold_with_decimals() -> None:
    criterion = make_study().criteria.get(code="acceptability")
    criterion.rule = "percent:66.7"
    criterion.clean()
    assert criterion.settings().rule_label == "percent:66.7"
