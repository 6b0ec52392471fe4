from __future__ import annotations

from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo studies: the top layer, built on every other app; nothing imports it."""

    name = "demo"
    verbose_name = "Demo"
