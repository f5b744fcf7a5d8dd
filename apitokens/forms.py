"""The API tokens page's form: a name and an optional expiry, checked by the service."""

from __future__ import annotations

from django import forms

from console.forms import ClarityFormMixin


class ApiTokenForm(ClarityFormMixin, forms.Form):
    # Lengths and characters are apitokens.services.issue_token's rules; it reports them.
    name = forms.CharField(
        required=False,
        strip=False,
        help_text="What the token is for, e.g. the script that uses it.",
        widget=forms.TextInput(attrs={"maxlength": 100}),
    )
    expires_at = forms.DateTimeField(
        required=False,
        label="Expires",
        help_text="Leave empty for a token that never expires. In your time zone.",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
