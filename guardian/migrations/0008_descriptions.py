# No schema change: the table descriptions as the models now have them, once the three
# migrations written in parallel (0005_pull, 0006_overrides, 0007_people) were chained.
from tortoise import migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("guardian", "0007_people")]

    initial = False

    operations = [
        ops.AlterModelOptions(
            name="PolicyEpoch",
            options={
                "table": "policy_epochs",
                "app": "guardian",
                "pk_attr": "id",
                "table_description": "The policy a member followed from since on (its spec as then), recorded at each change:",
            },
        ),
        ops.AlterModelOptions(
            name="PullState",
            options={
                "table": "pull_state",
                "app": "guardian",
                "pk_attr": "source_id",
                "table_description": "What Guardian keeps of a pull source: its cursor, which instance runs it, how it goes.",
            },
        ),
        ops.AlterModelOptions(
            name="QuietOverride",
            options={
                "table": "quiet_overrides",
                "app": "guardian",
                "pk_attr": "id",
                "table_description": "A one-off change to a member's quiet hours from the dashboard's quick controls.",
            },
        ),
    ]
