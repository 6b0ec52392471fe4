"""Two-step sign-in for staff accounts (optional, per account): after the password, a
six-digit code from an authenticator app (TOTP, RFC 6238, through django-otp).

A coordinator turns it on from "Two-step sign-in" (the page shows a QR code and the key to
type in by hand, and asks for a first code before anything changes) and off again with a
current code. Once on, every staff page of a new session asks for a code first
(`TwoStepMiddleware`); wrong codes are refused with a growing wait (django-otp's throttling:
1, 2, 4, ... seconds). The panelists' pages and personal links are not affected.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from urllib.parse import urlencode

import qrcode
import qrcode.image.svg
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import user_logged_in
from django.contrib.auth.decorators import login_required
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

logger = logging.getLogger(__name__)

SESSION_KEY = "two_step_required"
DEVICE_NAME = "authenticator app"


def _device(user: object, confirmed: bool = True) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=confirmed).order_by("pk").first()


@receiver(user_logged_in, dispatch_uid="delphi.two_step")
def _on_login(sender: object, request: HttpRequest | None, user: object, **_: object) -> None:
    """Whether this session must give a code before it reaches a staff page."""
    if request is not None and hasattr(request, "session"):
        request.session[SESSION_KEY] = _device(user) is not None


class TwoStepMiddleware:
    """Sends a signed-in account that has two-step sign-in on, and has not given a code in
    this session, to the code page; the rest of the site (panelists' pages, static files,
    signing out, the language) goes through."""

    OPEN = ("/p/", "/static/", "/i18n/", "/healthz", "/accounts/logout/", "/accounts/verify/")

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if (
            user.is_authenticated
            and request.session.get(SESSION_KEY)
            and not user.is_verified()  # type: ignore[attr-defined]
            and not request.path.startswith(self.OPEN)
        ):
            query = urlencode({"next": request.get_full_path()})
            return redirect(f"{reverse('two-step-verify')}?{query}")
        return self.get_response(request)


def _code(request: HttpRequest) -> str:
    return "".join(request.POST.get("code", "").split())


def _check(request: HttpRequest, device: TOTPDevice) -> bool:
    """The posted code, checked under django-otp's throttling; says what is wrong."""
    allowed, data = device.verify_is_allowed()
    if not allowed:
        wait = (data or {}).get("locked_until")
        messages.error(
            request,
            _("Too many wrong codes in a row. Wait a little (until %(time)s) and try again.")
            % {"time": wait.strftime("%H:%M:%S") if wait else "-"},
        )
        return False
    code = _code(request)
    if not (code.isdigit() and len(code) == 6):
        messages.error(request, _("Type the six digits your authenticator app shows now."))
        return False
    if not device.verify_token(code):
        messages.error(
            request,
            _(
                "This code is not the one your authenticator app shows now. Check that "
                "the time on your phone is right and type the current code."
            ),
        )
        return False
    return True


def _qr_svg(url: str) -> str:
    image = qrcode.make(url, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    return str(image.to_string(encoding="unicode"))


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def two_step(request: HttpRequest) -> HttpResponse:
    """Turn two-step sign-in on (QR code, key, a first code) or off (a current code)."""
    user = request.user
    confirmed = _device(user)
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "start" and confirmed is None:
            if _device(user, confirmed=False) is None:
                TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)
        elif action == "confirm" and confirmed is None:
            pending = _device(user, confirmed=False)
            if pending is not None and _check(request, pending):
                pending.confirmed = True
                pending.save(update_fields=["confirmed"])
                otp_login(request, pending)
                request.session[SESSION_KEY] = True
                logger.info("two-step sign-in turned on for user %s", user.pk)
                messages.success(request, _("Two-step sign-in is on for your account."))
        elif action == "stop" and confirmed is not None and _check(request, confirmed):
            TOTPDevice.objects.filter(user=user).delete()
            request.session[SESSION_KEY] = False
            logger.info("two-step sign-in turned off for user %s", user.pk)
            messages.success(request, _("Two-step sign-in is off for your account."))
        return redirect("two-step")
    pending = None if confirmed else _device(user, confirmed=False)
    context = {"confirmed": confirmed, "pending": pending}
    if pending is not None:
        context["qr"] = mark_safe(_qr_svg(pending.config_url))
        context["key"] = " ".join(_base32(pending.bin_key)[i : i + 4]
                                  for i in range(0, 32, 4))  # fmt: skip
    return render(request, "registration/two_step.html", context)


def _base32(key: bytes) -> str:
    return base64.b32encode(key).decode().rstrip("=")


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def two_step_verify(request: HttpRequest) -> HttpResponse:
    """The code asked after the password, before the staff pages."""
    device = _device(request.user)
    target = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        target = settings.LOGIN_REDIRECT_URL
    if device is None:  # turned off meanwhile (e.g. by an administrator): no code to ask
        request.session[SESSION_KEY] = False
        return redirect(target)
    if request.user.is_verified():  # type: ignore[union-attr]
        return redirect(target)
    if request.method == "POST" and _check(request, device):
        otp_login(request, device)
        return redirect(target)
    return render(request, "registration/two_step_verify.html", {"next": target})
