"""Filters for durations, change counts and status labels on console pages."""

from __future__ import annotations

from datetime import timedelta

from django import template
from django.core.paginator import Page

register = template.Library()


@register.filter
def duration(value: timedelta | None) -> str:
    """`timedelta` -> "2 h 5 min", "3 min 12 s" or "4.2 s"; an em dash when unknown."""
    if value is None:
        return "—"
    seconds = max(value.total_seconds(), 0.0)
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


@register.filter
def label_class(colour: str) -> str:
    """A status colour from the choices modules -> Clarity label classes."""
    return "label" if colour in ("", "neutral") else f"label label-{colour}"


@register.simple_tag(takes_context=True)
def page_query(context: template.Context, page: Page, number: int) -> str:
    """`?...` for another page number, keeping search terms and filters."""
    query = context["request"].GET.copy()
    query[getattr(page, "param", "page")] = number
    return "?" + query.urlencode()
