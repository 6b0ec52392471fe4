from __future__ import annotations

from django.contrib import admin

from panelists import models


@admin.register(models.PersonalLink)
class PersonalLinkAdmin(admin.ModelAdmin):
    list_display = ["panelist", "created_at", "expires_at", "revoked_at", "last_used_at"]
    list_filter = ["panelist__study"]
    readonly_fields = ["token_hash"]


@admin.register(models.EmailMessage)
class EmailMessageAdmin(admin.ModelAdmin):
    list_display = ["panelist", "round", "kind", "status", "attempts", "created_at", "sent_at"]
    list_filter = ["panelist__study", "kind", "status"]
    readonly_fields = ["subject", "body_text", "body_html", "error"]
