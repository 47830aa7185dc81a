# The deliverer's claims: the due pending deliveries in order, from an index that starts with
# the status (with next_attempt_at alone, each claim skipped every delivery ever sent).
from tortoise import migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("guardian", "0009_user_language")]

    initial = False

    operations = [
        ops.AddIndex(
            model_name="Delivery",
            index=Index(fields=["status", "next_attempt_at"]),
        ),
    ]
