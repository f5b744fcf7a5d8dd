"""Helpers every console page shares: htmx fragments and pagination."""

from __future__ import annotations

from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers


def wants_fragment(request: HttpRequest) -> bool:
    """htmx asks for a piece of the page; a boosted request still wants the whole page."""
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.boosted


def paginate(
    request: HttpRequest, items: QuerySet | list, per_page: int, param: str = "page"
) -> Page:
    """The requested page, falling back to the nearest valid one for a bad number."""
    page = Paginator(items, per_page).get_page(request.GET.get(param))
    page.param = param
    return page


def render_page(
    request: HttpRequest, page: str, fragment: str, context: dict, status: int = 200
) -> HttpResponse:
    """Render the whole page, or only `fragment` for htmx, from the same URL.

    Vary keeps a browser or proxy from showing a cached fragment as the page.
    """
    if wants_fragment(request):
        response = render(request, fragment, context)
    else:
        response = render(request, page, context, status=status)
    patch_vary_headers(response, ("HX-Request",))
    return response
