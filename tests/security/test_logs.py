"""No log line carries a personal link's token (finding: "Not Found: /p/<token>/")."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

import pytest
from django.test import Client

from delphi.logs import REDACTED, TokenFilter, redact
from panelists import links
from tests.factories import make_study

pytestmark = pytest.mark.django_db

TOKEN = "Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4"


def test_a_404_on_an_unknown_token_logs_no_token(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        response = client.get(f"/p/{TOKEN}/")
    assert response.status_code == 404
    assert any("Not Found" in r.getMessage() for r in caplog.records)  # it was logged...
    assert TOKEN not in caplog.text  # ...without the token
    assert f"/p/{REDACTED}/" in caplog.text


def test_a_revoked_link_logs_no_token(client: Client, caplog: pytest.LogCaptureFixture) -> None:
    panelist = make_study().panelists.first()
    url = links.link_issue(panelist=panelist)
    links.link_revoke_all(panelist=panelist)
    token = urlsplit(url).path.split("/")[2]
    with caplog.at_level(logging.INFO):
        assert client.get(urlsplit(url).path).status_code == 410
    assert caplog.records
    assert token not in caplog.text


@pytest.mark.parametrize(
    "line",
    [
        f'"GET /p/{TOKEN}/ HTTP/1.1" 404 1234',  # gunicorn's access log
        f"Not Found: /p/{TOKEN}/",
        f"https://delphi.example.org/p/{TOKEN}/?utm=1",
        f"/fr/p/{TOKEN}",
        f"/p%2F{TOKEN}%2F",
        f"GET /team/accept/{TOKEN}/ 302",
    ],
)
def test_any_record_with_a_token_is_redacted(line: str) -> None:
    logger = logging.getLogger("anything.at.all")
    record = logger.makeRecord(logger.name, logging.WARNING, __file__, 1, "%s", (line,), None)
    assert TOKEN not in record.getMessage()  # redacted at creation, by the record factory
    by_hand = logging.LogRecord("x", logging.WARNING, __file__, 1, "%s", (line,), None)
    TokenFilter().filter(by_hand)
    assert TOKEN not in by_hand.getMessage()


def test_the_panelists_own_pages_stay_readable_in_the_logs() -> None:
    for path in ["/p/", "/p/rate/domain-1/", "/p/review/", "/p/submit/", "/p/thanks/",
                 "/p/consent/"]:  # fmt: skip
        assert redact(f"POST {path} 403") == f"POST {path} 403"
