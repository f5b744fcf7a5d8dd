"""Query pieces the directory pages and the API share."""

from __future__ import annotations

from django.db.models import Count, IntegerField, Model, OuterRef, Subquery
from django.db.models.functions import Coalesce


def count_of(model: type[Model], key: str) -> Coalesce:
    """Rows of `model` pointing at the outer row through `key`, counted without a join."""
    rows = (
        model.objects.filter(**{key: OuterRef("pk")})
        .order_by()
        .values(key)
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(rows, output_field=IntegerField()), 0)
