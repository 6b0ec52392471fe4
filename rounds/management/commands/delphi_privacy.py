from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from rounds import privacy
from rounds.errors import DomainError
from rounds.models import Study


class Command(BaseCommand):
    help = (
        "A panelist's data requests. 'export SLUG PSEUDONYM [--csv] [--out FILE]' writes "
        "everything the platform holds about the panelist as JSON (or the ratings as CSV); "
        "'erase SLUG PSEUDONYM --reason TEXT' erases their e-mail address and name (ratings "
        "stay under the pseudonym); 'retention' erases the panelists of studies that ended "
        "DELPHI_RETENTION_DAYS ago. Each is recorded in the study's audit log."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        export = sub.add_parser("export", help="write a panelist's data")
        export.add_argument("slug")
        export.add_argument("pseudonym")
        export.add_argument("--csv", action="store_true", help="the ratings as CSV")
        export.add_argument("--out", help="file to write (default: standard output)")
        erase = sub.add_parser("erase", help="erase a panelist's e-mail address and name")
        erase.add_argument("slug")
        erase.add_argument("pseudonym")
        erase.add_argument("--reason", required=True, help="recorded in the audit log")
        sub.add_parser("retention", help="apply DELPHI_RETENTION_DAYS now")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "retention":
            n = privacy.retention_apply(limit=1_000_000)
            self.stdout.write(f"{n} panelist(s) erased.")
            return
        study = Study.objects.filter(slug=options["slug"]).first()
        if study is None:
            known = ", ".join(Study.objects.values_list("slug", flat=True)) or "none"
            raise CommandError(f"No study with slug {options['slug']!r}. Known studies: {known}.")
        try:
            panelist = privacy.panelist_by_pseudonym(study, options["pseudonym"])
        except DomainError as exc:
            raise CommandError(str(exc)) from None
        if options["action"] == "erase":
            done = privacy.panelist_erase(panelist=panelist, reason=options["reason"])
            state = "erased" if done else "was already erased"
            self.stdout.write(f"{panelist.pseudonym} {state}.")
            return
        if options["csv"]:
            data = privacy.panelist_ratings_csv(panelist)
        else:
            text = json.dumps(privacy.panelist_data(panelist), indent=2, ensure_ascii=False)
            data = (text + "\n").encode("utf-8")
        privacy.panelist_export_record(panelist=panelist, what="csv" if options["csv"] else "json")
        if options["out"]:
            Path(options["out"]).write_bytes(data)
        else:
            self.stdout.write(data.decode("utf-8"), ending="")
