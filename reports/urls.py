from __future__ import annotations

from django.urls import path

from reports import views

urlpatterns = [
    path("studies/<slug:slug>/report.pdf", views.report_pdf, name="report-pdf"),
    path("studies/<slug:slug>/ratings.csv", views.export_ratings, name="export-ratings"),
    path("studies/<slug:slug>/results.csv", views.export_results, name="export-results"),
]
