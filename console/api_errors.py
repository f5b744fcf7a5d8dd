"""Every REST API error as one JSON shape: `{"code", "detail", "errors"}`, and its schema.

`code` is stable (scripts branch on it), `detail` is for people, `errors` maps a field to its
messages (empty when no field is at fault). docs/api.md lists the codes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

logger = logging.getLogger(__name__)

API_PREFIX = "/api/"
NON_FIELD = "non_field_errors"

# The codes this module itself gives; views add theirs with ApiError. DRF's own exceptions
# keep DRF's codes (`not_authenticated`, `permission_denied`, ...).
INVALID = "invalid"
NOT_FOUND = "not_found"
SERVER_ERROR = "server_error"

# code: (HTTP status, when) -- the documented list (docs/api.md is written from it).
ERROR_CODES: dict[str, tuple[int, str]] = {
    "invalid": (400, "A field or query parameter is not valid; `errors` says which and why."),
    "parse_error": (400, "The body is not valid JSON (or form data)."),
    "not_authenticated": (401, "No token or session was sent."),
    "authentication_failed": (401, "The token is unknown, expired or revoked."),
    "permission_denied": (403, "The role does not allow this, or the CSRF token is missing."),
    "not_found": (404, "No such object or URL."),
    "method_not_allowed": (405, "The endpoint does not take this HTTP method."),
    "not_acceptable": (406, "The Accept header asks for a format the API does not produce."),
    "connector_in_use": (409, "A connector still syncs a directory; `directories` names them."),
    "stale": (409, "The Sync Connectors list changed since `version`; `version` is the new one."),
    "sync_connectors_unavailable": (
        409,
        "The Sync Connectors feature is off (cloud mode, or `outdated_connectors`).",
    ),
    "run_waiting": (409, "Another kind of run is already waiting; `waiting_run` is its id."),
    "precondition_failed": (412, "If-Match names a version of the list that is not current."),
    "unsupported_media_type": (415, "The Content-Type is not JSON, form or multipart data."),
    "throttled": (429, "Too many requests from this address; Retry-After says when to retry."),
    "locked_out": (429, "Too many wrong passwords for this account or address."),
    "server_error": (500, "The server failed; the error is logged."),
}


class ApiError(exceptions.APIException):
    """An error with a stable code of its own and extra fields beside the standard three."""

    def __init__(
        self,
        detail: str,
        *,
        code: str,
        status_code: int,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail, code)
        self.status_code = status_code
        self.error_code = code
        self.extra = extra
        self.headers = dict(headers or {})


def _first_message(errors: Any) -> str:
    if isinstance(errors, Mapping):
        for field, value in errors.items():
            text = _first_message(value)
            if text:
                return text if field == NON_FIELD else f"{field}: {text}"
        return ""
    if isinstance(errors, list | tuple):
        for value in errors:
            text = _first_message(value)
            if text:
                return text
        return ""
    return str(errors)


def error_body(exc: exceptions.APIException) -> dict[str, Any]:
    """The standard body for a DRF exception."""
    if isinstance(exc, ApiError):
        return {"code": exc.error_code, "detail": str(exc.detail), "errors": {}, **exc.extra}
    if isinstance(exc, exceptions.ValidationError):
        errors = exc.detail if isinstance(exc.detail, dict) else {NON_FIELD: exc.detail}
        first = _first_message(errors)
        return {
            "code": INVALID,
            "detail": first or "The request is not valid.",
            "errors": errors,
        }
    code = exc.get_codes()
    if not isinstance(code, str):
        code = exc.default_code
    # A NotFound raised for a missing row carries Django's code: keep ours.
    if isinstance(exc, exceptions.NotFound):
        code = NOT_FOUND
    return {"code": code, "detail": str(exc.detail), "errors": {}}


def _as_json(context: dict) -> None:
    # An error is JSON even from an endpoint that answers CSV or HTML when it succeeds.
    request = context.get("request")
    if request is not None and not isinstance(
        getattr(request, "accepted_renderer", None), JSONRenderer
    ):
        request.accepted_renderer = JSONRenderer()
        request.accepted_media_type = JSONRenderer.media_type


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's EXCEPTION_HANDLER: DRF's answer (status, headers) with the standard body."""
    # As DRF's handler does, Django's 404 and 403 become DRF's, so their codes are DRF's.
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(*(exc.args or ("Not found.",)))
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(*exc.args)
    response = drf_exception_handler(exc, context)
    if response is None or not isinstance(exc, exceptions.APIException):
        # An unexpected failure: logged with its traceback, answered as JSON.
        logger.exception("API request failed", exc_info=exc)
        set_rollback()
        _as_json(context)
        return Response(
            {"code": SERVER_ERROR, "detail": "The server failed to answer.", "errors": {}},
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    response.data = error_body(exc)
    _as_json(context)
    if isinstance(exc, ApiError):
        for name, value in exc.headers.items():
            response[name] = value
    return response


def _json_error(code: str, detail: str, status_code: int) -> JsonResponse:
    return JsonResponse({"code": code, "detail": detail, "errors": {}}, status=status_code)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """handler404: an unknown API URL is a JSON 404 too; console pages keep their page."""
    if request.path.startswith(API_PREFIX):
        return _json_error(NOT_FOUND, "No such URL in the API.", 404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: an API failure outside DRF (a middleware) is a JSON 500 too."""
    if request.path.startswith(API_PREFIX):
        return _json_error(SERVER_ERROR, "The server failed to answer.", 500)
    return defaults.server_error(request)


# --- The OpenAPI side: every operation lists the errors it can answer, with this shape. ----

ERROR_SCHEMA = {
    "type": "object",
    "description": "Every API error. `code` is stable; see docs/api.md for the list.",
    "properties": {
        "code": {"type": "string", "description": "Stable: " + ", ".join(sorted(ERROR_CODES))},
        "detail": {"type": "string"},
        "errors": {
            "type": "object",
            "description": "Field name (or `non_field_errors`) to its messages.",
            "additionalProperties": {},
        },
    },
    "required": ["code", "detail", "errors"],
    # Some errors add fields: `version`, `waiting_run`, `directories`, `outdated_connectors`.
    "additionalProperties": True,
}
ERROR_REF = {"$ref": "#/components/schemas/Error"}

DESCRIPTIONS = {
    "400": "Invalid input (`invalid`, `parse_error`).",
    "401": "Not signed in, or the token is not valid.",
    "403": "The role does not allow this.",
    "404": "No such object.",
    "405": "Method not allowed.",
    "406": "Not acceptable.",
    "409": "Conflict.",
    "412": "Precondition failed.",
    "415": "Unsupported media type.",
    "429": "Throttled.",
    "500": "Server error.",
}


def add_error_responses(result: dict, generator, request, public) -> dict:
    """drf-spectacular postprocessing hook: the errors every operation can answer."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    for path, operations in result.get("paths", {}).items():
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            codes = ["400", "405", "406", "429", "500"]
            if "requestBody" in operation:
                codes.append("415")
            if any(scheme for scheme in operation.get("security", [])):
                codes += ["401", "403"]
            if "{" in path:
                codes.append("404")
            codes += [code for code in responses if code.startswith(("4", "5"))]
            for code in codes:
                answer = responses.setdefault(code, {"description": DESCRIPTIONS.get(code, "")})
                if not answer.get("description"):
                    answer["description"] = DESCRIPTIONS.get(code, "")
                answer.setdefault("content", {})
                answer["content"].setdefault("application/json", {"schema": ERROR_REF})
    return result


def locked_out(request, username: object) -> ApiError | None:
    """The 429 every password login of the API answers while django-axes holds the account
    or the address locked, instead of hearing "wrong password" for the right one; None when
    the login may go ahead. Returned, not raised: each API shapes its own error body."""
    credentials = {"username": username if isinstance(username, str) else ""}
    if not AxesProxyHandler.is_locked(getattr(request, "_request", request), credentials):
        return None
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return ApiError(
        "Too many wrong passwords for this account or from this address; "
        f"try again in {minutes} minutes or ask a Super Admin to lift the lock.",
        code="locked_out",
        status_code=status.HTTP_429_TOO_MANY_REQUESTS,
        headers={"Retry-After": str(minutes * 60)},
    )
