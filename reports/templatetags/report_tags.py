"""Small filters for the report templates."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django import template

register = template.Library()


@register.filter
def get_item(mapping: Mapping[str, Any] | None, key: str) -> Any:
    """``{{ pages|get_item:anchor }}``: a mapping's value, empty when absent."""
    return (mapping or {}).get(key, "")
