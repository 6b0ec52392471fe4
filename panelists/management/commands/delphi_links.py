from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import QuerySet

from panelists import links
from rounds.csvio import safe_cell
from rounds.models import Panelist, Study
from rounds.services import audit_record


class Command(BaseCommand):
    help = (
        "Print pseudonym, e-mail and personal link of each panelist of a study "
        "(tab-separated): the live link the e-mails carry, or a new one where there is none. "
        "With --revoke, end the links (and the sessions they opened) of the panelists named; "
        "with --reissue, replace them by new links and print those. Both are recorded in "
        "the study's audit log. The output opens the panelists' questionnaires: keep it private."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="the study's slug")
        parser.add_argument(
            "--round", type=int, help="only panelists taking part in this round number"
        )
        action = parser.add_mutually_exclusive_group()
        action.add_argument(
            "--revoke", nargs="+", metavar="PSEUDONYM", help="revoke these panelists' links"
        )
        action.add_argument(
            "--reissue",
            nargs="+",
            metavar="PSEUDONYM",
            help="revoke these panelists' links and print a new one for each",
        )
        parser.add_argument("--reason", default="", help="recorded in the audit log")

    def handle(self, *args: Any, **options: Any) -> None:
        study = Study.objects.filter(slug=options["slug"]).first()
        if study is None:
            known = ", ".join(Study.objects.values_list("slug", flat=True)) or "none"
            raise CommandError(f"No study with slug {options['slug']!r}. Known studies: {known}.")
        reason = options["reason"] or "from the command line (delphi_links)"
        if options["revoke"]:
            for panelist in self._named(study, options["revoke"]):
                n = links.link_revoke_all(panelist=panelist)
                audit_record(
                    study=study, action="link.revoked", target=panelist.pseudonym,
                    after={"links": n}, reason=reason,
                )  # fmt: skip
                self.stdout.write(f"{panelist.pseudonym}\trevoked ({n} link(s))")
            return
        if study.status == Study.Status.FINISHED:
            raise CommandError(f"Study {study.slug} is finished: its links no longer open.")
        if options["reissue"]:
            for panelist in self._named(study, options["reissue"]):
                url = links.link_reissue(panelist=panelist, reason=reason)
                self._print(panelist, url)
            return
        panel = Panelist.objects.filter(study=study).order_by("pseudonym")
        if options["round"] is not None:
            if not study.rounds.filter(number=options["round"]).exists():
                raise CommandError(f"Study {study.slug} has no round {options['round']}.")
            panel = panel.filter(participations__round__number=options["round"])
        found = links.links_for(panel.values_list("pk", flat=True))
        for panelist in panel:
            self._print(panelist, found[panelist.pk])

    def _named(self, study: Study, pseudonyms: list[str]) -> QuerySet[Panelist]:
        wanted = {p.strip().upper() for p in pseudonyms}
        panel = Panelist.objects.filter(study=study, pseudonym__in=wanted).order_by("pseudonym")
        unknown = sorted(wanted - set(panel.values_list("pseudonym", flat=True)))
        if unknown:
            raise CommandError(
                f"Study {study.slug} has no panelist {', '.join(unknown)}; nothing was changed. "
                "Pseudonyms look like P001 (see the output without --revoke/--reissue)."
            )
        return panel

    def _print(self, panelist: Panelist, url: str) -> None:
        # Tab-separated, often opened in a spreadsheet: no cell may start a formula.
        cells = [panelist.pseudonym, safe_cell(panelist.email), url]
        self.stdout.write("\t".join(cells))
