from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from openpyxl import Workbook

from rounds import imports, services
from rounds.imports import ImportRejected, import_items, import_panel
from rounds.models import AuditEntry, Item, Panelist, Study
from tests.factories import make_study

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
ITEM_HEADER = ["code", "domain", "text_fr", "text_nl", "text_en"]
PANEL_HEADER = ["email", "name", "language", "group"]


def csv_bytes(rows: list[list[str]], *, delimiter: str = ",", encoding: str = "utf-8") -> bytes:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode(encoding)


def xlsx_bytes(rows: list[list[object]], *, first_row: int = 1) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    for offset, row in enumerate(rows):
        for column, value in enumerate(row, start=1):
            sheet.cell(row=first_row + offset, column=column, value=value)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def item(code: str, text: str = "Do something", domain: str = "Workload") -> list[str]:
    return [code, domain, f"{text} (fr)", f"{text} (nl)", f"{text} (en)"]


def rejection(study: Study, data: bytes, filename: str = "items.csv") -> str:
    with pytest.raises(ImportRejected) as caught:
        import_items(study=study, data=data, filename=filename)
    return str(caught.value)


def panel_rejection(study: Study, data: bytes, filename: str = "panel.csv") -> str:
    with pytest.raises(ImportRejected) as caught:
        import_panel(study=study, data=data, filename=filename)
    return str(caught.value)


def new_items(study: Study) -> dict[str, Item]:
    return {i.code: i for i in study.items.exclude(code__startswith="I0")}


# Items: formats --------------------------------------------------------------------------


def test_it_imports_items_from_a_comma_separated_utf8_file() -> None:
    study = make_study(n_items=0)
    data = csv_bytes([ITEM_HEADER, item("D1.01", "Réduire"), item("D1.02", "Écouter")])
    assert import_items(study=study, data=data, filename="items.csv") == 2
    imported = new_items(study)
    assert imported["D1.01"].text == {
        "fr": "Réduire (fr)",
        "nl": "Réduire (nl)",
        "en": "Réduire (en)",
    }
    assert imported["D1.02"].domain == {"fr": "Workload", "nl": "Workload", "en": "Workload"}


def test_it_imports_a_semicolon_separated_latin1_file() -> None:
    study = make_study(n_items=0)
    rows = [ITEM_HEADER, ["A1", "Médecin", "Médecin généraliste", "Huisarts", "GP"]]
    assert b"M\xe9decin" in csv_bytes(rows, delimiter=";", encoding="latin-1")
    data = csv_bytes(rows, delimiter=";", encoding="latin-1")
    import_items(study=study, data=data, filename="items.csv")
    imported = study.items.get(code="A1")
    assert imported.text["fr"] == "Médecin généraliste"
    assert imported.domain["nl"] == "Médecin"


def test_it_imports_a_tab_separated_file() -> None:
    study = make_study(n_items=0)
    data = csv_bytes([ITEM_HEADER, item("T1")], delimiter="\t")
    assert import_items(study=study, data=data, filename="items.txt") == 1


def test_it_reads_a_utf8_file_with_a_byte_order_mark() -> None:
    study = make_study(n_items=0)
    data = csv_bytes([ITEM_HEADER, item("B1", "Thérapie")], encoding="utf-8-sig")
    assert data.startswith(b"\xef\xbb\xbf")
    import_items(study=study, data=data, filename="items.csv")
    assert study.items.get(code="B1").text["fr"] == "Thérapie (fr)"


def test_it_imports_items_from_an_xlsx_workbook() -> None:
    study = make_study(n_items=0)
    data = xlsx_bytes([ITEM_HEADER, item("X1", "Café"), [12, "Dom", "fr", "nl", "en"]])
    assert import_items(study=study, data=data, filename="items.xlsx") == 2
    assert study.items.get(code="X1").text["fr"] == "Café (fr)"
    assert study.items.filter(code="12").exists()  # a number typed in a cell, not "12.0"


def test_it_recognises_a_workbook_by_its_content_whatever_its_name() -> None:
    study = make_study(n_items=0)
    data = xlsx_bytes([ITEM_HEADER, item("X1")])
    assert import_items(study=study, data=data, filename="upload") == 1


def test_it_reports_spreadsheet_row_numbers_for_a_workbook() -> None:
    study = make_study(n_items=0)
    data = xlsx_bytes([ITEM_HEADER, item("X1"), [], ["X2", "Dom", "", "nl", "en"]], first_row=3)
    assert "line 6, column text_fr: the item text is missing" in rejection(study, data)


def test_it_accepts_header_names_in_any_case_and_order() -> None:
    study = make_study(n_items=0)
    header = ["Text_EN", "TEXT_NL", " Code ", "Text_FR", "Domain"]
    data = csv_bytes([header, ["en", "nl", "K1", "fr", "Dom"]])
    import_items(study=study, data=data, filename="items.csv")
    assert study.items.get(code="K1").text == {"fr": "fr", "nl": "nl", "en": "en"}


def test_it_skips_empty_lines_and_strips_whitespace() -> None:
    study = make_study(n_items=0)
    data = csv_bytes([ITEM_HEADER, [], ["  S1 ", " Dom ", " fr ", "nl", "en"], ["", "", ""]])
    assert import_items(study=study, data=data, filename="items.csv") == 1
    imported = study.items.get(code="S1")
    assert imported.text["fr"] == "fr"
    assert imported.domain["fr"] == "Dom"


def test_it_accepts_a_domain_per_language() -> None:
    study = make_study(n_items=0)
    header = ["code", "domain_fr", "domain_nl", "domain_en", "text_fr", "text_nl", "text_en"]
    data = csv_bytes([header, ["P1", "Soutien", "Steun", "Support", "fr", "nl", "en"]])
    import_items(study=study, data=data, filename="items.csv")
    assert study.items.get(code="P1").domain == {"fr": "Soutien", "nl": "Steun", "en": "Support"}


def test_it_imports_items_without_a_domain() -> None:
    study = make_study(n_items=0)
    data = csv_bytes([["code", "text_fr", "text_nl", "text_en"], ["N1", "fr", "nl", "en"]])
    import_items(study=study, data=data, filename="items.csv")
    assert study.items.get(code="N1").domain == {}


def test_it_places_imported_items_after_existing_ones() -> None:
    study = make_study(n_items=3)
    data = csv_bytes([ITEM_HEADER, item("Z9"), item("A1")])
    import_items(study=study, data=data, filename="items.csv")
    codes = list(study.items.order_by("position").values_list("code", flat=True))
    assert codes == ["I01", "I02", "I03", "Z9", "A1"]


def test_it_reads_the_sample_items_file() -> None:
    study = make_study(n_items=0)
    data = (ROOT / "docs/samples/items.csv").read_bytes()
    assert import_items(study=study, data=data, filename="items.csv") == 4
    assert "; accessible" in study.items.get(code="S01").text["fr"]


def test_it_records_the_item_import_in_the_audit_log() -> None:
    study = make_study(n_items=0)
    import_items(study=study, data=csv_bytes([ITEM_HEADER, item("A1")]), filename="new.csv")
    entry = AuditEntry.objects.get(study=study, action="items.imported")
    assert entry.after == {"rows": 1, "file": "new.csv"}


# Items: bad rows -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (["", "Dom", "fr", "nl", "en"], "line 2, column code: this value is missing"),
        (["A1", "Dom", "fr", "", "en"], "line 2, column text_nl: the item text is missing"),
        (["A1", "Dom", "fr", "nl"], "line 2, column text_en: the item text is missing"),
        (["A" * 41, "Dom", "fr", "nl", "en"], "line 2, column code: this value has 41 characters"),
        (["A 1", "Dom", "fr", "nl", "en"], "line 2, column code: the code 'A 1' may use only"),
        (["A1", "Dom", "x" * 1001, "nl", "en"], "line 2, column text_fr: this value has 1001"),
        (["A1", "D" * 201, "fr", "nl", "en"], "line 2, column domain: this value has 201"),
        (["A1", "Dom", "fr\x07", "nl", "en"], "line 2, column text_fr: this value contains an"),
        (["A1", "Dom", "fr", "nl", "en", "extra"], "line 2: there is a value in column 6"),
    ],
)
def test_it_rejects_a_bad_item_row_with_its_line_and_column(row: list[str], expected: str) -> None:
    study = make_study(n_items=0)
    assert expected in rejection(study, csv_bytes([ITEM_HEADER, row]))


def test_it_accepts_the_longest_allowed_text() -> None:
    study = make_study(n_items=0)
    data = csv_bytes([ITEM_HEADER, ["A" * 40, "Dom", "x" * 1000, "nl", "en"]])
    assert import_items(study=study, data=data, filename="items.csv") == 1


def test_it_names_the_first_line_of_a_duplicate_code() -> None:
    study = make_study(n_items=0)
    data = csv_bytes([ITEM_HEADER, item("A1"), item("B1"), item("a1")])
    message = rejection(study, data)
    assert "line 4, column code: the code a1 is already on line 2" in message


def test_it_rejects_a_code_the_study_already_has() -> None:
    study = make_study(n_items=2)
    message = rejection(study, csv_bytes([ITEM_HEADER, item("N1"), item("I02")]))
    assert "line 3, column code: the study already has an item with the code I02" in message


def test_it_rejects_a_text_column_for_a_language_the_study_lacks() -> None:
    study = make_study(n_items=0, languages=("fr", "nl"))
    data = csv_bytes([["code", "text_fr", "text_nl", "text_de"], ["A1", "fr", "nl", "de"]])
    message = rejection(study, data)
    assert "line 1, column text_de: the study has no language 'de'" in message
    assert "fr, nl" in message


def test_it_names_the_missing_columns_and_lists_the_expected_ones() -> None:
    study = make_study(n_items=0)
    message = rejection(study, csv_bytes([["code", "text_fr"], ["A1", "fr"]]))
    assert "line 1: missing columns: text_nl, text_en." in message
    assert "code, domain (optional), text_fr, text_nl, text_en" in message


def test_it_rejects_an_unknown_column() -> None:
    study = make_study(n_items=0)
    data = csv_bytes([[*ITEM_HEADER, "comment"], [*item("A1"), "hello"]])
    assert "line 1, column comment: unknown column." in rejection(study, data)


def test_it_rejects_a_column_named_twice() -> None:
    study = make_study(n_items=0)
    data = csv_bytes([[*ITEM_HEADER, "Code"], [*item("A1"), "A2"]])
    message = rejection(study, data)
    assert "line 1, column code: this column appears twice" in message


def test_it_explains_a_file_without_a_header_row() -> None:
    study = make_study(n_items=0)
    message = rejection(study, csv_bytes([item("A1"), item("A2")]))
    assert message.startswith("Line 1 should be the header row, with the columns code")


def test_it_lists_several_problems_at_once() -> None:
    study = make_study(n_items=1)
    rows = [ITEM_HEADER, item("I01"), ["", "Dom", "fr", "nl", "en"], item("B1"), item("B1")]
    rows.append(["C1", "Dom", "fr", "nl", "x" * 1500])
    with pytest.raises(ImportRejected) as caught:
        import_items(study=study, data=csv_bytes(rows), filename="items.csv")
    assert [(p.line, p.column) for p in caught.value.problems] == [
        (2, "code"),
        (3, "code"),
        (5, "code"),
        (6, "text_en"),
    ]


def test_it_writes_nothing_when_one_row_is_bad() -> None:
    study = make_study(n_items=2)
    before = (Item.objects.count(), AuditEntry.objects.count())
    rows = [ITEM_HEADER, *[item(f"N{i}") for i in range(50)], ["N99", "Dom", "", "nl", "en"]]
    with pytest.raises(ImportRejected):
        import_items(study=study, data=csv_bytes(rows), filename="items.csv")
    assert (Item.objects.count(), AuditEntry.objects.count()) == before


def test_it_caps_the_list_of_problems_found_while_reading() -> None:
    study = make_study(n_items=0)
    data = csv_bytes([ITEM_HEADER, [*item("A1"), *["x"] * 100_000]])
    with pytest.raises(ImportRejected) as caught:
        import_items(study=study, data=data, filename="items.csv")
    assert len(caught.value.problems) == imports.MAX_PROBLEMS + 1
    assert "line 2: there is a value in column 6" in str(caught.value)


def test_it_caps_the_list_of_problems() -> None:
    study = make_study(n_items=0)
    rows = [ITEM_HEADER, *[["", "Dom", "fr", "nl", "en"] for _ in range(300)]]
    with pytest.raises(ImportRejected) as caught:
        import_items(study=study, data=csv_bytes(rows), filename="items.csv")
    assert len(caught.value.problems) == imports.MAX_PROBLEMS + 1
    assert "Only the first 200 problems are listed" in str(caught.value.problems[-1])


# Items: whole-file refusals --------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "filename", "expected"),
    [
        (b"", "items.csv", "The file is empty"),
        (b"\n \n;;\n", "items.csv", "no header row"),
        (",".join(ITEM_HEADER).encode() + b"\n", "items.csv", "no data rows"),
        (b"\x00\x01\x02\xff\xfe garbage", "items.csv", "binary data, not text"),
        (b"PK\x03\x04 not really a zip", "items.xlsx", "not a readable Excel workbook"),
        (b"code,text_fr\n1,2", "items.xlsx", "not a readable Excel workbook"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500), "items.xls", "old-format (.xls)"),
        (b'code,text_fr,text_nl,text_en\nA1,"fr,nl,en\n', "items.csv", "line 2: This line"),
    ],
)
def test_it_rejects_an_unreadable_file_with_a_clear_message(
    data: bytes, filename: str, expected: str
) -> None:
    assert expected in rejection(make_study(n_items=0), data, filename)


def test_it_rejects_a_zip_that_is_not_a_workbook() -> None:
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("content.xml", "<office/>")
    assert "not a readable Excel workbook" in rejection(make_study(), out.getvalue(), "a.ods")


def test_it_rejects_a_truncated_workbook() -> None:
    data = xlsx_bytes([ITEM_HEADER, item("A1")])
    message = rejection(make_study(n_items=0), data[: len(data) // 2], "items.xlsx")
    assert "not a readable Excel workbook" in message


def test_it_rejects_a_workbook_that_needs_an_unknown_zip_version() -> None:
    data = bytearray(xlsx_bytes([ITEM_HEADER, item("A1")]))
    directory = data.index(b"PK\x01\x02")  # the first central directory entry
    data[directory + 6] = 147  # "version needed to extract": 14.7, which zipfile refuses
    assert "not a readable Excel workbook" in rejection(make_study(), bytes(data), "a.xlsx")


def test_it_rejects_a_file_over_2_mb() -> None:
    data = b"code,text_fr\n" + b"x" * imports.MAX_UPLOAD_BYTES
    assert "larger than the 2 MB limit" in rejection(make_study(n_items=0), data)


def test_it_rejects_more_than_the_maximum_number_of_rows() -> None:
    rows = [ITEM_HEADER, *[item(f"R{i}") for i in range(imports.MAX_ROWS + 1)]]
    assert "more than 5000 rows" in rejection(make_study(n_items=0), csv_bytes(rows))


def test_it_refuses_items_once_round_1_has_opened() -> None:
    study = make_study()
    services.round_open(round=services.round_create(study=study), notify=False)
    message = rejection(study, csv_bytes([ITEM_HEADER, item("A1")]))
    assert "Round 1 of this study has already opened" in message
    assert not study.items.filter(code="A1").exists()


def test_it_adds_imported_items_to_a_draft_round_1() -> None:
    study = make_study(n_items=2)
    round = services.round_create(study=study)
    import_items(study=study, data=csv_bytes([ITEM_HEADER, item("A1")]), filename="items.csv")
    codes = list(round.round_items.order_by("position").values_list("item__code", flat=True))
    assert codes == ["I01", "I02", "A1"]
    assert round.round_items.get(item__code="A1").text["en"] == "Do something (en)"


# Panel -----------------------------------------------------------------------------------


def test_it_imports_a_panel_and_continues_the_pseudonyms() -> None:
    study = make_study(n_panelists=3)
    rows = [
        PANEL_HEADER,
        ["anne@example.org", "Anne", "fr", "solo practice"],
        ["jan@example.org", "Jan", "nl", ""],
    ]
    assert import_panel(study=study, data=csv_bytes(rows), filename="panel.csv") == 2
    anne = study.panelists.get(email="anne@example.org")
    assert (anne.pseudonym, anne.name, anne.language, anne.group) == (
        "P004",
        "Anne",
        "fr",
        "solo practice",
    )
    assert study.panelists.get(email="jan@example.org").pseudonym == "P005"


def test_it_never_reuses_the_pseudonym_of_a_deleted_panelist() -> None:
    study = make_study(n_panelists=0)
    rows = [PANEL_HEADER, ["a@example.org", "", "fr", ""], ["b@example.org", "", "fr", ""]]
    import_panel(study=study, data=csv_bytes(rows), filename="panel.csv")
    study.panelists.get(pseudonym="P002").delete()
    more = csv_bytes([PANEL_HEADER, ["c@example.org", "", "en", ""]])
    import_panel(study=study, data=more, filename="more.csv")
    assert study.panelists.get(email="c@example.org").pseudonym == "P003"


@pytest.mark.parametrize(
    ("written", "code"),
    [("FR", "fr"), ("Français", "fr"), ("Nederlands", "nl"), ("English", "en"), ("fr-BE", "fr")],
)
def test_it_accepts_a_language_name_or_code_in_any_case(written: str, code: str) -> None:
    study = make_study(n_panelists=0)
    rows = [PANEL_HEADER, ["a@example.org", "A", written, ""]]
    import_panel(study=study, data=csv_bytes(rows), filename="panel.csv")
    assert study.panelists.get().language == code


def test_it_reads_the_sample_panel_file() -> None:
    study = make_study(n_panelists=0)
    data = (ROOT / "docs/samples/panel.csv").read_bytes()
    assert import_panel(study=study, data=data, filename="panel.csv") == 4


def test_it_imports_a_panel_from_a_workbook_with_only_the_required_columns() -> None:
    study = make_study(n_panelists=0)
    data = xlsx_bytes([["E-mail", "Language"], ["a@example.org", "nl"]])
    assert import_panel(study=study, data=data, filename="panel.xlsx") == 1


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (["", "A", "fr", ""], "line 2, column email: this value is missing"),
        (["not-an-address", "A", "fr", ""], "line 2, column email: 'not-an-address' is not a"),
        (["a" * 250 + "@example.org", "A", "fr", ""], "line 2, column email: 'aaaa"),
        (["a@example.org", "A", "", ""], "line 2, column language: this value is missing"),
        (["a@example.org", "A", "klingon", ""], "line 2, column language: 'klingon' is not one"),
        (["a@example.org", "A", "Deutsch", ""], "line 2, column language: 'Deutsch' is not one"),
        (["a@example.org", "A" * 201, "fr", ""], "line 2, column name: this value has 201"),
        (["a@example.org", "A", "fr", "g" * 81], "line 2, column group: this value has 81"),
    ],
)
def test_it_rejects_a_bad_panel_row_with_its_line_and_column(row: list[str], expected: str) -> None:
    study = make_study(n_panelists=0)
    assert expected in panel_rejection(study, csv_bytes([PANEL_HEADER, row]))


def test_it_rejects_the_same_address_twice_whatever_its_case() -> None:
    study = make_study(n_panelists=0)
    rows = [PANEL_HEADER, ["a@example.org", "", "fr", ""], ["A@Example.ORG", "", "fr", ""]]
    message = panel_rejection(study, csv_bytes(rows))
    assert "line 3, column email: the address A@Example.ORG is already on line 2" in message


def test_it_rejects_an_address_already_on_the_panel() -> None:
    study = make_study(n_panelists=2)
    existing = study.panelists.get(pseudonym="P002").email.upper()
    message = panel_rejection(study, csv_bytes([PANEL_HEADER, [existing, "", "fr", ""]]))
    assert f"line 2, column email: {existing} is already on this study's panel" in message


def test_it_rejects_a_language_the_study_does_not_use() -> None:
    study = make_study(n_panelists=0, languages=("fr", "nl"))
    message = panel_rejection(study, csv_bytes([PANEL_HEADER, ["a@example.org", "", "en", ""]]))
    assert "'en' is not one of the study's languages; write one of fr, nl" in message


def test_it_writes_no_panelist_when_one_row_is_bad() -> None:
    study = make_study(n_panelists=2)
    before = (Panelist.objects.count(), AuditEntry.objects.count())
    rows = [PANEL_HEADER, *[[f"p{i}@example.org", "", "fr", ""] for i in range(20)]]
    rows.append(["broken@", "", "fr", ""])
    with pytest.raises(ImportRejected):
        import_panel(study=study, data=csv_bytes(rows), filename="panel.csv")
    assert (Panelist.objects.count(), AuditEntry.objects.count()) == before


def test_it_allows_a_panel_import_while_a_round_is_open() -> None:
    study = make_study()
    services.round_open(round=services.round_create(study=study), notify=False)
    data = csv_bytes([PANEL_HEADER, ["late@example.org", "", "fr", ""]])
    assert import_panel(study=study, data=data, filename="panel.csv") == 1


def test_it_refuses_a_panel_import_into_a_finished_study() -> None:
    study = make_study()
    Study.objects.filter(pk=study.pk).update(status=Study.Status.FINISHED)
    message = panel_rejection(study, csv_bytes([PANEL_HEADER, ["a@example.org", "", "fr", ""]]))
    assert "This study is finished" in message


def test_it_records_the_panel_import_in_the_audit_log() -> None:
    study = make_study(n_panelists=1)
    rows = [PANEL_HEADER, ["a@example.org", "", "fr", ""], ["b@example.org", "", "nl", ""]]
    import_panel(study=study, data=csv_bytes(rows), filename="panel.csv")
    entry = AuditEntry.objects.get(study=study, action="panel.imported")
    assert entry.after == {"rows": 2, "file": "panel.csv", "pseudonyms": ["P002", "P003"]}


# Command line ----------------------------------------------------------------------------


def test_it_imports_items_from_the_command_line(tmp_path: Path) -> None:
    study = make_study(n_items=0)
    path = tmp_path / "items.csv"
    path.write_bytes(csv_bytes([ITEM_HEADER, item("A1"), item("A2")], delimiter=";"))
    out = io.StringIO()
    call_command("delphi_import_items", study.slug, str(path), stdout=out)
    assert out.getvalue().strip() == f"Imported 2 items into {study.slug}"
    assert study.items.count() == 2


def test_it_imports_a_panel_from_the_command_line(tmp_path: Path) -> None:
    study = make_study(n_panelists=0)
    path = tmp_path / "panel.xlsx"
    path.write_bytes(xlsx_bytes([PANEL_HEADER, ["a@example.org", "A", "fr", "g"]]))
    out = io.StringIO()
    call_command("delphi_import_panel", study.slug, str(path), stdout=out)
    assert out.getvalue().strip() == f"Imported 1 panelists into {study.slug}"


def test_the_command_line_lists_every_problem_and_fails(tmp_path: Path) -> None:
    study = make_study(n_items=0)
    path = tmp_path / "items.csv"
    path.write_bytes(csv_bytes([ITEM_HEADER, item("A1"), item("A1"), ["", "D", "f", "n", "e"]]))
    with pytest.raises(CommandError) as caught:
        call_command("delphi_import_items", study.slug, str(path))
    message = str(caught.value)
    assert "nothing was imported" in message
    assert "line 3, column code: the code A1 is already on line 2" in message
    assert "line 4, column code: this value is missing" in message
    assert study.items.count() == 0


def test_the_command_line_rejects_an_unknown_study(tmp_path: Path) -> None:
    path = tmp_path / "panel.csv"
    path.write_bytes(csv_bytes([PANEL_HEADER]))
    with pytest.raises(CommandError, match="No study with the slug 'nope'"):
        call_command("delphi_import_panel", "nope", str(path))


def test_the_command_line_rejects_an_unreadable_file(tmp_path: Path) -> None:
    study = make_study()
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("delphi_import_items", study.slug, str(tmp_path / "missing.csv"))


def test_the_command_line_rejects_a_file_over_2_mb(tmp_path: Path) -> None:
    study = make_study(n_panelists=0)
    path = tmp_path / "panel.csv"
    path.write_bytes(b"email,language\n" + b"x" * (3 * 1024 * 1024))
    with pytest.raises(CommandError, match="2 MB"):
        call_command("delphi_import_panel", study.slug, str(path))
