"""Forms of the directory pages: adding a directory, its settings and each Sync Settings tab."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from connectors.models import Connector
from connectors.protocol import settings as protocol
from console.forms import ClarityFormMixin
from directories import services
from directories.choices import (
    DEFAULT_MAPPED_ATTRIBUTES,
    MAPPED_FIELDS,
    DirectoryType,
    SyncFrequency,
)
from directories.models import SAFEGUARD_FIELDS, Directory, time_zone_names


class DistinguishedNamesField(forms.CharField):
    """One DN per line in a textarea; stored as a list without blank lines or repeats."""

    widget = forms.Textarea(attrs={"rows": 3})

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("help_text", "One DN per line. Leave empty to search from the base DN.")
        super().__init__(**kwargs)

    def prepare_value(self, value):
        if isinstance(value, list | tuple):
            return "\n".join(value)
        return value

    def to_python(self, value) -> list[str]:
        text = super().to_python(value) or ""
        lines = [line.strip() for line in text.splitlines()]
        return list(dict.fromkeys(line for line in lines if line))

    def validate(self, value: list[str]) -> None:
        if self.required and not value:
            raise forms.ValidationError(self.error_messages["required"], code="required")
        # Each DN is checked by the model's validator, the rule the API and the agent share.


def ask_password_again(form: forms.BaseForm, why: str = "") -> None:
    """The typed password is never sent back to the browser; say so instead of leaving
    the field empty without a word."""
    # The bound field keeps the help text it was made with: set it there.
    form[
        "bind_password"
    ].help_text = f"Type the bind password again{why}: it is not sent back to the browser."


class DirectoryAddForm(ClarityFormMixin, forms.ModelForm):
    bind_password = forms.CharField(
        widget=forms.PasswordInput(render_value=False),
        help_text="Stored encrypted; never shown again.",
    )
    user_dns = DistinguishedNamesField(label="User DNs")
    group_dns = DistinguishedNamesField(label="Group DNs")
    sync_connector = forms.ModelChoiceField(
        queryset=Connector.objects.order_by("name"),
        empty_label="Select a connector",
        help_text="Syncs the directory; it becomes the first entry of its Sync Connectors list.",
    )

    class Meta:
        model = Directory
        fields = [
            "name",
            "type",
            "host",
            "port",
            "security",
            "ca_cert",
            "base_dn",
            "bind_dn",
            "bind_password",
            "user_dns",
            "user_filter",
            "group_dns",
            "group_filter",
            "sync_frequency",
            "sync_connector",
            *SAFEGUARD_FIELDS,
        ]
        widgets = {"ca_cert": forms.Textarea(attrs={"rows": 3})}
        help_texts = {
            "user_filter": "Leave empty for the default filter of the directory type.",
            "group_filter": "Leave empty for the default filter of the directory type.",
        }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for name in MAPPED_FIELDS:
            field = mapped_attribute_field(name, required=False)
            field.help_text = "Leave empty for the directory type's default ({})".format(
                " / ".join(
                    dict.fromkeys(defaults[name] for defaults in DEFAULT_MAPPED_ATTRIBUTES.values())
                )
            )
            self.fields[f"map_{name}"] = field
        self.fields["type"].choices = [("", "Select a directory type"), *DirectoryType.choices]

    def full_clean(self) -> None:
        super().full_clean()
        if self.is_bound and self._errors and "bind_password" not in self._errors:
            ask_password_again(self)

    def mapped_fields(self) -> list[forms.BoundField]:
        return [self[f"map_{name}"] for name in MAPPED_FIELDS]

    def safeguard_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in SAFEGUARD_FIELDS]

    def service_fields(self) -> dict:
        """Keyword arguments for directories.services.create_directory."""
        data = dict(self.cleaned_data)
        mapped = {name: data.pop(f"map_{name}", "") for name in MAPPED_FIELDS}
        data["mapped_attributes"] = {name: value for name, value in mapped.items() if value}
        # Absent filters let the service pick the defaults of the directory type.
        for key in ("user_filter", "group_filter"):
            if not data.get(key):
                data.pop(key, None)
        return data


class DirectorySettingsForm(ClarityFormMixin, forms.ModelForm):
    """The connection; a blank bind password keeps the stored one."""

    bind_password = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Leave blank to keep the current password.",
    )

    class Meta:
        model = Directory
        fields = [
            "name",
            "host",
            "port",
            "security",
            "ca_cert",
            "base_dn",
            "bind_dn",
            "bind_password",
        ]
        widgets = {"ca_cert": forms.Textarea(attrs={"rows": 3})}

    def clean_bind_password(self) -> str:
        value = self.cleaned_data.get("bind_password") or ""
        return value or self.instance.bind_password

    def typed_password(self) -> str:
        return self.data.get(self.add_prefix("bind_password")) or ""

    def changes(self) -> dict:
        """This form's fields for services.update_directory (a blank password keeps it)."""
        changes = {name: self.cleaned_data[name] for name in self.Meta.fields}
        changes["bind_password"] = self.typed_password()
        return changes


class SyncFrequencyForm(ClarityFormMixin, forms.ModelForm):
    class Meta:
        model = Directory
        fields = ["sync_frequency", "sync_time", "sync_time_zone", "sync_weekday"]
        widgets = {"sync_time": forms.TimeInput(attrs={"type": "time"}, format="%H:%M")}
        labels = {"sync_weekday": "Day of the week"}
        help_texts = {
            "sync_time_zone": "The sync time is read in this time zone (daylight saving included).",
            "sync_weekday": "Weekly syncs only.",
        }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # A list of the names the model accepts; its validator stays the rule.
        self.fields["sync_time_zone"].widget = forms.Select(
            attrs={"class": "clr-select"},
            choices=[(name, name) for name in sorted(time_zone_names())],
        )
        # Asked for only where the frequency uses them (clean() keeps the stored ones).
        self.fields["sync_time"].required = False
        self.fields["sync_weekday"].required = False
        self.fields["sync_time_zone"].required = False
        # The label names the zone the stored schedule runs in, whoever reads the page.
        zone = services.schedule_time_zone(self.instance)
        self.fields["sync_time"].label = f"Sync time ({zone})"
        self.fields["sync_time"].help_text = (
            "Daily and weekly syncs start at this time in the time zone below; the minute "
            "also applies to 15-minute and hourly schedules."
        )

    def clean(self) -> dict:
        cleaned = super().clean()
        frequency = cleaned.get("sync_frequency")
        uses_time = frequency not in (None, SyncFrequency.MANUAL)
        if uses_time and cleaned.get("sync_time") is None:
            if frequency in (SyncFrequency.DAILY, SyncFrequency.WEEKLY):
                self.add_error("sync_time", "Give the time of day the sync starts.")
            else:
                cleaned["sync_time"] = self.instance.sync_time
        if cleaned.get("sync_weekday") in (None, ""):
            if frequency == SyncFrequency.WEEKLY:
                self.add_error("sync_weekday", "Give the day of the week the sync runs.")
            else:
                cleaned["sync_weekday"] = self.instance.sync_weekday
        if cleaned.get("sync_time") is None and not self.has_error("sync_time"):
            cleaned["sync_time"] = self.instance.sync_time
        if not cleaned.get("sync_time_zone") and not self.has_error("sync_time_zone"):
            cleaned["sync_time_zone"] = self.instance.sync_time_zone
        return cleaned


class UserSettingsForm(ClarityFormMixin, forms.ModelForm):
    user_dns = DistinguishedNamesField(label="User DNs")

    class Meta:
        model = Directory
        fields = ["user_dns", "user_filter"]


class GroupSettingsForm(ClarityFormMixin, forms.ModelForm):
    group_dns = DistinguishedNamesField(label="Group DNs")

    class Meta:
        model = Directory
        fields = ["group_dns", "group_filter"]


class SafeguardsForm(ClarityFormMixin, forms.ModelForm):
    """The four thresholds; each field's range and blank-to-disable come from the model."""

    class Meta:
        model = Directory
        fields = list(SAFEGUARD_FIELDS)


class EmailAddressesField(forms.CharField):
    """One e-mail address per line (commas too); stored as a list without blanks or repeats."""

    widget = forms.Textarea(attrs={"rows": 3})

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def prepare_value(self, value):
        if isinstance(value, list | tuple):
            return "\n".join(value)
        return value

    def to_python(self, value) -> list[str]:
        text = super().to_python(value) or ""
        items = [item.strip() for item in text.replace(",", "\n").splitlines()]
        return list(dict.fromkeys(item for item in items if item))

    def validate(self, value: list[str]) -> None:
        # Each address is checked by the model's validator, the rule the API shares.
        if self.required and not value:
            raise forms.ValidationError(self.error_messages["required"], code="required")


class NotificationsForm(ClarityFormMixin, forms.ModelForm):
    notification_emails = EmailAddressesField(
        label="Notification e-mail addresses",
        help_text="One per line. Told once when syncs start failing (a failed run, a "
        "safeguard stop, unresolved member references) and once when they recover. "
        "Empty: the Super Admins' addresses.",
    )

    class Meta:
        model = Directory
        fields = ["notification_emails"]


_MAPPED_LABELS = {
    "username": "User name",
    "first_name": "First name",
    "last_name": "Last name",
    "email": "Email",
    "display_name": "Display name",
}


def _validate_attribute(value: str) -> None:
    try:
        protocol.check_attribute(value)
    except ValueError as exc:
        raise ValidationError(str(exc)) from exc


def mapped_attribute_field(name: str, required: bool) -> forms.CharField:
    return forms.CharField(
        label=_MAPPED_LABELS.get(name, name),
        max_length=100,
        required=required,
        validators=[_validate_attribute],
        widget=forms.TextInput(attrs={"class": "clr-input"}),
    )


class MappedAttributesForm(forms.Form):
    """Which directory attribute feeds each user field."""

    def __init__(self, *args, directory: Directory, **kwargs) -> None:
        self.directory = directory
        current = {**DEFAULT_MAPPED_ATTRIBUTES.get(directory.type, {})}
        current.update(directory.mapped_attributes or {})
        kwargs.setdefault("initial", {name: current.get(name, "") for name in MAPPED_FIELDS})
        super().__init__(*args, **kwargs)
        for name in MAPPED_FIELDS:
            self.fields[name] = mapped_attribute_field(name, required=name == "username")

    def changes(self) -> dict:
        """For services.update_directory: the whole mapping (empty fields use the default)."""
        mapped = {
            name: self.cleaned_data[name] for name in MAPPED_FIELDS if self.cleaned_data[name]
        }
        return {"mapped_attributes": mapped}
