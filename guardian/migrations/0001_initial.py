import functools
from json import dumps, loads
from uuid import uuid4

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name="Household",
            fields=[
                (
                    "id",
                    fields.CharField(primary_key=True, unique=True, db_index=True, max_length=64),
                ),
                ("name", fields.CharField(max_length=200)),
                ("timezone", fields.CharField(max_length=64)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={"table": "households", "app": "guardian", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Contact",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "household",
                    fields.ForeignKeyField(
                        "guardian.Household",
                        source_field="household_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="contacts",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("slug", fields.CharField(max_length=64)),
                ("name", fields.CharField(max_length=200)),
                ("trust", fields.CharField(default="normal", max_length=16)),
                (
                    "addresses",
                    fields.JSONField(
                        default=list,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
            ],
            options={
                "table": "contacts",
                "app": "guardian",
                "unique_together": (("household", "slug"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Member",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "household",
                    fields.ForeignKeyField(
                        "guardian.Household",
                        source_field="household_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="members",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("slug", fields.CharField(max_length=64)),
                ("name", fields.CharField(max_length=200)),
                ("role", fields.CharField(max_length=16)),
                ("policy", fields.CharField(null=True, max_length=64)),
                (
                    "channels",
                    fields.JSONField(
                        default=list,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
            ],
            options={
                "table": "members",
                "app": "guardian",
                "unique_together": (("household", "slug"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Delivery",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "household",
                    fields.ForeignKeyField(
                        "guardian.Household",
                        source_field="household_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="deliveries",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "member",
                    fields.ForeignKeyField(
                        "guardian.Member",
                        source_field="member_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="deliveries",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("kind", fields.CharField(max_length=16)),
                ("dedup_key", fields.CharField(unique=True, max_length=255)),
                ("title", fields.CharField(max_length=250)),
                ("body", fields.TextField(unique=False)),
                ("body_markdown", fields.TextField(null=True, unique=False)),
                ("notify_type", fields.CharField(default="info", max_length=16)),
                ("status", fields.CharField(default="pending", db_index=True, max_length=16)),
                ("attempts", fields.IntField(default=0)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                (
                    "next_attempt_at",
                    fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False),
                ),
                ("claimed_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("sent_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                (
                    "channels",
                    fields.JSONField(
                        default=list,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                ("last_error", fields.TextField(null=True, unique=False)),
            ],
            options={
                "table": "deliveries",
                "app": "guardian",
                "pk_attr": "id",
                "table_description": "One outbound message to the channels of a member, sent outside any transaction.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Episode",
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
                        related_name="episodes",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("kind", fields.CharField(max_length=8)),
                ("sender_key", fields.CharField(max_length=300)),
                ("sender_label", fields.CharField(max_length=200)),
                ("started_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("last_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("count", fields.IntField(default=0)),
                (
                    "next_notice_at",
                    fields.DatetimeField(
                        null=True, db_index=True, auto_now=False, auto_now_add=False
                    ),
                ),
                ("ended_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "episodes",
                "app": "guardian",
                "indexes": [Index(fields=["member_id", "kind", "sender_key"])],
                "pk_attr": "id",
                "table_description": "A burst (outside quiet hours) or a storm (inside them) from one sender to one member.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Policy",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "household",
                    fields.ForeignKeyField(
                        "guardian.Household",
                        source_field="household_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="policies",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("name", fields.CharField(max_length=64)),
                (
                    "spec",
                    fields.JSONField(
                        encoder=functools.partial(dumps, separators=(",", ":")), decoder=loads
                    ),
                ),
            ],
            options={
                "table": "policies",
                "app": "guardian",
                "unique_together": (("household", "name"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Schedule",
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
                        related_name="schedules",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("kind", fields.CharField(max_length=16)),
                (
                    "next_due_at",
                    fields.DatetimeField(
                        null=True, db_index=True, auto_now=False, auto_now_add=False
                    ),
                ),
                (
                    "last_due_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
            ],
            options={
                "table": "schedules",
                "app": "guardian",
                "unique_together": (("member", "kind"),),
                "pk_attr": "id",
                "table_description": "The next due instant of a timed job of a member, kept in the database, not in memory.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Source",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "household",
                    fields.ForeignKeyField(
                        "guardian.Household",
                        source_field="household_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="sources",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("slug", fields.CharField(max_length=64)),
                ("plugin", fields.CharField(max_length=64)),
                (
                    "member",
                    fields.ForeignKeyField(
                        "guardian.Member",
                        source_field="member_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="sources",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "settings",
                    fields.JSONField(
                        default=dict,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
            ],
            options={
                "table": "sources",
                "app": "guardian",
                "unique_together": (("household", "slug"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Notification",
            fields=[
                (
                    "id",
                    fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True),
                ),
                (
                    "household",
                    fields.ForeignKeyField(
                        "guardian.Household",
                        source_field="household_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="notifications",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "source",
                    fields.ForeignKeyField(
                        "guardian.Source",
                        source_field="source_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="notifications",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "member",
                    fields.ForeignKeyField(
                        "guardian.Member",
                        source_field="member_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="notifications",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("external_id", fields.CharField(max_length=255)),
                ("network", fields.CharField(max_length=32)),
                ("sender_address", fields.CharField(max_length=300)),
                ("sender_name", fields.CharField(null=True, max_length=200)),
                ("sender_key", fields.CharField(max_length=300)),
                (
                    "contact",
                    fields.ForeignKeyField(
                        "guardian.Contact",
                        source_field="contact_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="notifications",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                ("conversation_id", fields.CharField(null=True, max_length=255)),
                ("conversation_title", fields.CharField(null=True, max_length=200)),
                ("is_group", fields.BooleanField(default=False)),
                ("text", fields.TextField(unique=False)),
                ("preview", fields.CharField(null=True, max_length=100)),
                ("sent_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("received_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("status", fields.CharField(max_length=16)),
                ("reason", fields.CharField(null=True, max_length=64)),
                (
                    "delivery",
                    fields.ForeignKeyField(
                        "guardian.Delivery",
                        source_field="delivery_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="notifications",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                (
                    "episode",
                    fields.ForeignKeyField(
                        "guardian.Episode",
                        source_field="episode_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="notifications",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
            ],
            options={
                "table": "notifications",
                "app": "guardian",
                "unique_together": (("source", "external_id"),),
                "indexes": [Index(fields=["member_id", "status"])],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
    ]
