from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PanelistsConfig(AppConfig):
    name = "panelists"
    verbose_name = _("Panel")
