from __future__ import annotations

from django.urls import path

from panelists import coordinator, proposals, views

rating_wizard = views.RatingWizard.as_view(url_name="panelist-rate-step", done_step_name="done")

R = "studies/<slug:slug>/rounds/<int:number>"

urlpatterns = [
    # The coordinator's round dashboard (the panel's side of a round).
    path(f"{R}/", coordinator.round_detail, name="round-detail"),
    path(f"{R}/status.json", coordinator.round_status, name="round-status"),
    path(f"{R}/remind/", coordinator.round_remind, name="round-remind"),
    path(f"{R}/reminders/", coordinator.round_reminder_schedule, name="round-reminder-schedule"),
    path(
        f"{R}/panelists/<str:pseudonym>/<str:action>/",
        coordinator.panelist_action,
        name="panelist-action",
    ),
    # Round 0's reminders (its page is in `rounds`).
    path("studies/<slug:slug>/round-0/remind/", coordinator.round0_remind, name="round0-remind"),
    path(
        "studies/<slug:slug>/round-0/reminders/",
        coordinator.round0_reminder_schedule,
        name="round0-reminder-schedule",
    ),
    path("studies/<slug:slug>/emails/", coordinator.email_templates, name="email-templates"),
    path(f"{R}/preview/", coordinator.round_preview, name="round-preview"),
    path(f"{R}/preview/<str:step>/", coordinator.round_preview, name="round-preview-step"),
    # The panelist's pages.
    path("p/", views.home, name="panelist-home"),
    path("p/consent/", views.consent, name="panelist-consent"),
    path("p/rate/", rating_wizard, name="panelist-rate"),
    path("p/rate/<str:step>/", rating_wizard, name="panelist-rate-step"),
    path("p/live/<str:step>/", views.live_feedback, name="panelist-live"),
    path("p/review/", views.review, name="panelist-review"),
    path("p/submit/", views.submit, name="panelist-submit"),
    path("p/thanks/", views.thanks, name="panelist-thanks"),
    path("p/proposals/", proposals.proposals_page, name="panelist-proposals"),
    path("p/<str:token>/", views.link_open, name="panelist-link"),
]
