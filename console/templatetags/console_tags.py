"""Filters for moments, durations, change counts and status labels on console pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django import template
from django.core.paginator import Page
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

register = template.Library()

_UNITS = (("day", 86_400), ("hour", 3_600), ("minute", 60), ("second", 1))


def relative_time(value: datetime, now: datetime) -> str:
    """ "5 minutes ago", "in 3 hours", "just now": the largest whole unit, no rounding up."""
    seconds = (value - now).total_seconds()
    if abs(seconds) < 10:
        return "just now"
    for unit, size in _UNITS:
        count = int(abs(seconds) // size)
        if count:
            words = f"{count} {unit}{'' if count == 1 else 's'}"
            return f"in {words}" if seconds > 0 else f"{words} ago"
    return "just now"  # pragma: no cover - |seconds| >= 10 always has a unit


def _offset(moment: datetime) -> str:
    minutes = int((moment.utcoffset() or timedelta()).total_seconds() // 60)
    sign = "+" if minutes >= 0 else "−"
    hours, minutes = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours:02d}:{minutes:02d}"


@register.simple_tag
def moment(
    value: datetime | None, relative: bool = False, seconds: bool = True, empty: str = "—"
) -> SafeString | str:
    """The one way a moment is shown: `<time>` in the admin's zone (activated by
    console.middleware) with the zone's abbreviation, the UTC instant in `datetime`, the full
    date, time and zone in `title`, and with `relative` a hint such as "5 minutes ago"."""
    if value is None:
        return empty
    local = timezone.localtime(value)
    shown = local.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    zone = timezone.get_current_timezone_name()
    day = f"{local:%A} {local.day} {local:%B %Y}"
    full = f"{day}, {local:%H:%M:%S} {local.tzname()} ({zone}, {_offset(local)})"
    instant = value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    html = format_html(
        '<time datetime="{}" title="{}">{} {}</time>', instant, full, shown, local.tzname()
    )
    if relative:
        hint = relative_time(value, timezone.now())
        html = format_html('{} <span class="time-relative">({})</span>', html, hint)
    return html


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
