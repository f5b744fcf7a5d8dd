"""The search of synced users and groups, one definition for the console and the API."""

from __future__ import annotations

import django_filters
from django import forms
from django.core.validators import ProhibitNullCharactersValidator
from django.db.models import QuerySet

from directories.models import DirectoryGroup, DirectoryUser
from synclog.filtersets import IdFilter

SEARCH_HELP = (
    "Part of a username, display name, first or last name or email (users) or of a name "
    "(groups); case and accents ignored, so 'zoe' finds 'Zoë'."
)


class _SearchField(forms.CharField):
    """Any typed text; one no stored name can hold (a NUL) finds nothing, not an error."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.validators = [
            v for v in self.validators if not isinstance(v, ProhibitNullCharactersValidator)
        ]


class SearchFilter(django_filters.CharFilter):
    field_class = _SearchField

    def __init__(self, **kwargs) -> None:
        super().__init__(method=self.search, help_text=SEARCH_HELP, **kwargs)

    @staticmethod
    def search(queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.search(value)


class DirectoryUserFilterSet(django_filters.FilterSet):
    search = SearchFilter()

    class Meta:
        model = DirectoryUser
        fields = ["search"]


class DirectoryGroupFilterSet(django_filters.FilterSet):
    search = SearchFilter()

    class Meta:
        model = DirectoryGroup
        fields = ["search"]


class AllUserFilterSet(DirectoryUserFilterSet):
    """Users of every directory (the API's /users/), narrowed to one with `directory`."""

    directory = IdFilter(field_name="directory_id")

    class Meta(DirectoryUserFilterSet.Meta):
        fields = ["search", "directory"]


class AllGroupFilterSet(DirectoryGroupFilterSet):
    directory = IdFilter(field_name="directory_id")

    class Meta(DirectoryGroupFilterSet.Meta):
        fields = ["search", "directory"]
