# The language Guardian writes in: the household's, and a member's own (null: the household's).
from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("guardian", "0003_decisions")]

    initial = False

    operations = [
        ops.AddField(
            model_name="Household",
            name="language",
            field=fields.CharField(default="en", db_default="en", max_length=8),
        ),
        ops.AddField(
            model_name="Member",
            name="language",
            field=fields.CharField(null=True, max_length=8),
        ),
    ]
