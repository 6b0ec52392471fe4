"""python manage.py delphi_export SLUG --out DIR: the report and the data files, now."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from reports import services
from rounds.models import Study


class Command(BaseCommand):
    help = (
        "Write the report and the data of study SLUG into DIR: report.pdf, ratings.csv, "
        "results.csv, comments.csv, stability.csv, rules.csv, codebook.csv, data.xlsx, "
        "study.yaml (the design), datapackage.json (a Frictionless data package), README.txt "
        "and stamp.json, all carrying the same reproducibility stamp. Runs in "
        "this process (no worker needed) and creates no report version."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="the study's slug")
        parser.add_argument("--out", required=True, type=Path, help="folder for the files")
        parser.add_argument(
            "--no-pdf", action="store_true", help="write the data files only (much faster)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        study = Study.objects.select_related("protocol").filter(slug=options["slug"]).first()
        if study is None:
            raise CommandError(f"No study with slug {options['slug']!r}.")
        out: Path = options["out"]
        out.mkdir(parents=True, exist_ok=True)
        built = services.build_files(study, with_pdf=not options["no_pdf"])
        for name, data in built.files.items():
            (out / name).write_bytes(data)
        self.stdout.write(
            f"Wrote {len(built.files)} files to {out}: {', '.join(built.files)}\n"
            f"protocol {built.stamp['protocol_hash'][:12]} · data "
            f"{built.stamp['data_checksum'][:12]} · {built.stamp['generated_at']}"
        )
