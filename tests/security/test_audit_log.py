"""The audit log is append-only: no update or delete path in the application, and on
PostgreSQL a trigger refuses them too; deleting a whole study still works (the demo does)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.db import IntegrityError, InternalError, ProgrammingError, connection, transaction
from django.db.models import ProtectedError

from rounds.models import AuditEntry, AuditLogIsAppendOnly, Study
from rounds.services import audit_record
from tests.factories import make_study

pytestmark = pytest.mark.django_db


def _entry() -> AuditEntry:
    return audit_record(study=make_study(), action="test.done", target="x", reason="why")


def test_an_entry_cannot_be_changed_through_the_model() -> None:
    entry = _entry()
    entry.reason = "rewritten"
    with pytest.raises(AuditLogIsAppendOnly):
        entry.save()
    with pytest.raises(AuditLogIsAppendOnly):
        AuditEntry.objects.filter(pk=entry.pk).update(reason="rewritten")
    with pytest.raises(AuditLogIsAppendOnly), transaction.atomic():
        AuditEntry.objects.bulk_update([entry], ["reason"])
    assert AuditEntry.objects.get(pk=entry.pk).reason == "why"


def test_an_entry_cannot_be_deleted_through_the_model() -> None:
    entry = _entry()
    with pytest.raises(AuditLogIsAppendOnly):
        entry.delete()
    with pytest.raises(AuditLogIsAppendOnly):
        AuditEntry.objects.filter(pk=entry.pk).delete()
    assert AuditEntry.objects.filter(pk=entry.pk).exists()


def test_a_user_who_acted_cannot_be_deleted() -> None:
    user = User.objects.create_user("coord")
    audit_record(study=make_study(), action="test.done", by=user)
    with pytest.raises(ProtectedError):
        user.delete()


def test_deleting_a_study_takes_its_log_along_and_leaves_the_others() -> None:
    kept = _entry()
    study = make_study()
    audit_record(study=study, action="test.done")
    study.delete()
    other = make_study()
    audit_record(study=other, action="test.done")
    Study.objects.filter(pk=other.pk).delete()  # as the demo rebuild does
    assert list(AuditEntry.objects.values_list("pk", flat=True)) == [kept.pk]


postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the trigger exists on PostgreSQL only"
)
REFUSED = (InternalError, ProgrammingError, IntegrityError)


@postgresql
def test_postgresql_refuses_update_and_delete_in_raw_sql() -> None:
    entry = _entry()
    for sql in [
        "UPDATE rounds_auditentry SET reason = 'rewritten' WHERE id = %s",
        "DELETE FROM rounds_auditentry WHERE id = %s",
    ]:
        with (
            pytest.raises(REFUSED, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql, [entry.pk])
    assert AuditEntry.objects.get(pk=entry.pk).reason == "why"


@postgresql
def test_postgresql_lets_only_the_named_study_take_its_entries() -> None:
    entry = _entry()
    other = make_study()
    setting = "SELECT set_config('delphi.deleting_studies', %s, true)"
    with (
        pytest.raises(REFUSED, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(setting, [str(other.pk)])
        cursor.execute("DELETE FROM rounds_auditentry WHERE id = %s", [entry.pk])
    assert AuditEntry.objects.filter(pk=entry.pk).exists()
