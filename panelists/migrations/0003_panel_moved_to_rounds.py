"""The panelists app's side of moving Panelist and Participation to rounds: state only.

The tables and their rows stay as they are (see rounds/0004_move_panel_here); the content
types follow the models so that permissions granted on them are kept.
"""

import django.db.models.deletion
from django.db import migrations, models


def move_content_types(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model in ("panelist", "participation"):
        if not ContentType.objects.filter(app_label="rounds", model=model).exists():
            ContentType.objects.filter(app_label="panelists", model=model).update(
                app_label="rounds"
            )


def restore_content_types(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model in ("panelist", "participation"):
        if not ContentType.objects.filter(app_label="panelists", model=model).exists():
            ContentType.objects.filter(app_label="rounds", model=model).update(
                app_label="panelists"
            )


class Migration(migrations.Migration):

    dependencies = [
        ('contenttypes', '0002_remove_content_type_name'),
        ('panelists', '0002_initial'),
        ('rounds', '0004_move_panel_here'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.AlterField(
                    model_name='personallink',
                    name='panelist',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='links', to='rounds.panelist'),
                ),
                migrations.AlterField(
                    model_name='emailmessage',
                    name='panelist',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='emails', to='rounds.panelist'),
                ),
                migrations.RemoveField(
                    model_name='participation',
                    name='panelist',
                ),
                migrations.RemoveField(
                    model_name='participation',
                    name='round',
                ),
                migrations.DeleteModel(
                    name='Panelist',
                ),
                migrations.DeleteModel(
                    name='Participation',
                ),
            ],
        ),
        migrations.RunPython(move_content_types, restore_content_types),
    ]
