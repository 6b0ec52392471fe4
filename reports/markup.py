"""Coordinator-written markdown as safe HTML for the report and the pages.

Raw HTML in the source is shown as text, never interpreted; images are dropped (the PDF
renderer must not fetch anything); links keep only http(s) and mailto targets.
"""

from __future__ import annotations

import threading
import xml.etree.ElementTree as ET

import markdown
from django.utils.safestring import SafeString, mark_safe
from markdown.treeprocessors import Treeprocessor

_SAFE_SCHEMES = ("http://", "https://", "mailto:")


class _Sanitise(Treeprocessor):
    def run(self, root: ET.Element) -> None:
        for parent in list(root.iter()):
            for child in list(parent):
                if child.tag == "img":
                    parent.remove(child)
        for link in root.iter("a"):
            href = (link.get("href") or "").strip()
            if not href.lower().startswith(_SAFE_SCHEMES):
                link.attrib.pop("href", None)
            for name in list(link.attrib):
                if name not in ("href", "title"):
                    link.attrib.pop(name)


class _SafeExtension(markdown.Extension):
    def extendMarkdown(self, md: markdown.Markdown) -> None:
        md.preprocessors.deregister("html_block")
        md.inlinePatterns.deregister("html")
        md.treeprocessors.register(_Sanitise(md), "delphi_sanitise", 0)


_local = threading.local()


def render_markdown(text: str) -> SafeString:
    """HTML for ``text``: paragraphs, emphasis, lists, links; any raw HTML escaped."""
    if not text:
        return mark_safe("")
    md = getattr(_local, "md", None)
    if md is None:  # building a Markdown costs more than converting a sheet's text
        md = markdown.Markdown(extensions=[_SafeExtension(), "sane_lists"], output_format="html")
        _local.md = md
    return mark_safe(md.reset().convert(text))
