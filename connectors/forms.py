"""Forms of the connector pages."""

from __future__ import annotations

from django import forms

from console.forms import ClarityFormMixin


class ConnectorAddForm(ClarityFormMixin, forms.Form):
    name = forms.CharField(
        max_length=100,
        help_text="A name that tells admins where the agent runs, e.g. connector-dc1.",
    )
