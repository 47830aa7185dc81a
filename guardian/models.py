"""The database: tortoise models. Instants are stored in UTC (tortoise `use_tz`), never naive.

Schema changes go through tortoise's built-in migrations in `guardian/migrations/`
(`tortoise makemigrations`), applied by `guardian migrate` and at start.

Model docstrings avoid quotes and semicolons, and field comments are plain `#` comments:
tortoise writes docstrings and `#:` comments into the schema SQL unescaped.

One module: the whole schema in one place, as the migrations in `guardian/migrations/` see it.
"""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model

from guardian.words import DeliveryStatus, Role


class Household(Model):
    id = fields.CharField(primary_key=True, max_length=64)
    name = fields.CharField(max_length=200)
    timezone = fields.CharField(max_length=64)
    # What Guardian writes to members is in this language, unless a member has their own.
    language = fields.CharField(max_length=8, default="en", db_default="en")
    created_at = fields.DatetimeField()
    # Raised by every admin change, so that other instances reload the household.
    revision = fields.IntField(default=0, db_default=0)

    class Meta:
        table = "households"


class Policy(Model):
    id = fields.IntField(primary_key=True)
    household: fields.ForeignKeyRelation[Household] = fields.ForeignKeyField(
        "guardian.Household", related_name="policies", on_delete=fields.CASCADE
    )
    household_id: str
    name = fields.CharField(max_length=64)
    spec: Any = fields.JSONField()

    class Meta:
        table = "policies"
        unique_together = (("household", "name"),)


class Member(Model):
    id = fields.IntField(primary_key=True)
    household: fields.ForeignKeyRelation[Household] = fields.ForeignKeyField(
        "guardian.Household", related_name="members", on_delete=fields.CASCADE
    )
    household_id: str
    slug = fields.CharField(max_length=64)
    name = fields.CharField(max_length=200)
    role = fields.CharField(max_length=16)
    policy = fields.CharField(max_length=64, null=True)
    channels: Any = fields.JSONField(default=list)
    # The member's own language, or null for the household's.
    language = fields.CharField(max_length=8, null=True)

    class Meta:
        table = "members"
        unique_together = (("household", "slug"),)


class Contact(Model):
    id = fields.IntField(primary_key=True)
    household: fields.ForeignKeyRelation[Household] = fields.ForeignKeyField(
        "guardian.Household", related_name="contacts", on_delete=fields.CASCADE
    )
    household_id: str
    slug = fields.CharField(max_length=64)
    name = fields.CharField(max_length=200)
    trust = fields.CharField(max_length=16, default="normal")
    addresses: Any = fields.JSONField(default=list)

    class Meta:
        table = "contacts"
        unique_together = (("household", "slug"),)


class Source(Model):
    id = fields.IntField(primary_key=True)
    household: fields.ForeignKeyRelation[Household] = fields.ForeignKeyField(
        "guardian.Household", related_name="sources", on_delete=fields.CASCADE
    )
    household_id: str
    slug = fields.CharField(max_length=64)
    plugin = fields.CharField(max_length=64)
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "guardian.Member", related_name="sources", on_delete=fields.CASCADE
    )
    member_id: int
    # Other members (slugs) it may write to: a household hub such as a shared SMS phone.
    members: Any = fields.JSONField(default=list, db_default="[]")
    settings: Any = fields.JSONField(default=dict)
    # Off: paused (not read, its requests answered 503) until turned on again.
    enabled = fields.BooleanField(default=True, db_default=True)

    class Meta:
        table = "sources"
        unique_together = (("household", "slug"),)


class PullState(Model):
    """What Guardian keeps of a pull source: its cursor, which instance runs it, how it goes.

    The cursor is written in the transaction that stores the notifications it covers, and only
    by the instance that holds the lease: an instance whose lease another took stores nothing.
    """

    source: fields.OneToOneRelation[Source] = fields.OneToOneField(
        "guardian.Source", related_name="pull", on_delete=fields.CASCADE, primary_key=True
    )
    source_id: int
    # The plugin the cursor belongs to: a source given another plugin starts again at now.
    plugin = fields.CharField(max_length=64)
    cursor: str | None = fields.TextField(null=True)
    # The instance running it, until when (it renews well before).
    owner = fields.CharField(max_length=64, null=True)
    lease_until = fields.DatetimeField(null=True)
    last_poll_at = fields.DatetimeField(null=True)
    last_message_at = fields.DatetimeField(null=True)
    # The last failure in a row (cleared by the next batch stored), and when it is retried.
    last_error = fields.CharField(max_length=300, null=True)
    failed_at = fields.DatetimeField(null=True)
    retry_at = fields.DatetimeField(null=True)
    failures = fields.IntField(default=0, db_default=0)

    class Meta:
        table = "pull_state"


class Delivery(Model):
    """One outbound message to the channels of a member, sent outside any transaction."""

    id = fields.IntField(primary_key=True)
    household: fields.ForeignKeyRelation[Household] = fields.ForeignKeyField(
        "guardian.Household", related_name="deliveries", on_delete=fields.CASCADE
    )
    household_id: str
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "guardian.Member", related_name="deliveries", on_delete=fields.CASCADE
    )
    member_id: int
    kind = fields.CharField(max_length=16)
    # Makes building the same delivery twice (a summary for one window end) impossible.
    dedup_key = fields.CharField(max_length=255, unique=True)
    title = fields.CharField(max_length=250)
    body = fields.TextField()
    # The same body in Markdown, for channels that show rich text; plain ones get `body`.
    body_markdown: str | None = fields.TextField(null=True)
    notify_type = fields.CharField(max_length=16, default="info")
    status = fields.CharField(max_length=16, default=DeliveryStatus.PENDING, db_index=True)
    attempts = fields.IntField(default=0)
    created_at = fields.DatetimeField()
    next_attempt_at = fields.DatetimeField(db_index=True)
    claimed_at = fields.DatetimeField(null=True)
    sent_at = fields.DatetimeField(null=True)
    # Per channel: {"channel": privacy URL, "status": AppriseResult status or "pending", ...}
    channels: Any = fields.JSONField(default=list)
    last_error: str | None = fields.TextField(null=True)

    class Meta:
        table = "deliveries"
        # The deliverer's claims read the due pending ones in order: without status first, each
        # claim skipped every delivery ever sent (all due long ago).
        indexes = (("status", "next_attempt_at"),)


class Notification(Model):
    id = fields.UUIDField(primary_key=True)
    household: fields.ForeignKeyRelation[Household] = fields.ForeignKeyField(
        "guardian.Household", related_name="notifications", on_delete=fields.CASCADE
    )
    household_id: str
    source: fields.ForeignKeyRelation[Source] = fields.ForeignKeyField(
        "guardian.Source", related_name="notifications", on_delete=fields.CASCADE
    )
    source_id: int
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "guardian.Member", related_name="notifications", on_delete=fields.CASCADE
    )
    member_id: int
    external_id = fields.CharField(max_length=255)
    network = fields.CharField(max_length=32)
    sender_address = fields.CharField(max_length=300)
    sender_name = fields.CharField(max_length=200, null=True)
    # The person: `contact:<id>` for a known contact, else the canonical address.
    sender_key = fields.CharField(max_length=300)
    contact: fields.ForeignKeyNullableRelation[Contact] = fields.ForeignKeyField(
        "guardian.Contact", related_name="notifications", null=True, on_delete=fields.SET_NULL
    )
    contact_id: int | None
    conversation_id = fields.CharField(max_length=255, null=True)
    conversation_title = fields.CharField(max_length=200, null=True)
    is_group = fields.BooleanField(default=False)
    # Erased once summarised or pushed; `preview` keeps 80 characters where the report of a
    # guardian at the `preview` level still needs them, until that report is built.
    text = fields.TextField()
    preview = fields.CharField(max_length=100, null=True)
    sent_at = fields.DatetimeField()
    received_at = fields.DatetimeField()
    # held → summarised; folded → noticed; or forwarded / breakthrough at once.
    status = fields.CharField(max_length=16)
    # Why: `keyword <keyword>` holds a keyword of up to 100 characters.
    reason = fields.CharField(max_length=200, null=True)
    delivery: fields.ForeignKeyNullableRelation[Delivery] = fields.ForeignKeyField(
        "guardian.Delivery", related_name="notifications", null=True, on_delete=fields.SET_NULL
    )
    delivery_id: int | None
    episode: fields.ForeignKeyNullableRelation[Episode] = fields.ForeignKeyField(
        "guardian.Episode", related_name="notifications", null=True, on_delete=fields.SET_NULL
    )
    episode_id: int | None

    class Meta:
        table = "notifications"
        unique_together = (("source", "external_id"),)
        indexes = (("member_id", "status"),)


class Episode(Model):
    """A burst (outside quiet hours) or a storm (inside them) from one sender to one member."""

    id = fields.IntField(primary_key=True)
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "guardian.Member", related_name="episodes", on_delete=fields.CASCADE
    )
    member_id: int
    kind = fields.CharField(max_length=8)  # burst or storm
    sender_key = fields.CharField(max_length=300)
    sender_label = fields.CharField(max_length=200)
    started_at = fields.DatetimeField()
    last_at = fields.DatetimeField()
    count = fields.IntField(default=0)
    # Bursts: when the next notice is due; None once the burst is over.
    next_notice_at = fields.DatetimeField(null=True, db_index=True)
    ended_at = fields.DatetimeField(null=True)

    class Meta:
        table = "episodes"
        indexes = (("member_id", "kind", "sender_key"),)


class Sender(Model):
    """What the policy keeps of the recent messages of one sender to one member.

    The facts that bursts, repeated contact and storms are decided on: read under a lock and
    written in the transaction that stores each notification (policy.SenderState as JSON).
    """

    id = fields.IntField(primary_key=True)
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "guardian.Member", related_name="senders", on_delete=fields.CASCADE
    )
    member_id: int
    sender_key = fields.CharField(max_length=300)
    state = fields.TextField()
    # The sender's burst and storm going on, if any (the episode row says whether it ended).
    burst: fields.ForeignKeyNullableRelation[Episode] = fields.ForeignKeyField(
        "guardian.Episode", related_name="burst_senders", null=True, on_delete=fields.SET_NULL
    )
    burst_id: int | None
    storm: fields.ForeignKeyNullableRelation[Episode] = fields.ForeignKeyField(
        "guardian.Episode", related_name="storm_senders", null=True, on_delete=fields.SET_NULL
    )
    storm_id: int | None

    class Meta:
        table = "senders"
        unique_together = (("member", "sender_key"),)


class Schedule(Model):
    """The next due instant of a timed job of a member, kept in the database, not in memory."""

    id = fields.IntField(primary_key=True)
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "guardian.Member", related_name="schedules", on_delete=fields.CASCADE
    )
    member_id: int
    kind = fields.CharField(max_length=16)
    next_due_at = fields.DatetimeField(null=True, db_index=True)
    last_due_at = fields.DatetimeField(null=True)

    class Meta:
        table = "schedules"
        unique_together = (("member", "kind"),)


class User(Model):
    """A dashboard login of a guardian, or of a child who sees only their own page."""

    id = fields.IntField(primary_key=True)
    household: fields.ForeignKeyRelation[Household] = fields.ForeignKeyField(
        "guardian.Household", related_name="users", on_delete=fields.CASCADE
    )
    household_id: str
    username = fields.CharField(max_length=64)
    # argon2id, in its own encoded form with salt and parameters
    password_hash = fields.CharField(max_length=255)
    member: fields.ForeignKeyNullableRelation[Member] = fields.ForeignKeyField(
        "guardian.Member", related_name="users", null=True, on_delete=fields.SET_NULL
    )
    member_id: int | None
    # guardian or child: a child login stays one even if its member is removed.
    role = fields.CharField(max_length=16, default=Role.GUARDIAN, db_default=Role.GUARDIAN)
    created_at = fields.DatetimeField()
    # The dashboard's language chosen with the switch on the page; null for automatic (the
    # member's language, else the household's).
    language = fields.CharField(max_length=8, null=True)

    class Meta:
        table = "users"
        unique_together = (("household", "username"),)


class WebSession(Model):
    """A logged-in browser. Only the SHA-256 of the cookie value is stored."""

    id = fields.IntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "guardian.User", related_name="sessions", on_delete=fields.CASCADE
    )
    user_id: int
    token_hash = fields.CharField(max_length=64, unique=True)
    csrf_token = fields.CharField(max_length=64)
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField(db_index=True)

    class Meta:
        table = "web_sessions"


class ApiToken(Model):
    """A token for scripts, sent as a bearer token. Only its SHA-256 is stored."""

    id = fields.IntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "guardian.User", related_name="tokens", on_delete=fields.CASCADE
    )
    user_id: int
    name = fields.CharField(max_length=100)
    token_hash = fields.CharField(max_length=64, unique=True)
    created_at = fields.DatetimeField()
    last_used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "api_tokens"


class AuditEntry(Model):
    """One admin change: who, what, when. Never holds a secret."""

    id = fields.IntField(primary_key=True)
    household: fields.ForeignKeyRelation[Household] = fields.ForeignKeyField(
        "guardian.Household", related_name="audit", on_delete=fields.CASCADE
    )
    household_id: str
    at = fields.DatetimeField(db_index=True)
    actor = fields.CharField(max_length=100)
    action = fields.CharField(max_length=64)
    target = fields.CharField(max_length=200)
    detail: Any = fields.JSONField(default=dict)
    # The members the change is about, as a comma list with commas around (,mia,sam,) so
    # that a filter by member is a plain LIKE on every database.
    members = fields.CharField(max_length=1000, default="", db_default="")
    # What changed, before and after (only the changed fields); null where nothing was before
    # (a creation) or after (a deletion), or for an action that changes no setting.
    before: Any = fields.JSONField(null=True)
    after: Any = fields.JSONField(null=True)

    class Meta:
        table = "audit_log"


class QuietOverride(Model):
    """A one-off change to a member's quiet hours from the dashboard's quick controls.

    Quiet from start to end (kind quiet), or no quiet hours then (kind pause). A temporary
    state of one member, not a setting: settings.toml and export never carry it. Undone by
    deleting the row.
    """

    id = fields.IntField(primary_key=True)
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "guardian.Member", related_name="overrides", on_delete=fields.CASCADE
    )
    member_id: int
    kind = fields.CharField(max_length=8)
    start_at = fields.DatetimeField()
    end_at = fields.DatetimeField(db_index=True)
    # Which quick control made it (quiet_until, pause_tonight, one_more_hour).
    control = fields.CharField(max_length=32)
    # The overrides one control made together share it, and are undone together.
    batch = fields.CharField(max_length=32)
    created_at = fields.DatetimeField()
    created_by = fields.CharField(max_length=100)

    class Meta:
        table = "quiet_overrides"


class PolicyEpoch(Model):
    """The policy a member followed from since on (its spec as then), recorded at each change:
    the activity chart shades past days with the quiet hours in force then."""

    id = fields.IntField(primary_key=True)
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "guardian.Member", related_name="policy_epochs", on_delete=fields.CASCADE
    )
    member_id: int
    since = fields.DatetimeField(db_index=True)
    # The policy spec before the change (what was in force until since) and after it.
    before: Any = fields.JSONField(null=True)
    after: Any = fields.JSONField(null=True)

    class Meta:
        table = "policy_epochs"
