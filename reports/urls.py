from __future__ import annotations

from django.urls import path

from reports import views

S = "studies/<slug:slug>"
V = f"{S}/reports/v<int:number>"

urlpatterns = [
    # Older links, kept: the report and the live CSVs of a study.
    path(f"{S}/report.pdf", views.report_pdf, name="report-pdf"),
    path(f"{S}/ratings.csv", views.export_ratings, name="export-ratings"),
    path(f"{S}/results.csv", views.export_results, name="export-results"),
    # Coordinators: recommendations.
    path(f"{S}/recommendations/", views.recommendation_list, name="recommendation-list"),
    path(f"{S}/recommendations/new/", views.recommendation_create,
         name="recommendation-create"),
    path(f"{S}/recommendations/<int:pk>/", views.recommendation_edit,
         name="recommendation-edit"),
    path(f"{S}/recommendations/<int:pk>/move/", views.recommendation_move,
         name="recommendation-move"),
    path(f"{S}/recommendations/<int:pk>/delete/", views.recommendation_delete,
         name="recommendation-delete"),
    # Coordinators: report versions.
    path(f"{S}/reports/", views.report_versions, name="report-versions"),
    path(f"{S}/reports/generate/", views.report_generate, name="report-generate"),
    path(f"{V}/", views.report_version, name="report-version"),
    path(f"{V}/status.json", views.report_status, name="report-status"),
    path(f"{V}/publish/", views.report_publish, name="report-publish"),
    path(f"{V}/withdraw/", views.report_withdraw, name="report-withdraw"),
    # Coordinators (any ready version) and viewers (the published one).
    path(f"{V}/<str:filename>", views.report_download, name="report-download"),
    # The policy team's space.
    path(f"{S}/policy/", views.policy_space, name="policy-space"),
]  # fmt: skip
