"""Rate limits: who is asking (the client's address) and a counter of failures per address.

Staff logins are limited by django-axes (settings, "Rate limits"), which asks `client_ip` for
the address; invalid personal links are limited here, in the cache. A counter lives in its
window: the first failure opens it, and it closes `window` seconds later whatever happens.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str | None:
    """The client's address: REMOTE_ADDR, or, behind DELPHI_TRUSTED_PROXIES proxies that each
    append to X-Forwarded-For, the address the outermost trusted proxy saw (entries further
    left were written by the client and prove nothing). None when there is no valid address
    (e.g. a request built by hand); never a value that is not an IP address."""
    remote = _valid(request.META.get("REMOTE_ADDR"))
    trusted = int(getattr(settings, "DELPHI_TRUSTED_PROXIES", 0))
    if trusted <= 0:
        return remote
    forwarded = [p.strip() for p in str(request.META.get("HTTP_X_FORWARDED_FOR", "")).split(",")]
    forwarded = [p for p in forwarded if p]
    if len(forwarded) < trusted:
        return remote
    return _valid(forwarded[-trusted]) or remote


def _valid(address: object) -> str | None:
    try:
        return str(ipaddress.ip_address(str(address).strip()))
    except ValueError:
        return None


@dataclass(frozen=True)
class Throttle:
    """At most `limit` failures per address within `window` seconds."""

    name: str
    limit: int
    window: int

    def _key(self, address: str) -> str:
        return f"throttle:{self.name}:{address}"

    def blocked(self, address: str) -> bool:
        return int(cache.get(self._key(address), 0)) >= self.limit

    def fail(self, address: str) -> None:
        key = self._key(address)
        if cache.add(key, 1, timeout=self.window):
            return
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr: start a new window
            cache.add(key, 1, timeout=self.window)


def link_throttle() -> Throttle:
    return Throttle("link", settings.DELPHI_LINK_FAILURES, settings.DELPHI_LINK_COOLOFF_SECONDS)
