from django.db import migrations

# On PostgreSQL the database itself refuses to change or delete a row of the rating history
# (real-time mode), whatever the client, as it does for the audit log (migration 0007): only
# deleting a whole study (rounds.models.Study.delete, which names its id in the
# transaction-local setting delphi.deleting_studies) takes its history along. The history
# names the panelist by id only: erasing a panelist (rounds.privacy.panelist_erase) changes
# the panelist's row, never the history.
TRIGGER = """
CREATE OR REPLACE FUNCTION rounds_ratingchange_append_only() RETURNS trigger AS $$
DECLARE
    deleting text := coalesce(current_setting('delphi.deleting_studies', true), '');
BEGIN
    IF TG_OP = 'DELETE' AND deleting <> '' AND EXISTS (
        SELECT 1 FROM rounds_rounditem ri JOIN rounds_round r ON r.id = ri.round_id
        WHERE ri.id = OLD.round_item_id
          AND r.study_id::text = ANY(string_to_array(deleting, ','))
    ) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'the rating history is append-only: % of rating change % refused',
        TG_OP, OLD.id USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS rounds_ratingchange_append_only ON rounds_ratingchange;
CREATE TRIGGER rounds_ratingchange_append_only BEFORE UPDATE OR DELETE ON rounds_ratingchange
    FOR EACH ROW EXECUTE FUNCTION rounds_ratingchange_append_only();
"""
DROP = """
DROP TRIGGER IF EXISTS rounds_ratingchange_append_only ON rounds_ratingchange;
DROP FUNCTION IF EXISTS rounds_ratingchange_append_only();
"""


def _on_postgresql(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)  # "%" in the SQL is PL/pgSQL, not a parameter

    return run


class Migration(migrations.Migration):

    dependencies = [
        ('rounds', '0014_round0_reminders_consent'),
    ]

    operations = [
        migrations.RunPython(_on_postgresql(TRIGGER), _on_postgresql(DROP)),
    ]
