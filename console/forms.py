"""Form helpers shared by the console pages: Clarity widget classes and service errors."""

from __future__ import annotations

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

from console.models import User
from console.timezones import server_time_zone, zone_choices

_WIDGET_CLASSES = (
    (forms.CheckboxInput, "clr-checkbox"),
    (forms.Select, "clr-select"),
    (forms.Textarea, "clr-textarea"),
    (forms.widgets.Input, "clr-input"),
)


class ClarityFormMixin:
    """Gives every widget the Clarity class for its kind, so templates render fields alike."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            for widget_type, css in _WIDGET_CLASSES:
                if isinstance(field.widget, widget_type):
                    existing = field.widget.attrs.get("class", "")
                    field.widget.attrs["class"] = f"{existing} {css}".strip()
                    break


def add_service_error(form: forms.BaseForm, error: ValidationError) -> None:
    """Attach a service's ValidationError to the form: known fields by name, the rest on top."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for name, messages in error.message_dict.items():
        target = name if name in form.fields else None
        if name != NON_FIELD_ERRORS and target is None:
            messages = [f"{name}: {m}" for m in messages]
        form.add_error(target, messages)


class ProfileForm(ClarityFormMixin, forms.ModelForm):
    """An admin's own settings: the time zone the console shows times in."""

    class Meta:
        model = User
        fields = ["time_zone"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # A select of the IANA zones by area; the model's validator is the rule, the
        # choices only what is offered (an older alias already stored stays selectable).
        field = forms.ChoiceField(
            label="Time zone",
            choices=zone_choices(self.instance.time_zone, server_time_zone()),
            help_text="Times on every console page are shown in this zone.",
        )
        field.widget.attrs["class"] = "clr-select"
        self.fields["time_zone"] = field
