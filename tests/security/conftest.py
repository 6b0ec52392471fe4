from __future__ import annotations

import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _fresh_rate_limits() -> None:
    """Every test starts with no failed attempt counted (cache and django-axes)."""
    cache.clear()
