from __future__ import annotations

from django.urls import path

from rounds import proposal_views, views

urlpatterns = [
    path("studies/<slug:slug>/", views.study_detail, name="study-detail"),
    path("studies/<slug:slug>/audit/", views.audit_log, name="audit-log"),
    path("studies/<slug:slug>/study-file/", views.study_file_download, name="study-file"),
    path("studies/<slug:slug>/contact/", views.study_contact, name="study-contact"),
    path("studies/<slug:slug>/end/", views.study_end, name="study-end"),
    path("studies/<slug:slug>/team/", views.team_page, name="team"),
    path("studies/<slug:slug>/texts/", views.study_texts, name="study-texts"),
    path(
        "studies/<slug:slug>/rounds/<int:number>/introduction/",
        views.round_introduction,
        name="round-introduction",
    ),
    path(
        "studies/<slug:slug>/team/<int:pk>/<str:action>/",
        views.team_member,
        name="team-member",
    ),
    path(
        "studies/<slug:slug>/team/invitations/<int:pk>/revoke/",
        views.team_invitation_revoke,
        name="team-invitation-revoke",
    ),
    path("team/accept/<str:token>/", views.team_accept, name="team-accept"),
    path("studies/<slug:slug>/round-0/", proposal_views.round0_page, name="round0"),
    path(
        "studies/<slug:slug>/round-0/proposals/<int:number>/<str:action>/",
        proposal_views.proposal_action,
        name="proposal-action",
    ),
    path(
        "studies/<slug:slug>/round-0/<str:action>/",
        proposal_views.round0_action,
        name="round0-action",
    ),
    path("studies/<slug:slug>/protocol/", views.protocol_edit, name="protocol-edit"),
    path("studies/<slug:slug>/record/", views.study_record_edit, name="study-record"),
    path("studies/<slug:slug>/import/<str:kind>/", views.import_upload, name="import-upload"),
    path("studies/<slug:slug>/rounds/new/", views.round_create, name="round-create"),
    path(
        "studies/<slug:slug>/rounds/<int:number>/results/",
        views.round_results,
        name="round-results",
    ),
    path("studies/<slug:slug>/rounds/<int:number>/items/", views.round_items, name="round-items"),
    path(
        "studies/<slug:slug>/rounds/<int:number>/items/<str:action>/",
        views.round_item_action,
        name="round-item-action",
    ),
    path(
        "studies/<slug:slug>/rounds/<int:number>/decisions/<int:pk>/override/",
        views.decision_override,
        name="decision-override",
    ),
    path(
        "studies/<slug:slug>/rounds/<int:number>/<str:action>/",
        views.round_action,
        name="round-action",
    ),
]
