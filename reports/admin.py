from __future__ import annotations

from django.contrib import admin

from reports import models


class RecommendationItemInline(admin.TabularInline):
    model = models.RecommendationItem
    extra = 0
    raw_id_fields = ["item"]


@admin.register(models.Recommendation)
class RecommendationAdmin(admin.ModelAdmin):
    list_display = ["study", "position", "title"]
    list_filter = ["study"]
    inlines = [RecommendationItemInline]


@admin.register(models.ReportVersion)
class ReportVersionAdmin(admin.ModelAdmin):
    """Read-only: versions are made by the generation task and published from the site."""

    list_display = ["study", "version", "status", "progress", "created_at", "published_at"]
    list_filter = ["study", "status"]
    readonly_fields = [f.name for f in models.ReportVersion._meta.fields]

    def has_add_permission(self, request: object) -> bool:
        return False
