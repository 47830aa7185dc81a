# Pull sources: the cursor Guardian stores with their notifications, the lease, how each goes;
# and any source can be paused.
from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("guardian", "0004_languages")]

    initial = False

    operations = [
        ops.CreateModel(
            name="PullState",
            fields=[
                (
                    "source",
                    fields.OneToOneField(
                        "guardian.Source",
                        source_field="source_id",
                        primary_key=True,
                        db_index=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="pull",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("plugin", fields.CharField(max_length=64)),
                ("cursor", fields.TextField(null=True, unique=False)),
                ("owner", fields.CharField(null=True, max_length=64)),
                (
                    "lease_until",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                (
                    "last_poll_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                (
                    "last_message_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                ("last_error", fields.CharField(null=True, max_length=300)),
                ("failed_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("retry_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("failures", fields.IntField(default=0, db_default=0)),
            ],
            options={
                "table": "pull_state",
                "app": "guardian",
                "pk_attr": "source_id",
                "table_description": "What Guardian keeps of a pull source: its cursor, which instance runs it, how it goes.",
            },
            bases=["Model"],
        ),
        ops.AddField(
            model_name="Source",
            name="enabled",
            field=fields.BooleanField(default=True, db_default=True),
        ),
    ]
