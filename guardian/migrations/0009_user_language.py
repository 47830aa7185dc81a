# The dashboard's language a login chose with the switch on the page (null: automatic).
from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("guardian", "0008_descriptions")]

    initial = False

    operations = [
        ops.AddField(
            model_name="User",
            name="language",
            field=fields.CharField(null=True, max_length=8),
        ),
    ]
