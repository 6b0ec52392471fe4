from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from rounds import imports
from rounds.management.commands.delphi_import_items import (
    read_or_error,
    rejection_message,
    study_or_error,
)


class Command(BaseCommand):
    help = (
        "Import panelists into a study from a CSV or XLSX file (columns: email, name, "
        "language, group). Pseudonyms continue after the study's last one. All or nothing: "
        "any bad row rejects the whole file, with the list of problems."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="the study's slug")
        parser.add_argument("file", type=Path, help="a .csv or .xlsx file")

    def handle(self, *args: Any, **options: Any) -> None:
        study = study_or_error(options["slug"])
        data = read_or_error(options["file"])
        try:
            n = imports.import_panel(study=study, data=data, filename=options["file"].name)
        except imports.ImportRejected as exc:
            raise CommandError(rejection_message(exc)) from exc
        self.stdout.write(f"Imported {n} panelists into {study.slug}")
