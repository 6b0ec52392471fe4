from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from panelists import links
from rounds.models import Panelist, Study


class Command(BaseCommand):
    help = (
        "Print pseudonym, e-mail and personal link of each panelist of a study "
        "(tab-separated): the live link the e-mails carry, or a new one where there is none. "
        "The output opens the panelists' questionnaires: keep it private."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="the study's slug")
        parser.add_argument(
            "--round", type=int, help="only panelists taking part in this round number"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        study = Study.objects.filter(slug=options["slug"]).first()
        if study is None:
            known = ", ".join(Study.objects.values_list("slug", flat=True)) or "none"
            raise CommandError(f"No study with slug {options['slug']!r}. Known studies: {known}.")
        panel = Panelist.objects.filter(study=study).order_by("pseudonym")
        if options["round"] is not None:
            if not study.rounds.filter(number=options["round"]).exists():
                raise CommandError(f"Study {study.slug} has no round {options['round']}.")
            panel = panel.filter(participations__round__number=options["round"])
        if study.status == Study.Status.FINISHED:
            raise CommandError(f"Study {study.slug} is finished: its links no longer open.")
        for panelist in panel:
            link = links.link_for(panelist)
            self.stdout.write(f"{panelist.pseudonym}\t{panelist.email}\t{link}")
