# A child's dashboard login (users.role), and the audit log's before, after and members.
from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("guardian", "0006_overrides")]

    initial = False

    operations = [
        ops.AlterModelOptions(
            name="User",
            options={
                "table": "users",
                "app": "guardian",
                "unique_together": (("household", "username"),),
                "pk_attr": "id",
                "table_description": "A dashboard login of a guardian, or of a child who sees "
                "only their own page.",
            },
        ),
        ops.AddField(
            model_name="User",
            name="role",
            field=fields.CharField(default="guardian", db_default="guardian", max_length=16),
        ),
        ops.AddField(
            model_name="AuditEntry",
            name="members",
            field=fields.CharField(default="", db_default="", max_length=1000),
        ),
        ops.AddField(
            model_name="AuditEntry",
            name="before",
            field=fields.JSONField(null=True),
        ),
        ops.AddField(
            model_name="AuditEntry",
            name="after",
            field=fields.JSONField(null=True),
        ),
    ]
