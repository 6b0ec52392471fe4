"""Between rounds: reword, merge, split, drop and add items of the next (draft) round.

Every change keeps the lineage (`Item.derived_from`) and lands in the audit log, so panelists
and the report can show where an item came from.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction
from django.db.models import Max
from django.utils.translation import gettext as _

from rounds.errors import DomainError, TransitionError
from rounds.models import Item, Round, RoundItem, Study
from rounds.services import Actor, audit_record


def _editable(round: Round) -> None:
    if round.state != Round.State.DRAFT:
        raise TransitionError(
            _("Round %(n)d has opened; its items can no longer change.") % {"n": round.number}
        )


def _check_texts(study: Study, texts: dict[str, str]) -> dict[str, str]:
    clean = {code: (texts.get(code) or "").strip() for code in study.languages}
    missing = [code for code, text in clean.items() if not text]
    if missing:
        raise DomainError(
            _("Give the wording in every language of the study; missing: %(langs)s.")
            % {"langs": ", ".join(missing)}
        )
    too_long = [code for code, text in clean.items() if len(text) > 1000]
    if too_long:
        raise DomainError(_("Keep each wording under 1000 characters."))
    return clean


def _new_code(study: Study, code: str) -> str:
    code = code.strip()
    if not code or len(code) > 40:
        raise DomainError(_("Give the new item a code of 1 to 40 characters."))
    if Item.objects.filter(study_id=study.pk, code__iexact=code).exists():
        raise DomainError(_("The code %(code)s is already used; choose another.") % {"code": code})
    return code


def _next_position(study: Study) -> int:
    top = Item.objects.filter(study_id=study.pk).aggregate(top=Max("position"))["top"]
    return (top or 0) + 1


def item_reword(
    *, round_item: RoundItem, texts: dict[str, str], by: Actor = None, reason: str = ""
) -> RoundItem:
    round = round_item.round
    _editable(round)
    clean = _check_texts(round.study, texts)
    before = dict(round_item.text)
    with transaction.atomic():
        round_item.text = clean
        round_item.save(update_fields=["text"])
        Item.objects.filter(pk=round_item.item_id).update(text=clean)
        audit_record(
            study=round.study, action="item.reworded", target=round_item.item.code, by=by,
            before=before, after=clean, reason=reason,
        )  # fmt: skip
    return round_item


def item_drop(*, round_item: RoundItem, by: Actor = None, reason: str = "") -> None:
    round = round_item.round
    _editable(round)
    if not reason.strip():
        raise DomainError(_("Give a reason for dropping the item; it goes in the report."))
    with transaction.atomic():
        code = round_item.item.code
        round_item.delete()
        audit_record(
            study=round.study, action="item.dropped", target=code, by=by,
            before={"round": round.number}, reason=reason,
        )  # fmt: skip


def item_add(
    *,
    round: Round,
    code: str,
    texts: dict[str, str],
    domain: dict[str, str] | None = None,
    derived_from: Sequence[Item] = (),
    by: Actor = None,
    reason: str = "",
    action: str = "item.added",
    source: str = "",
    reference: str = "",
) -> RoundItem:
    _editable(round)
    with transaction.atomic():
        item = item_create(
            study=round.study, code=code, texts=texts, domain=domain, derived_from=derived_from,
            by=by, reason=reason, action=action, source=source, reference=reference,
        )  # fmt: skip
        round_item = RoundItem.objects.create(
            round=round, item=item, text=item.text, position=item.position
        )
    return round_item


def item_create(
    *,
    study: Study,
    code: str,
    texts: dict[str, str],
    domain: dict[str, str] | None = None,
    derived_from: Sequence[Item] = (),
    by: Actor = None,
    reason: str = "",
    action: str = "item.added",
    source: str = "",
    reference: str = "",
) -> Item:
    """A new item of the study (round 1, when it is created, takes every item)."""
    clean = _check_texts(study, texts)
    code = _new_code(study, code)
    with transaction.atomic():
        item = Item.objects.create(
            study=study,
            code=code,
            text=clean,
            domain=domain or (derived_from[0].domain if derived_from else {}),
            position=_next_position(study),
            source=source,
            reference=reference[:500],
        )
        item.derived_from.set(derived_from)
        audit_record(
            study=study, action=action, target=code, by=by,
            before={"from": [i.code for i in derived_from]} if derived_from else None,
            after=clean, reason=reason,
        )  # fmt: skip
    return item


def items_merge(
    *,
    round_items: Sequence[RoundItem],
    code: str,
    texts: dict[str, str],
    by: Actor = None,
    reason: str = "",
) -> RoundItem:
    """Replace two or more items of the draft round by one new item derived from them."""
    if len(round_items) < 2:
        raise DomainError(_("Choose at least two items to merge."))
    round = round_items[0].round
    if any(ri.round_id != round.pk for ri in round_items):
        raise DomainError(_("Items to merge must belong to the same round."))
    with transaction.atomic():
        merged = item_add(
            round=round, code=code, texts=texts, derived_from=[ri.item for ri in round_items],
            by=by, reason=reason, action="item.merged",
        )  # fmt: skip
        RoundItem.objects.filter(pk__in=[ri.pk for ri in round_items]).delete()
    return merged


def item_split(
    *,
    round_item: RoundItem,
    parts: Sequence[tuple[str, dict[str, str]]],
    by: Actor = None,
    reason: str = "",
) -> list[RoundItem]:
    """Replace one item of the draft round by several new items derived from it."""
    if len(parts) < 2:
        raise DomainError(_("A split needs at least two new items."))
    round = round_item.round
    with transaction.atomic():
        new = [
            item_add(
                round=round,
                code=code,
                texts=texts,
                derived_from=[round_item.item],
                by=by,
                reason=reason,
                action="item.split",
            )
            for code, texts in parts
        ]
        round_item.delete()
    return new
