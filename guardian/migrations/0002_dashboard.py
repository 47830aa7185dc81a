# Accounts, sessions, API tokens and the audit log for the dashboard; a household revision.
import functools
from json import dumps, loads

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("guardian", "0001_initial")]

    initial = False

    operations = [
        ops.CreateModel(
            name="AuditEntry",
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
                        related_name="audit",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("at", fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ("actor", fields.CharField(max_length=100)),
                ("action", fields.CharField(max_length=64)),
                ("target", fields.CharField(max_length=200)),
                (
                    "detail",
                    fields.JSONField(
                        default=dict,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
            ],
            options={
                "table": "audit_log",
                "app": "guardian",
                "pk_attr": "id",
                "table_description": "One admin change: who, what, when. Never holds a secret.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="User",
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
                        related_name="users",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("username", fields.CharField(max_length=64)),
                ("password_hash", fields.CharField(max_length=255)),
                (
                    "member",
                    fields.ForeignKeyField(
                        "guardian.Member",
                        source_field="member_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="users",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "users",
                "app": "guardian",
                "unique_together": (("household", "username"),),
                "pk_attr": "id",
                "table_description": "A dashboard login of a guardian. Children never get one.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="ApiToken",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "user",
                    fields.ForeignKeyField(
                        "guardian.User",
                        source_field="user_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="tokens",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("name", fields.CharField(max_length=100)),
                ("token_hash", fields.CharField(unique=True, max_length=64)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                (
                    "last_used_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
            ],
            options={
                "table": "api_tokens",
                "app": "guardian",
                "pk_attr": "id",
                "table_description": "A token for scripts, sent as a bearer token. Only its SHA-256 is stored.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="WebSession",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "user",
                    fields.ForeignKeyField(
                        "guardian.User",
                        source_field="user_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="sessions",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("token_hash", fields.CharField(unique=True, max_length=64)),
                ("csrf_token", fields.CharField(max_length=64)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                (
                    "expires_at",
                    fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False),
                ),
            ],
            options={
                "table": "web_sessions",
                "app": "guardian",
                "pk_attr": "id",
                "table_description": "A logged-in browser. Only the SHA-256 of the cookie value is stored.",
            },
            bases=["Model"],
        ),
        ops.AddField(
            model_name="Household",
            name="revision",
            field=fields.IntField(default=0, db_default=0),
        ),
    ]
