"""Who may see or run a study: one helper per object type, used by every view and download."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser, User
from django.http import Http404

from rounds.models import Round, Study, StudyMembership

RUN = "run"
VIEW = "view"


def role_of(user: User | AnonymousUser, study: Study) -> str | None:
    if not user.is_authenticated:
        return None
    if getattr(user, "is_superuser", False):
        return StudyMembership.Role.OWNER
    membership = StudyMembership.objects.filter(study=study, user_id=user.pk).first()
    return membership.role if membership else None


def get_study_for_user(user: User | AnonymousUser, slug: str, need: str) -> Study:
    """The study if `user` may `need` ("run" or "view") it; 404 otherwise, so that the
    existence of a study is not revealed to people who have no role in it."""
    study = Study.objects.select_related("protocol").filter(slug=slug).first()
    role = role_of(user, study) if study is not None else None
    if role is None or (need == RUN and role == StudyMembership.Role.VIEWER):
        raise Http404("No such study")
    return study  # type: ignore[return-value]


def studies_for_user(user: User | AnonymousUser) -> list[tuple[Study, str]]:
    if not user.is_authenticated:
        return []
    if getattr(user, "is_superuser", False):
        return [(s, StudyMembership.Role.OWNER) for s in Study.objects.all()]
    return [
        (m.study, m.role) for m in StudyMembership.objects.filter(user=user).select_related("study")
    ]


def get_round_for_user(user: User | AnonymousUser, slug: str, number: int, need: str) -> Round:
    """The study's round ``number`` if `user` may `need` the study; 404 otherwise."""
    study = get_study_for_user(user, slug, need)
    round = Round.objects.select_related("study__protocol").filter(study=study, number=number)
    found = round.first()
    if found is None:
        raise Http404("No such round")
    return found
