"""Panelist and Participation move from the panelists app to rounds (the core domain).

Only Django's model state moves: the tables keep their names (panelists_panelist,
panelists_participation) and every row stays where it is. The panelists app's side of the
move is panelists/0003_panel_moved_to_rounds.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('rounds', '0003_scheduled_reminder'),
        ('panelists', '0002_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name='Panelist',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('pseudonym', models.CharField(max_length=16, verbose_name='pseudonym')),
                        ('email', models.EmailField(max_length=254, verbose_name='e-mail')),
                        ('name', models.CharField(blank=True, max_length=200, verbose_name='name')),
                        ('language', models.CharField(choices=[('en', 'English'), ('fr', 'French'), ('nl', 'Dutch')], default='en', max_length=8, verbose_name='language')),
                        ('group', models.CharField(blank=True, max_length=80, verbose_name='stakeholder group')),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('study', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='panelists', to='rounds.study')),
                    ],
                    options={
                        'verbose_name': 'panelist',
                        'verbose_name_plural': 'panelists',
                        'db_table': 'panelists_panelist',
                        'ordering': ['study', 'pseudonym'],
                    },
                ),
                migrations.AlterField(
                    model_name='rating',
                    name='panelist',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='ratings', to='rounds.panelist'),
                ),
                migrations.CreateModel(
                    name='Participation',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('status', models.CharField(choices=[('invited', 'Invited'), ('opened', 'Opened'), ('in_progress', 'In progress'), ('submitted', 'Submitted')], default='invited', max_length=16, verbose_name='status')),
                        ('consented_at', models.DateTimeField(blank=True, null=True)),
                        ('opened_at', models.DateTimeField(blank=True, null=True)),
                        ('submitted_at', models.DateTimeField(blank=True, null=True)),
                        ('last_activity_at', models.DateTimeField(blank=True, null=True)),
                        ('panelist', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='participations', to='rounds.panelist')),
                        ('round', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='participations', to='rounds.round')),
                    ],
                    options={
                        'verbose_name': 'participation',
                        'verbose_name_plural': 'participations',
                        'db_table': 'panelists_participation',
                    },
                ),
                migrations.AddConstraint(
                    model_name='panelist',
                    constraint=models.UniqueConstraint(fields=('study', 'pseudonym'), name='panelist_pseudonym_unique'),
                ),
                migrations.AddConstraint(
                    model_name='panelist',
                    constraint=models.UniqueConstraint(fields=('study', 'email'), name='panelist_email_unique'),
                ),
                migrations.AddConstraint(
                    model_name='participation',
                    constraint=models.UniqueConstraint(fields=('panelist', 'round'), name='one_participation_per_round'),
                ),
            ],
        ),
    ]
