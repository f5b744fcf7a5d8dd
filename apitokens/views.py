"""Console page of API tokens: create (the key shown once), see last use, revoke."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views import View

from apitokens.choices import TokenKind
from apitokens.forms import ApiTokenForm
from apitokens.services import TokenError, issue_token, revoke, tokens_visible_to


class ApiTokenListView(View):
    """Every admin's own tokens (a Super Admin sees everyone's), and a form for a new one.

    Read-only admins use it too: a token acts with its owner's role, so it grants nothing more.
    """

    def get(self, request: HttpRequest) -> HttpResponse:
        return self._render(request, ApiTokenForm())

    def post(self, request: HttpRequest) -> HttpResponse:
        form = ApiTokenForm(request.POST)
        if form.is_valid():
            try:
                token, key = issue_token(
                    request.user,
                    name=form.cleaned_data["name"],
                    kind=TokenKind.API,
                    expires_at=form.cleaned_data["expires_at"],
                )
            except TokenError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, str(exc))
            else:
                # The key is in this answer only: no redirect, nothing kept to show it again.
                answer = self._render(request, ApiTokenForm(), new_token=token, new_key=key)
                answer["Cache-Control"] = "no-store"
                return answer
        return self._render(request, form, status=400)

    def _render(self, request: HttpRequest, form: ApiTokenForm, status: int = 200, **extra):
        tokens = tokens_visible_to(request.user).order_by("-created", "-id")
        context = {
            "form": form,
            "tokens": tokens,
            "sees_everyone": request.user.can_manage_connectors,
            **extra,
        }
        return render(request, "apitokens/token_list.html", context, status=status)


class ApiTokenRevokeView(View):
    """Revoke one token (POST): the owner's own, or any for a Super Admin."""

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        token = tokens_visible_to(request.user).filter(pk=pk).first()
        if token is None:
            raise Http404("No such token.")
        revoke(token)
        messages.success(request, f"Token “{token.name}” revoked; it no longer works.")
        return redirect("apitokens:token_list")
