from __future__ import annotations

from django.urls import path

from rounds import privacy_views as views

S = "studies/<slug:slug>"

urlpatterns = [
    path(f"{S}/rounds/<int:number>/comments/", views.round_comments, name="round-comments"),
    path(f"{S}/comments/<int:rating_id>/hide/", views.comment_hide, name="comment-hide"),
    path(f"{S}/comments/<int:rating_id>/show/", views.comment_show, name="comment-show"),
    path(f"{S}/privacy/", views.study_privacy, name="study-privacy"),
    path(
        f"{S}/privacy/<str:pseudonym>/export.<str:fmt>",
        views.panelist_export,
        name="panelist-export",
    ),
    path(f"{S}/privacy/<str:pseudonym>/erase/", views.panelist_erase, name="panelist-erase"),
]
