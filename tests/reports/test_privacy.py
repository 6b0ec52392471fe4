"""No export ever contains a panelist's name or an e-mail address: every byte is searched,
inside the zip, inside the workbook and in the PDF's text."""

from __future__ import annotations

import io
import zipfile

import pytest
from pypdf import PdfReader

from reports.services import build_files
from rounds.models import Panelist, Study
from tests.reports.helpers import finished_study

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def _texts(name: str, data: bytes) -> dict[str, str]:
    """Every readable text in a file, recursing into zips (the XLSX is one) and PDFs."""
    if data[:4] == b"PK\x03\x04":
        found: dict[str, str] = {}
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for info in archive.infolist():
                found.update(_texts(f"{name}/{info.filename}", archive.read(info)))
        return found
    if data[:5] == b"%PDF-":
        reader = PdfReader(io.BytesIO(data))
        pages = "\n".join(page.extract_text() or "" for page in reader.pages)
        metadata = reader.trailer["/Root"]["/Metadata"].get_object().get_data()
        return {name: pages, f"{name}#metadata": metadata.decode("utf-8", "replace")}
    return {name: data.decode("utf-8")}


def test_no_exported_byte_names_a_panelist_or_holds_an_e_mail_address() -> None:
    study = finished_study(simulated=True)
    Study.objects.filter(pk=study.pk).update(
        contact_name="Coordinator Person", contact_email="coordinator@kce.example.be"
    )
    panel = list(Panelist.objects.filter(study=study).values_list("name", "email"))
    built = build_files(study, version=1)

    texts = _texts("zip", built.archive)
    assert any(name.endswith("data.xlsx/xl/sharedStrings.xml") for name in texts)
    assert any(name.endswith("report.pdf") for name in texts)
    secrets = [value for pair in panel for value in pair if value]
    secrets += ["Coordinator Person", "coordinator@kce.example.be"]
    for name, text in texts.items():
        lowered = text.casefold()
        for secret in secrets:
            assert secret.casefold() not in lowered, (name, secret)
        assert "@" not in text, name
    assert any("[e-mail removed]" in text for text in texts.values())
    assert any("[name removed]" in text for text in texts.values())
