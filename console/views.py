"""Console shell views: the composition root's own pages."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect


def home(request: HttpRequest) -> HttpResponse:
    """The console opens on the Directories list."""
    return redirect("directories:directory_list")
