"""The demo study's recommendation sheets: 14, as in KCE Reports 165.

Each sheet groups action items of `demo/data/kce165_action_items.csv` by theme
(prevention: value conflicts, professional protections, peer support, control over one's
work, recognition, overwork, out-of-hours care; care: low-threshold access, specialised
help, return to work). The actors of a sheet are those of its items. The texts are written
for the demo; the ratings behind them are simulated.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from reports import selectors, services
from reports.models import Actor, Recommendation
from rounds.models import Item, Study


@dataclass(frozen=True)
class _Sheet:
    title: str
    items: tuple[str, ...]
    text: str
    notes: str
    justification: str = ""


SHEETS: tuple[_Sheet, ...] = (
    _Sheet(
        "Name and defuse the value conflicts of general practice",
        ("P01",),
        """General practitioners hold themselves to ideals of availability, continuity and
dedication that the organisation of care no longer lets them meet. The gap between what a
GP believes a good doctor does and what a working week allows is a recognised source of
exhaustion.

The profession should **discuss these expectations openly**: in training, in GP circles and
in the professional bodies, so that limits on availability are seen as part of good
practice rather than as a failing.""",
        "GP circles and the academic departments of general practice host a yearly debate; "
        "the outcome feeds the deontological guidance on availability.",
    ),
    _Sheet(
        "Every GP has a GP of their own, and a periodic health check",
        ("P02", "P03"),
        """Doctors treat themselves, late and alone. Each GP should have a **named GP of
their own**, outside their practice, and should be offered a confidential periodic health
check, as other workers have through occupational health.

The check should look at workload, sleep, mood and substance use as well as physical
health, and lead to an offer of help where needed.""",
        "Start with a voluntary check every three years, run by trained GPs who are not the "
        "doctor's own; records stay outside the professional regulator.",
    ),
    _Sheet(
        "Protect the income and the practice of a GP who falls ill",
        ("P04", "P05"),
        """Self-employed GPs who stop work lose their income at once and fear losing their
patients. Many therefore work while ill. A **replacement income from the first weeks** of
sick leave, and help to find a locum, remove both fears.

Insurance schemes for self-employed doctors should be reviewed so that the waiting period
does not push GPs back to work too early.""",
        "A locum pool per region, coordinated by the GP circles, with a simple register of "
        "available doctors and standard agreements.",
    ),
    _Sheet(
        "Give every GP access to peer reflection and mentoring",
        ("P06", "P07"),
        """Talking with peers about difficult cases and about one's own limits protects
against isolation. **Peer reflection groups** (Balint-type or local quality circles) should be
available to every GP, and young GPs should have a **mentor** during their first years of
practice.

Participation should count towards accreditation, so that it does not compete with
continuing education for scarce time.""",
        "Train facilitators through the academic centres; accredit group hours; pair each "
        "trainee leaving training with a volunteer mentor for two years.",
    ),
    _Sheet(
        "Support multidisciplinary group practice, and help practices resolve conflicts",
        ("P08", "P09"),
        """Working in a team spreads the load, allows cover and brings colleagues to talk to.
Moving to **multidisciplinary group practice** should be supported with advice and start-up
funding.

Group practices also bring their own conflicts. A **mediator** who can be called in by a
practice, before the conflict becomes a rupture, would protect both the doctors and the
continuity of care.""",
        "Regional mediators, trained in the specific setting of group practice, available on "
        "request and free for the practice for the first sessions.",
    ),
    _Sheet(
        "Help GPs keep control over their work",
        ("P10", "P13", "P21"),
        """Exhaustion follows when demands exceed the control one has over them. Short
trainings in **time and priority management**, in **refusing inappropriate requests** and in
**stress management** give GPs practical tools.

These skills belong in basic training and in continuing education, taught by GPs for
GPs, with attention to the realities of solo and group practice.""",
        "Include a module in the GP training curriculum; offer accredited workshops through the "
        "GP circles; evaluate uptake after two years.",
        "Stress-management techniques (P21) were not a priority for the panel. They stay on "
        "this sheet as an optional part of the same training, offered and not pushed, "
        "because they cost little once the other two modules exist.",
    ),
    _Sheet(
        "Set shared expectations between patients and GPs",
        ("P11", "P12"),
        """Patients' expectations of unlimited availability weigh on GPs. A **patient-doctor
charter**, displayed in waiting rooms, can state what patients may expect and what they are
asked in return.

The **duty to make home visits** on request should be revisited so that visits go to the
patients who need them, within an organised system of cover.""",
        "Charter drafted with patient organisations; revision of the home-visit rule by the "
        "authorities with the professional bodies.",
    ),
    _Sheet(
        "Recognise general practice in training and in pay",
        ("P14", "P15", "P16"),
        """General practice should be **valued early in medical training**, with GP teachers
and placements from the first years. Its remuneration should reflect the work it asks:
**complex and long consultations** deserve adequate fees, and the income lost while attending
**continuing education** should be compensated.

Recognition is also a matter of voice: general practice should be represented where care
is planned and funded, on an equal footing with the other disciplines.""",
        "Review the fee schedule for complex consultations; a flat allowance per accredited "
        "day of continuing education.",
    ),
    _Sheet(
        "Relieve GPs of administrative work",
        ("P17", "P18"),
        """Paperwork takes hours that GPs would rather give to patients. **Support for a
practice secretariat** and a determined programme of **administrative simplification and
computerisation** (forms, certificates, reimbursement) would return that time to care.

Every new form or certificate asked of GPs should first be checked for a simpler way to
obtain the same information, such as data already held by another service.""",
        "Grant for hiring a secretary per full-time GP equivalent; an inventory of forms with a "
        "target to remove or digitise half of them.",
    ),
    _Sheet(
        "Support GPs who care for patients with heavy needs",
        ("P19",),
        """A few patients with complex medical, psychological and social needs take a large
share of a GP's energy. GPs caring for them should have **access to support**: case
discussion with specialists, a social worker or a care coordinator, and the possibility to
share the follow-up.

These situations should also be recognised in the fee schedule, so that the time they take
is not borne by the GP alone.""",
        "Link GP circles with local networks for mental health and social care; fund "
        "multidisciplinary case conferences.",
    ),
    _Sheet(
        "Organise out-of-hours care so that it protects GPs",
        ("P20",),
        """Night and weekend duty adds to a full week. **Well-organised out-of-hours
services** with central triage, GP posts and fair rotas reduce the load of each GP while
keeping care accessible.

Patients should be told clearly how to reach out-of-hours care, so that calls go to the
right service and GPs on duty are not called for what can wait.""",
        "Extend central GP posts and telephone triage to every region; rest time after night "
        "duty written into the rota rules.",
    ),
    _Sheet(
        "Open a low-threshold, confidential entry point for doctors in difficulty",
        ("C01", "C02", "C03"),
        """Doctors in difficulty ask for help late, for fear of being judged or reported. A
**confidential entry point**, reachable around the clock, should listen, assess and guide
them: **individual counselling** by trained counsellors, then coordination towards a
**network of professionals** who know the needs of doctors.

The entry point should be run independently of the professional bodies and the regulator,
and say so plainly: confidentiality is what makes doctors call.""",
        "A single phone number and website per language community; counsellors trained in the "
        "care of physicians; anonymous activity reports each year.",
    ),
    _Sheet(
        "Provide specialised treatment, protected from professional regulation",
        ("C04", "C05", "C06"),
        """Some doctors need more than counselling. A **specialised treatment network**,
with **residential stays** when needed, should be available. Doctors who seek treatment
should do so in a **protected pathway**, separate from the professional regulator, as long
as patient safety is not at risk.

Insurers and treatment centres should agree on how such stays are funded, so that cost is
never the reason a doctor goes without care.""",
        "Agreements with treatment centres in each region; a written protocol on when, and only "
        "when, the regulator is informed.",
        "The panel favoured flexible, personalised help (the previous sheet) over specialised "
        "services and residential stays (C04, C05). This sheet keeps them as a second line, "
        "behind the entry point, for the few doctors who need more than counselling.",
    ),
    _Sheet(
        "Help doctors return to work, within one integrated programme",
        ("C07", "C08"),
        """Returning to practice after a burnout is a fragile step. A **return-to-work
programme** (gradual resumption, supervision, adapted workload) should be part of an
**integrated help programme** that runs from prevention through care to follow-up.

The programme should involve the doctor's practice or group, so that colleagues can plan
the cover and the workload of the return together.""",
        "Evaluate the programme after three years: uptake, time to return to work, relapse.",
    ),
)


# For a sheet that rests on items the simulated panel did not accept and says no more.
FALLBACK_JUSTIFICATION = (
    "Not every item of this sheet was accepted by the panel (see the verdicts above). The "
    "research team keeps the sheet whole for the stakeholder workshop, which weighs the "
    "feasibility of each action; the items the panel did not accept are put to it as open "
    "questions, not as the panel's view. (Demo text: the ratings are simulated.)"
)


def add_kce_recommendations(study: Study) -> list[Recommendation]:
    """Replace the study's recommendations with the 14 sheets of the demo.

    Items are found by code; a sheet keeps whichever of its items the study has. Actors
    are those of the sheet's items (their ``metadata["actors"]``). A sheet resting on an
    item the panel rejected or left without consensus carries its justification."""
    items = {item.code: item for item in Item.objects.filter(study=study)}
    finals = selectors.final_decisions(study)
    created = []
    with transaction.atomic():
        Recommendation.objects.filter(study=study).delete()
        for sheet in SHEETS:
            linked = [items[code] for code in sheet.items if code in items]
            unsupported = any(finals.get(i.pk) in services.NOT_SUPPORTED for i in linked)
            created.append(
                services.recommendation_create(
                    study=study,
                    title=sheet.title,
                    text=sheet.text,
                    actors=_actors(linked),
                    implementation_notes=sheet.notes,
                    items=linked,
                    justification=(sheet.justification or FALLBACK_JUSTIFICATION)
                    if unsupported
                    else "",
                )
            )
    return created


def _actors(items: list[Item]) -> list[str]:
    named = {actor for item in items for actor in (item.metadata or {}).get("actors", [])}
    return [code for code in Actor.values if code in named]
