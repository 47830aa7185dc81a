# Sender state that decisions read and write in the database; long keyword reasons; hub sources.
import functools
from json import dumps, loads

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.migrations import operations as ops


class WidenOnPostgres(ops.AlterField):
    """A longer VARCHAR: PostgreSQL enforces the length; SQLite does not, and rebuilding the
    table there (how tortoise alters a column on SQLite) would cost every start a copy."""

    async def database_forward(self, app_label, old_state, new_state, state_editor=None):  # type: ignore[no-untyped-def]
        if state_editor is not None and state_editor.client.capabilities.dialect == "sqlite":
            return
        await super().database_forward(app_label, old_state, new_state, state_editor)


class Migration(migrations.Migration):
    dependencies = [("guardian", "0002_dashboard")]

    initial = False

    operations = [
        ops.CreateModel(
            name="Sender",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "member",
                    fields.ForeignKeyField(
                        "guardian.Member",
                        source_field="member_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="senders",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("sender_key", fields.CharField(max_length=300)),
                ("state", fields.TextField(unique=False)),
                (
                    "burst",
                    fields.ForeignKeyField(
                        "guardian.Episode",
                        source_field="burst_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="burst_senders",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                (
                    "storm",
                    fields.ForeignKeyField(
                        "guardian.Episode",
                        source_field="storm_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="storm_senders",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
            ],
            options={
                "table": "senders",
                "app": "guardian",
                "unique_together": (("member", "sender_key"),),
                "pk_attr": "id",
                "table_description": "What the policy keeps of the recent messages of one sender to one member.",
            },
            bases=["Model"],
        ),
        WidenOnPostgres(
            model_name="Notification",
            name="reason",
            field=fields.CharField(null=True, max_length=200),
        ),
        ops.AddField(
            model_name="Source",
            name="members",
            field=fields.JSONField(
                default=list,
                db_default="[]",
                encoder=functools.partial(dumps, separators=(",", ":")),
                decoder=loads,
            ),
        ),
    ]
