from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PanelistsConfig(AppConfig):
    name = "panelists"
    verbose_name = _("Panel")

    def ready(self) -> None:
        from panelists import privacy, services
        from rounds import signals

        signals.invitations_requested.connect(
            services.on_invitations_requested, dispatch_uid="panelists.invitations"
        )
        signals.proposals_invitations_requested.connect(
            services.on_proposals_invitations_requested, dispatch_uid="panelists.round0"
        )
        signals.round_submitted.connect(
            services.on_round_submitted, dispatch_uid="panelists.confirmation"
        )
        signals.panelist_data_requested.connect(
            privacy.on_panelist_data_requested, dispatch_uid="panelists.privacy.data"
        )
        signals.panelist_erased.connect(
            privacy.on_panelist_erased, dispatch_uid="panelists.privacy.erased"
        )
