from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from rounds import imports
from rounds.models import Study


class Command(BaseCommand):
    help = (
        "Import items into a study from a CSV or XLSX file (columns: code, domain, and "
        "text_<lang> for each language of the study). All or nothing: any bad row rejects "
        "the whole file, with the list of problems."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="the study's slug")
        parser.add_argument("file", type=Path, help="a .csv or .xlsx file")

    def handle(self, *args: Any, **options: Any) -> None:
        study = study_or_error(options["slug"])
        data = read_or_error(options["file"])
        try:
            n = imports.import_items(study=study, data=data, filename=options["file"].name)
        except imports.ImportRejected as exc:
            raise CommandError(rejection_message(exc)) from exc
        self.stdout.write(f"Imported {n} items into {study.slug}")


def study_or_error(slug: str) -> Study:
    study = Study.objects.filter(slug=slug).first()
    if study is None:
        raise CommandError(f"No study with the slug {slug!r}.")
    return study


def read_or_error(path: Path) -> bytes:
    """The file's bytes, one more than the upload limit at most (enough to refuse it)."""
    try:
        with path.open("rb") as file:
            return file.read(imports.MAX_UPLOAD_BYTES + 1)
    except OSError as exc:
        raise CommandError(f"Cannot read {path}: {exc.strerror or exc}.") from exc


def rejection_message(exc: imports.ImportRejected) -> str:
    return "The file was rejected; nothing was imported.\n" + str(exc)
