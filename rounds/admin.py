from __future__ import annotations

from django.contrib import admin

from rounds import models


class CriterionInline(admin.TabularInline):
    model = models.Criterion
    extra = 0


class ProtocolInline(admin.StackedInline):
    model = models.Protocol
    can_delete = False


@admin.register(models.Study)
class StudyAdmin(admin.ModelAdmin):
    list_display = ["slug", "display_title", "status", "is_simulated", "created_at"]
    list_filter = ["status", "is_simulated"]
    search_fields = ["slug"]
    inlines = [ProtocolInline, CriterionInline]
    readonly_fields = ["status", "finished_at"]


@admin.register(models.Protocol)
class ProtocolAdmin(admin.ModelAdmin):
    list_display = ["study", "quantile_type", "max_rounds", "locked_at"]
    readonly_fields = ["locked_at"]


@admin.register(models.Criterion)
class CriterionAdmin(admin.ModelAdmin):
    list_display = ["code", "study", "scale_min", "scale_max", "rule"]
    list_filter = ["study"]


@admin.register(models.Item)
class ItemAdmin(admin.ModelAdmin):
    list_display = ["code", "study", "position"]
    list_filter = ["study"]
    search_fields = ["code"]


class RoundItemInline(admin.TabularInline):
    model = models.RoundItem
    extra = 0
    raw_id_fields = ["item"]


@admin.register(models.Round)
class RoundAdmin(admin.ModelAdmin):
    list_display = ["study", "number", "state", "opens_at", "closes_at", "analysed_at"]
    list_filter = ["study", "state"]
    readonly_fields = ["state", "opened_at", "closed_at", "analysed_at", "analysis_version"]
    inlines = [RoundItemInline]


@admin.register(models.RoundItem)
class RoundItemAdmin(admin.ModelAdmin):
    list_display = ["round", "item", "position"]
    list_filter = ["round__study", "round__number"]
    raw_id_fields = ["round", "item"]


@admin.register(models.Rating)
class RatingAdmin(admin.ModelAdmin):
    list_display = ["panelist", "round_item", "criterion", "value", "updated_at"]
    list_filter = ["round_item__round__study", "criterion__code"]
    raw_id_fields = ["round_item", "panelist", "criterion"]


@admin.register(models.Result)
class ResultAdmin(admin.ModelAdmin):
    list_display = [
        "round_item",
        "criterion",
        "n",
        "median",
        "iqr",
        "pct_high",
        "consensus",
        "margin",
    ]
    list_filter = ["round__study", "round__number", "consensus"]
    raw_id_fields = ["round", "round_item", "criterion"]


@admin.register(models.ItemDecision)
class ItemDecisionAdmin(admin.ModelAdmin):
    list_display = ["round_item", "computed", "decision", "overridden_by"]
    list_filter = ["round__study", "round__number", "decision"]
    raw_id_fields = ["round", "round_item"]


@admin.register(models.RoundAnalysis)
class RoundAnalysisAdmin(admin.ModelAdmin):
    list_display = ["round", "version", "computed_at", "protocol_hash"]
    readonly_fields = ["kendall"]


@admin.register(models.AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ["at", "study", "actor", "action", "target"]
    list_filter = ["study", "action"]

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(models.StudyMembership)
class StudyMembershipAdmin(admin.ModelAdmin):
    list_display = ["study", "user", "role"]
    list_filter = ["study", "role"]


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
