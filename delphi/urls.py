from __future__ import annotations

from django.conf.urls.i18n import i18n_patterns
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import include, path

from delphi import two_step
from demo import views as demo_views
from rounds import views as round_views
from rounds.setup import StudySetupWizard, from_file


def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness probe for load balancers (and the trivial baseline of the benchmarks)."""
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("accounts/two-step/", two_step.two_step, name="two-step"),
    path("accounts/verify/", two_step.two_step_verify, name="two-step-verify"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", round_views.home, name="home"),
    path("demo/panelist/", demo_views.visitor, name="demo-visitor"),
    # The study setup wizard's "studies/new/" URLs go here, before "studies/<slug>/".
    path(
        "studies/new/",
        StudySetupWizard.as_view(url_name="study-setup-step", done_step_name="done"),
        name="study-setup",
    ),
    path("studies/new/from-file/", from_file.study_file_upload, name="study-from-file"),
    path(
        "studies/new/from-file/review/",
        from_file.study_file_review,
        name="study-from-file-review",
    ),
    path(
        "studies/new/<str:step>/",
        StudySetupWizard.as_view(url_name="study-setup-step", done_step_name="done"),
        name="study-setup-step",
    ),
    path("", include("rounds.privacy_urls")),  # before the round URLs that take any action
    path("", include("panelists.urls")),  # before rounds: its round URLs are more specific
    path("", include("rounds.urls")),
    path("", include("reports.urls")),
]
urlpatterns += i18n_patterns()
