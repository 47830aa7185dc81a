# The dashboard's quick controls (quiet now until, pause tonight, one more hour) as quiet-hours
# overrides per member, and the policy each member followed over time (for the activity chart).
import functools
from json import dumps, loads

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.migrations import operations as ops


def _json() -> fields.JSONField:  # type: ignore[type-arg]
    return fields.JSONField(
        null=True, encoder=functools.partial(dumps, separators=(",", ":")), decoder=loads
    )


class Migration(migrations.Migration):
    # Another branch may add a 0005 (the audit log) at the same time: the lead re-chains.
    dependencies = [("guardian", "0005_pull")]

    initial = False

    operations = [
        ops.CreateModel(
            name="QuietOverride",
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
                        related_name="overrides",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("kind", fields.CharField(max_length=8)),
                ("start_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("end_at", fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ("control", fields.CharField(max_length=32)),
                ("batch", fields.CharField(max_length=32)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("created_by", fields.CharField(max_length=100)),
            ],
            options={
                "table": "quiet_overrides",
                "app": "guardian",
                "pk_attr": "id",
                "table_description": "A one-off change to a member's quiet hours.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="PolicyEpoch",
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
                        related_name="policy_epochs",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("since", fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ("before", _json()),
                ("after", _json()),
            ],
            options={
                "table": "policy_epochs",
                "app": "guardian",
                "pk_attr": "id",
                "table_description": "The policy a member followed over time.",
            },
            bases=["Model"],
        ),
    ]
