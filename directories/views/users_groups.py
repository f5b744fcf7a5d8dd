"""Users and groups synced from a directory, and their group graph."""

from __future__ import annotations

from urllib.parse import urlencode

from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views import View

from console.pages import paginate, render_page
from directories import graph
from directories.filtersets import DirectoryGroupFilterSet, DirectoryUserFilterSet
from directories.models import (
    Directory,
    DirectoryGroup,
    DirectoryUser,
    GroupMembership,
)
from directories.queries import count_of

PAGE_SIZE = 50
ALL = "all"


def users_and_groups(request: HttpRequest) -> HttpResponse:
    """The sub-navigation entry: opens the chosen (or first) directory's users, or with
    ``directory=all`` the search across every directory."""
    kind = "groups" if request.GET.get("show") == "groups" else "users"
    chosen = request.GET.get("directory")
    if chosen == ALL:
        search = request.GET.get("search", "").strip()
        url = reverse(f"directories:all_{kind}")
        return redirect(f"{url}?{urlencode({'search': search})}" if search else url)
    directories = Directory.objects.order_by("name")
    directory = directories.filter(pk=chosen).first() if (chosen or "").isdigit() else None
    directory = directory or directories.first()
    if directory is None:
        return render(request, "directories/users_groups_empty.html", {"nav": "users_groups"})
    return redirect(f"directories:directory_{kind}", pk=directory.pk)


def _users_groups_context(request: HttpRequest, directory: Directory | None, kind: str) -> dict:
    if directory is None:
        users_url, groups_url = reverse("directories:all_users"), reverse("directories:all_groups")
    else:
        users_url = reverse("directories:directory_users", args=[directory.pk])
        groups_url = reverse("directories:directory_groups", args=[directory.pk])
    return {
        "directory": directory,
        "directories": Directory.objects.order_by("name"),
        "kind": kind,
        "search": request.GET.get("search", "").strip(),
        "users_url": users_url,
        "groups_url": groups_url,
        "show_directory": directory is None,
        "nav": "users_groups",
    }


def _user_list(request: HttpRequest, directory: Directory | None) -> HttpResponse:
    context = _users_groups_context(request, directory, "users")
    users = directory.users.all() if directory else DirectoryUser.objects.all()
    found = DirectoryUserFilterSet(request.GET, queryset=users).qs
    # Counted per shown row (a subquery), not grouped over every match: the list may hold
    # millions of users across directories.
    found = found.select_related("directory").annotate(
        groups_count=count_of(GroupMembership, "user")
    )
    context["page_obj"] = paginate(request, found.order_by("username", "pk"), PAGE_SIZE)
    return render_page(
        request, "directories/directory_users.html", "directories/_user_table.html", context
    )


def _group_list(request: HttpRequest, directory: Directory | None) -> HttpResponse:
    context = _users_groups_context(request, directory, "groups")
    groups = directory.groups.all() if directory else DirectoryGroup.objects.all()
    found = DirectoryGroupFilterSet(request.GET, queryset=groups).qs
    found = found.select_related("directory").annotate(
        members_count=count_of(GroupMembership, "group")
    )
    context["page_obj"] = paginate(request, found.order_by("name", "pk"), PAGE_SIZE)
    return render_page(
        request, "directories/directory_groups.html", "directories/_group_table.html", context
    )


class DirectoryUserListView(View):
    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        return _user_list(request, get_object_or_404(Directory, pk=pk))


class DirectoryGroupListView(View):
    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        return _group_list(request, get_object_or_404(Directory, pk=pk))


class AllUserListView(View):
    """Users of every directory, each row with its directory."""

    def get(self, request: HttpRequest) -> HttpResponse:
        return _user_list(request, None)


class AllGroupListView(View):
    """Groups of every directory, each row with its directory."""

    def get(self, request: HttpRequest) -> HttpResponse:
        return _group_list(request, None)


class DirectoryUserDetailView(View):
    def get(self, request: HttpRequest, pk: int, user_pk: int) -> HttpResponse:
        directory = get_object_or_404(Directory, pk=pk)
        user = get_object_or_404(DirectoryUser, pk=user_pk, directory=directory)
        direct, inherited = graph.user_groups(user)
        context = {
            "directory": directory,
            "dir_user": user,
            "direct_groups": direct,
            "inherited_groups": inherited,
            "nav": "users_groups",
        }
        return render(request, "directories/directoryuser_detail.html", context)


class DirectoryGroupDetailView(View):
    def get(self, request: HttpRequest, pk: int, group_pk: int) -> HttpResponse:
        directory = get_object_or_404(Directory, pk=pk)
        group = get_object_or_404(DirectoryGroup, pk=group_pk, directory=directory)
        below = graph.walk({group.pk}, "down")
        nested_users = graph.nested_users(group, below)
        context = {
            "directory": directory,
            "group": group,
            "members_page": paginate(request, group.members.order_by("username"), PAGE_SIZE),
            "subgroups": group.subgroups.annotate(members_count=Count("members")).order_by("name"),
            "parent_groups": group.parent_groups.order_by("name"),
            "nested_count": len(below),
            "nested_page": paginate(request, nested_users, PAGE_SIZE, param="nested_page"),
            "nav": "users_groups",
        }
        return render(request, "directories/directorygroup_detail.html", context)
