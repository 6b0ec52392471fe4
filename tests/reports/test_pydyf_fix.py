"""The pydyf fix (reports/pydyf_fix.py): same page references, built once per page count."""

from __future__ import annotations

import pydyf

from reports import pdf as report_pdf  # noqa: F401  (importing the report installs the fix)
from reports import pydyf_fix


def test_importing_the_report_installs_the_fix() -> None:
    assert pydyf.PDF.page_references is pydyf_fix._installed


def test_the_references_are_those_of_pydyf_as_pages_are_added() -> None:
    document = pydyf.PDF()
    for count in range(1, 6):
        document.add_page(pydyf.Dictionary({"Type": "/Page"}))
        fixed = document.page_references
        assert fixed == pydyf_fix._original.fget(document)
        assert len(fixed) == count
        # read again without a new page: the very same tuple, not a new one
        assert document.page_references is fixed


def test_a_tagged_pdf_is_byte_identical_with_and_without_the_fix() -> None:
    from weasyprint import HTML

    html = "".join(
        f'<h1 id="s{n}">Sheet {n}</h1><p>Text <a href="#s{(n + 1) % 4}">next</a></p>'
        '<p style="break-after: page">More</p>'
        for n in range(4)
    )
    options = {"pdf_variant": "pdf/ua-1", "pdf_identifier": b"fixed-id", "uncompressed_pdf": True}
    document = HTML(string=f"<html lang=en><title>t</title><body>{html}</body></html>").render(
        **options
    )
    with_fix = document.write_pdf(**options)
    try:
        pydyf.PDF.page_references = pydyf_fix._original
        without = document.write_pdf(**options)
    finally:
        pydyf_fix.install()
    assert with_fix == without
    assert b"/StructTreeRoot" in with_fix


def test_streams_are_compressed_at_the_default_level_and_still_read_back() -> None:
    import zlib

    text = b"".join(
        b"BT /F1 9 Tf %d %d Td (Recommendation %d) Tj ET\n" % (n * 7 % 500, n * 13 % 800, n)
        for n in range(2000)
    )
    stream = pydyf.Stream([text], compress=True)
    data = stream.data
    body = data[data.index(b"stream\n") + 7 : data.rindex(b"\nendstream")]
    assert zlib.decompress(body) == text
    compressor = zlib.compressobj(pydyf_fix.LEVEL)
    assert body == compressor.compress(text) + compressor.flush()
    slowest = zlib.compressobj(9)
    assert body != slowest.compress(text) + slowest.flush()  # what pydyf itself asks for
