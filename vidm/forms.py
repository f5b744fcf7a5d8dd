from __future__ import annotations

from django import forms

from console.models import Role


class OAuthClientForm(forms.Form):
    client_id = forms.CharField(
        label="Client ID",
        max_length=100,
        help_text="What the script sends as its client ID (letters, digits, . - _).",
    )
    role = forms.ChoiceField(
        choices=Role.choices,
        initial=Role.READ_ONLY_ADMIN,
        help_text="What the client's requests may do, as for an admin with this role.",
    )
