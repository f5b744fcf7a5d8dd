"""Directories, identity providers, Sync Connectors lists and the synced store."""

from __future__ import annotations

import zoneinfo
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, validate_email
from django.db import models
from django.urls import reverse

from connectors.protocol import settings as protocol
from console.fields import EncryptedTextField, is_lost, validate_printable
from directories import search
from directories.choices import (
    TIMED_FREQUENCIES,
    DirectoryType,
    Security,
    SyncFrequency,
    Weekday,
)


def _as_django(check, value, code: str):
    # Not code "invalid": a field would swap the message for its own generic one.
    try:
        return check(value)
    except ValueError as exc:
        raise ValidationError(str(exc), code=code) from exc


# The field validators call the rules the agent applies to the same settings, so what the
# console or the API stores is what a sync can send (connectors.protocol.settings).
def validate_dn(value: str) -> None:
    _as_django(protocol.check_dn, value, "invalid_dn")


def validate_dn_list(value: list) -> None:
    if not isinstance(value, list):
        raise ValidationError("Give a list of DNs.", code="invalid_dn")
    if len(value) > protocol.MAX_SCOPE_DNS:
        raise ValidationError(
            f"Give at most {protocol.MAX_SCOPE_DNS} DNs; a DN includes everything below it.",
            code="too_many_dns",
        )
    for dn in value:
        validate_dn(dn)


def validate_filter(value: str) -> None:
    _as_django(protocol.check_filter, value, "invalid_filter")


def validate_mapped_attributes(value: dict) -> None:
    _as_django(protocol.check_mapped_attributes, value, "invalid_attribute")


def validate_host(value: str) -> None:
    if not value.strip() or any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ValidationError(
            "Enter a host name or address without spaces or control characters.",
            code="invalid_host",
        )


def validate_pem_certificates(value: str) -> None:
    """One or more X.509 certificates in PEM form that actually parse."""
    from cryptography import x509

    text = value.strip()
    if not text:
        return
    if len(text) > protocol.MAX_CA_CERT_LENGTH:
        raise ValidationError(
            f"The CA certificates take at most {protocol.MAX_CA_CERT_LENGTH // 1024} KB.",
            code="too_long",
        )
    message = (
        "Paste the CA certificate in PEM form, from -----BEGIN CERTIFICATE----- "
        "to -----END CERTIFICATE-----."
    )
    if "-----BEGIN CERTIFICATE-----" not in text or "-----END CERTIFICATE-----" not in text:
        raise ValidationError(message, code="invalid_pem")
    try:
        x509.load_pem_x509_certificates(text.encode("ascii", "replace"))
    except ValueError:
        raise ValidationError(
            f"{message} What was pasted is not a readable certificate.", code="invalid_pem"
        ) from None


def validate_password_length(value: str) -> None:
    if value and len(value) > protocol.MAX_PASSWORD_LENGTH:
        raise ValidationError(
            f"A bind password has at most {protocol.MAX_PASSWORD_LENGTH} characters.",
            code="too_long",
        )


@lru_cache(maxsize=1)
def time_zone_names() -> frozenset[str]:
    """The IANA time zone names this machine knows (zoneinfo)."""
    return frozenset(zoneinfo.available_timezones())


def validate_time_zone(value: str) -> None:
    if value not in time_zone_names():
        raise ValidationError(
            f"{value!r} is not a time zone name; give one such as Europe/Paris or UTC.",
            code="invalid_time_zone",
        )


def default_time_zone() -> str:
    """The server's time zone (settings.TIME_ZONE), where a new schedule starts."""
    return settings.TIME_ZONE


MAX_NOTIFICATION_ADDRESSES = 20


def validate_email_list(value: list) -> None:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValidationError("Give a list of e-mail addresses.", code="invalid_email")
    if len(value) > MAX_NOTIFICATION_ADDRESSES:
        raise ValidationError(
            f"Give at most {MAX_NOTIFICATION_ADDRESSES} addresses.", code="too_many_addresses"
        )
    bad = []
    for address in value:
        try:
            validate_email(address)
        except ValidationError:
            bad.append(address)
    if bad:
        raise ValidationError(
            f"Not an e-mail address: {', '.join(repr(b[:80]) for b in bad)}.",
            code="invalid_email",
        )
    if len({a.lower() for a in value}) != len(value):
        raise ValidationError("An address is listed twice.", code="duplicate_email")


def _percent_or_null(name: str) -> models.Q:
    return models.Q(**{f"{name}__isnull": True}) | models.Q(
        **{f"{name}__gte": 1, f"{name}__lte": 100}
    )


# The safeguard thresholds, in the order the console lists them.
SAFEGUARD_FIELDS = (
    "safeguard_users_updated_percent",
    "safeguard_users_deleted_percent",
    "safeguard_groups_deleted_percent",
    "safeguard_members_removed_percent",
)


def _threshold(label: str, share: str) -> models.PositiveSmallIntegerField:
    """One safeguard threshold: a percentage from 1 to 100, 10 by default, blank to disable."""
    return models.PositiveSmallIntegerField(
        label,
        null=True,
        blank=True,
        default=10,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text=f"{share} Blank: no limit.",
    )


class IdentityProvider(models.Model):
    """The WorkspaceIDP: a directory's identity provider and its associated connectors."""

    name = models.CharField(max_length=100, unique=True, validators=[validate_printable])
    connectors = models.ManyToManyField(
        "connectors.Connector", blank=True, related_name="identity_providers"
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("directories:identityprovider_detail", args=[self.pk])


class Directory(models.Model):
    name = models.CharField(max_length=100, unique=True, validators=[validate_printable])
    type = models.CharField(max_length=8, choices=DirectoryType.choices)
    identity_provider = models.ForeignKey(
        IdentityProvider, on_delete=models.PROTECT, related_name="directories"
    )
    # The connector chosen at creation; it syncs alone while the list is empty (rule S3).
    sync_connector = models.ForeignKey(
        "connectors.Connector", on_delete=models.PROTECT, related_name="directories_as_sync"
    )

    host = models.CharField(max_length=255, validators=[validate_host])
    port = models.PositiveIntegerField(
        default=389, validators=[MinValueValidator(1), MaxValueValidator(65535)]
    )
    security = models.CharField(max_length=10, choices=Security.choices, default=Security.NONE)
    base_dn = models.CharField("base DN", max_length=500, validators=[validate_dn])
    bind_dn = models.CharField("bind DN", max_length=500, validators=[validate_dn])
    bind_password = EncryptedTextField(blank=True, validators=[validate_password_length])
    ca_cert = models.TextField(
        "CA certificate",
        blank=True,
        validators=[validate_pem_certificates],
        help_text="PEM certificate(s) the agent trusts for SSL/StartTLS; empty: the system CAs",
    )

    user_dns = models.JSONField("user DNs", default=list, blank=True, validators=[validate_dn_list])
    user_filter = models.CharField(max_length=1000, blank=True, validators=[validate_filter])
    group_dns = models.JSONField(
        "group DNs", default=list, blank=True, validators=[validate_dn_list]
    )
    group_filter = models.CharField(max_length=1000, blank=True, validators=[validate_filter])
    mapped_attributes = models.JSONField(
        default=dict, blank=True, validators=[validate_mapped_attributes]
    )

    sync_frequency = models.CharField(
        max_length=8, choices=SyncFrequency.choices, default=SyncFrequency.MANUAL
    )
    sync_time = models.TimeField(
        default="02:00", help_text="Time of day for daily and weekly syncs"
    )
    sync_weekday = models.PositiveSmallIntegerField(choices=Weekday.choices, default=Weekday.SUNDAY)
    sync_time_zone = models.CharField(
        "time zone",
        max_length=64,
        default=default_time_zone,
        validators=[validate_time_zone],
        help_text="IANA name (e.g. Europe/Paris) the sync time is read in",
    )
    # Who hears about a failed sync; empty: every Super Admin with an e-mail address.
    notification_emails = models.JSONField(
        "notification e-mail addresses",
        default=list,
        blank=True,
        validators=[validate_email_list],
        help_text="Told when a sync fails, is stopped by a safeguard or leaves member "
        "references unresolved; empty: the Super Admins' addresses",
    )
    # Set when a failure e-mail went out and no clean run has ended that streak since
    # (directories.notifications owns it: one e-mail per streak, one on recovery).
    failure_notified_at = models.DateTimeField(null=True, blank=True, editable=False)

    # Safeguards (percent of what the store holds; blank disables one). A sync past any of
    # them stops before writing; the rule itself is directories.sync.plan's.
    safeguard_users_updated_percent = _threshold(
        "users updated at most (%)", "Share of the stored users one sync may update."
    )
    safeguard_users_deleted_percent = _threshold(
        "users deleted at most (%)", "Share of the stored users one sync may delete."
    )
    safeguard_groups_deleted_percent = _threshold(
        "groups deleted at most (%)", "Share of the stored groups one sync may delete."
    )
    safeguard_members_removed_percent = _threshold(
        "members removed from a group at most (%)",
        "Share of the current members one sync may remove from any one existing group.",
    )

    # Bumped on every save of the Sync Connectors list; a form based on an older one is stale.
    sync_connectors_version = models.PositiveIntegerField(default=0)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "directories"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(port__gte=1, port__lte=65535),
                name="%(app_label)s_%(class)s_port_range",
            ),
            models.CheckConstraint(
                condition=_percent_or_null("safeguard_users_updated_percent")
                & _percent_or_null("safeguard_users_deleted_percent")
                & _percent_or_null("safeguard_groups_deleted_percent")
                & _percent_or_null("safeguard_members_removed_percent"),
                name="%(app_label)s_%(class)s_safeguard_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("directories:directory_detail", args=[self.pk])

    @property
    def schedule_summary(self) -> str:
        """The schedule in words, with its time zone: "Once a day at 02:00 (Europe/Paris)"."""
        label = self.get_sync_frequency_display()
        if self.sync_frequency == SyncFrequency.MANUAL:
            return label
        t = self.sync_time
        when = t.strftime("%H:%M") if hasattr(t, "strftime") else str(t)[:5]
        if self.sync_frequency == SyncFrequency.WEEKLY:
            return f"{label}, {self.get_sync_weekday_display()} at {when} ({self.sync_time_zone})"
        if self.sync_frequency in TIMED_FREQUENCIES:
            return f"{label} at {when} ({self.sync_time_zone})"
        return f"{label} ({self.sync_time_zone})"

    @property
    def bind_password_lost(self) -> bool:
        """The stored bind password cannot be decrypted with the current keys."""
        return is_lost(self.bind_password)


class SyncConnectorEntry(models.Model):
    """One place in a directory's Sync Connectors list (failover order)."""

    directory = models.ForeignKey(Directory, on_delete=models.CASCADE, related_name="sync_entries")
    connector = models.ForeignKey(
        "connectors.Connector", on_delete=models.PROTECT, related_name="sync_entries"
    )
    position = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["directory", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["directory", "connector"], name="%(app_label)s_%(class)s_unique_connector"
            ),
            models.UniqueConstraint(
                fields=["directory", "position"], name="%(app_label)s_%(class)s_unique_position"
            ),
            models.CheckConstraint(
                condition=models.Q(position__gte=1), name="%(app_label)s_%(class)s_position_from_1"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.directory} #{self.position}: {self.connector}"


class DirectoryUserQuerySet(models.QuerySet):
    def search(self, text: str) -> DirectoryUserQuerySet:
        """Users whose username, display name, first and last name or email contain `text`,
        case and accents ignored ("zoe" finds "Zoë"); `%` and `_` are plain characters."""
        folded = search.query(text)
        if folded is None:
            return self.none()
        return self.filter(search_text__contains=folded) if folded else self

    def bulk_create(self, objs, *args, **kwargs):
        objs = list(objs)
        for user in objs:
            user.search_text = user.folded_search_text()
        return super().bulk_create(objs, *args, **kwargs)


class DirectoryGroupQuerySet(models.QuerySet):
    def search(self, text: str) -> DirectoryGroupQuerySet:
        """Groups whose name contains `text`, case and accents ignored."""
        folded = search.query(text)
        if folded is None:
            return self.none()
        return self.filter(search_text__contains=folded) if folded else self

    def bulk_create(self, objs, *args, **kwargs):
        objs = list(objs)
        for group in objs:
            group.search_text = search.group_text(group.name)
        return super().bulk_create(objs, *args, **kwargs)


class DirectoryUser(models.Model):
    # The unique (directory, external_id) index serves lookups by directory; no second index.
    directory = models.ForeignKey(
        Directory, on_delete=models.CASCADE, related_name="users", db_index=False
    )
    external_id = models.CharField(max_length=64, help_text="entryUUID or objectGUID")
    dn = models.TextField("DN")
    username = models.CharField(max_length=255)
    first_name = models.CharField(max_length=255, blank=True)
    last_name = models.CharField(max_length=255, blank=True)
    email = models.CharField(max_length=255, blank=True)
    display_name = models.CharField(max_length=255, blank=True)
    upn = models.CharField("user principal name", max_length=255, blank=True)
    disabled = models.BooleanField(default=False)
    # Digest of the synced attributes: a resync compares digests instead of every column.
    fingerprint = models.CharField(max_length=32)
    synced_at = models.DateTimeField()
    # directories.search.user_text of the fields above; rewritten with them, never alone.
    search_text = models.TextField(blank=True, default="", editable=False)

    objects = DirectoryUserQuerySet.as_manager()

    class Meta:
        ordering = ["username"]
        constraints = [
            models.UniqueConstraint(
                fields=["directory", "external_id"], name="%(app_label)s_%(class)s_unique_id"
            ),
        ]
        indexes = [models.Index(fields=["directory", "username"])]

    def __str__(self) -> str:
        return self.username

    def save(self, *args, **kwargs) -> None:
        self.search_text = self.folded_search_text()
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = {*kwargs["update_fields"], "search_text"}
        super().save(*args, **kwargs)

    def folded_search_text(self) -> str:
        return search.user_text(
            self.username, self.first_name, self.last_name, self.email, self.display_name
        )


class DirectoryGroup(models.Model):
    # The unique (directory, external_id) index serves lookups by directory; no second index.
    directory = models.ForeignKey(
        Directory, on_delete=models.CASCADE, related_name="groups", db_index=False
    )
    external_id = models.CharField(max_length=64)
    dn = models.TextField("DN")
    name = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=32)
    synced_at = models.DateTimeField()
    # directories.search.group_text of the name; rewritten with it, never alone.
    search_text = models.TextField(blank=True, default="", editable=False)
    # The group's member values as the directory last sent them, and their digest: an
    # incremental sync resolves an unchanged group's members from these (None: not kept
    # yet, so the next sync reads the directory in full).
    member_values = models.JSONField(null=True, blank=True, default=None, editable=False)
    members_digest = models.CharField(max_length=32, blank=True, default="", editable=False)
    # Digest of the stable ids of the users the store holds as the group's members
    # (`plan.users_digest`), written with them: a resync compares the memberships of a
    # group whose digest differs from the one its read resolves to, and no others (""
    # until the first sync that writes it, so such a group is compared).
    users_digest = models.CharField(max_length=32, blank=True, default="", editable=False)
    members: models.ManyToManyField[DirectoryUser, GroupMembership] = models.ManyToManyField(
        DirectoryUser, through="GroupMembership", related_name="memberships"
    )
    objects = DirectoryGroupQuerySet.as_manager()
    subgroups: models.ManyToManyField[DirectoryGroup, GroupNesting] = models.ManyToManyField(
        "self", through="GroupNesting", symmetrical=False, related_name="parent_groups"
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["directory", "external_id"], name="%(app_label)s_%(class)s_unique_id"
            ),
        ]
        indexes = [models.Index(fields=["directory", "name"])]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        self.search_text = search.group_text(self.name)
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = {*kwargs["update_fields"], "search_text"}
        super().save(*args, **kwargs)


class GroupMembership(models.Model):
    """A user who is a direct member of a group."""

    # The unique (group, user) index serves lookups by group.
    group = models.ForeignKey(
        DirectoryGroup, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    user = models.ForeignKey(DirectoryUser, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["group", "user"], name="%(app_label)s_%(class)s_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.group_id}"


class GroupNesting(models.Model):
    """A group that is a direct member of another group."""

    parent = models.ForeignKey(
        DirectoryGroup, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    child = models.ForeignKey(DirectoryGroup, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["parent", "child"], name="%(app_label)s_%(class)s_unique"
            ),
            models.CheckConstraint(
                condition=~models.Q(parent=models.F("child")),
                name="%(app_label)s_%(class)s_not_self",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.child_id} in {self.parent_id}"


class SkippedEntry(models.Model):
    """An entry the last completed sync read but could not sync, as the agent sent it.

    Replaced by each completed sync; an incremental sync treats an unchanged one again as
    a full read would (it may be synced now, e.g. once a username it clashed with is gone).
    """

    directory = models.ForeignKey(
        Directory, on_delete=models.CASCADE, related_name="+", db_index=True
    )
    kind = models.CharField(max_length=8)
    # "" for an entry that has no stable id; such an entry is known by its DN.
    external_id = models.CharField(max_length=64, blank=True)
    dn = models.TextField("DN")
    record = models.JSONField()

    def __str__(self) -> str:
        return self.dn
