"""Users and groups synced from a directory, and their group graph."""

from __future__ import annotations

from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views import View

from console.pages import paginate, render_page
from directories import graph
from directories.models import (
    Directory,
    DirectoryGroup,
    DirectoryUser,
)

PAGE_SIZE = 50


def users_and_groups(request: HttpRequest) -> HttpResponse:
    """The sub-navigation entry: opens the chosen (or first) directory's users."""
    directories = Directory.objects.order_by("name")
    chosen = request.GET.get("directory")
    directory = directories.filter(pk=chosen).first() if (chosen or "").isdigit() else None
    directory = directory or directories.first()
    if directory is None:
        return render(request, "directories/users_groups_empty.html", {"nav": "users_groups"})
    kind = "groups" if request.GET.get("show") == "groups" else "users"
    return redirect(f"directories:directory_{kind}", pk=directory.pk)


def _users_groups_context(request: HttpRequest, directory: Directory, kind: str) -> dict:
    return {
        "directory": directory,
        "directories": Directory.objects.order_by("name"),
        "kind": kind,
        "q": request.GET.get("q", "").strip(),
        "nav": "users_groups",
    }


class DirectoryUserListView(View):
    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        directory = get_object_or_404(Directory, pk=pk)
        context = _users_groups_context(request, directory, "users")
        users = (
            directory.users.search(context["q"])
            .annotate(groups_count=Count("memberships"))
            .order_by("username")
        )
        context["page_obj"] = paginate(request, users, PAGE_SIZE)
        return render_page(
            request, "directories/directory_users.html", "directories/_user_table.html", context
        )


class DirectoryGroupListView(View):
    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        directory = get_object_or_404(Directory, pk=pk)
        context = _users_groups_context(request, directory, "groups")
        groups = (
            directory.groups.search(context["q"])
            .annotate(members_count=Count("members"))
            .order_by("name")
        )
        context["page_obj"] = paginate(request, groups, PAGE_SIZE)
        return render_page(
            request, "directories/directory_groups.html", "directories/_group_table.html", context
        )


class DirectoryUserDetailView(View):
    def get(self, request: HttpRequest, pk: int, user_pk: int) -> HttpResponse:
        directory = get_object_or_404(Directory, pk=pk)
        user = get_object_or_404(DirectoryUser, pk=user_pk, directory=directory)
        direct = list(user.memberships.order_by("name"))
        via = graph.walk({g.pk for g in direct}, "up")
        groups = DirectoryGroup.objects.in_bulk(set(via) | set(via.values()))
        inherited = sorted(
            ((groups[gid], groups[origin]) for gid, origin in via.items()),
            key=lambda pair: pair[0].name.lower(),
        )
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
