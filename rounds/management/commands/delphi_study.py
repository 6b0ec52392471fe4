"""The study as a file, from the command line:

manage.py delphi_study export SLUG [--out FILE]     the study's design as a study file
manage.py delphi_study create FILE --owner USER [--slug SLUG]
                                                    a new study from a study file
manage.py delphi_study hash FILE                    the design hash of a study file
manage.py delphi_study schema                       the JSON Schema of study files
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError, CommandParser

from rounds.management.commands.delphi_import_items import read_or_error, study_or_error
from rounds.studyfile.create import study_create_from_file
from rounds.studyfile.problems import StudyFileRejected
from rounds.studyfile.reader import StudyDesign, read_study_file
from rounds.studyfile.schema import schema_json
from rounds.studyfile.writer import study_file


class Command(BaseCommand):
    help = (
        "The study as a file: export a study's design as a YAML study file, create a new "
        "study from one (all or nothing), print a file's design hash, or print the schema."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        export = actions.add_parser("export", help="write a study's design as a study file")
        export.add_argument("slug", help="the study's slug")
        export.add_argument("--out", type=Path, help="write to this file (default: stdout)")
        create = actions.add_parser("create", help="create a new study from a study file")
        create.add_argument("file", type=Path, help="a study file (.yaml)")
        create.add_argument("--owner", required=True, help="username of the study's owner")
        create.add_argument("--slug", default="", help="short name instead of the file's")
        digest = actions.add_parser("hash", help="print the design hash of a study file")
        digest.add_argument("file", type=Path, help="a study file (.yaml)")
        actions.add_parser("schema", help="print the JSON Schema of study files")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "export":
            self._export(options["slug"], options["out"])
        elif action == "create":
            self._create(options["file"], options["owner"], options["slug"])
        elif action == "hash":
            self.stdout.write(f"{_design(options['file']).hash}  {options['file']}")
        else:
            self.stdout.write(schema_json(), ending="")

    def _export(self, slug: str, out: Path | None) -> None:
        data = study_file(study_or_error(slug))
        if out is None:
            self.stdout.write(data.decode("utf-8"), ending="")
            return
        out.write_bytes(data)
        self.stderr.write(f"Wrote {out}")

    def _create(self, path: Path, owner: str, slug: str) -> None:
        user = User.objects.filter(username=owner).first()
        if user is None:
            raise CommandError(f"No user with the username {owner!r}.")
        try:
            study = study_create_from_file(data=read_or_error(path), by=user, slug=slug)
        except StudyFileRejected as rejected:
            raise CommandError(_rejected(path, rejected)) from rejected
        self.stdout.write(f"Created the study {study.slug} from {path}")


def _design(path: Path) -> StudyDesign:
    try:
        return read_study_file(read_or_error(path))
    except StudyFileRejected as rejected:
        raise CommandError(_rejected(path, rejected)) from rejected


def _rejected(path: Path, rejected: StudyFileRejected) -> str:
    return f"{path} was rejected; nothing was created.\n{rejected}"
