"""Coordinator markdown becomes safe HTML: formatting kept, raw HTML and fetches refused."""

from __future__ import annotations

from reports.markup import render_markdown


def test_it_renders_paragraphs_emphasis_and_lists() -> None:
    html = render_markdown("First **bold** and *soft*.\n\n- one\n- two")

    assert "<p>First <strong>bold</strong> and <em>soft</em>.</p>" in html
    assert "<li>one</li>" in html and "<ul>" in html


def test_it_shows_raw_html_as_text() -> None:
    html = render_markdown('Hello <script>alert(1)</script>\n\n<div onclick="x">block</div>')

    assert "<script>" not in html and "<div" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_it_drops_images_so_the_pdf_renderer_fetches_nothing() -> None:
    html = render_markdown("See ![secret](file:///etc/passwd) here.")

    assert "<img" not in html and "passwd" not in html


def test_it_keeps_web_links_and_unlinks_other_schemes() -> None:
    html = render_markdown("[kce](https://kce.fgov.be) [bad](javascript:alert(1))")

    assert '<a href="https://kce.fgov.be">kce</a>' in html
    assert "javascript" not in html
    assert "<a>bad</a>" in html


def test_empty_text_gives_empty_html() -> None:
    assert render_markdown("") == ""
