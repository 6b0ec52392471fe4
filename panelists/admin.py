from __future__ import annotations

from django.contrib import admin

from panelists import models


@admin.register(models.Panelist)
class PanelistAdmin(admin.ModelAdmin):
    list_display = ["pseudonym", "study", "language", "group"]
    list_filter = ["study", "language", "group"]
    search_fields = ["pseudonym", "email", "name"]


@admin.register(models.Participation)
class ParticipationAdmin(admin.ModelAdmin):
    list_display = ["panelist", "round", "status", "last_activity_at", "submitted_at"]
    list_filter = ["round__study", "round__number", "status"]
    raw_id_fields = ["panelist", "round"]
