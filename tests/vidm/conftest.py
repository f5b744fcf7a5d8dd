"""Replaying vIDM clients: requests sent as the PowerShell builds them, a run's publication
captured where Celery would send it."""

from __future__ import annotations

import base64
import binascii
import json
import re

import pytest
from django.test import Client

from tests.api.conftest import _fast_password_hashing, _fresh_throttles  # noqa: F401 (autouse)
from tests.conftest import make_connector

JSON = "application/json"
VND = "application/vnd.vmware.horizon.manager.connector.management."


def send(client: Client, method: str, path: str, headers: dict | None = None, body=None):
    """One request with exactly these headers and this body (a string, as the script sends
    it); a Content-Type goes out even on a GET or with no body, as Invoke-RestMethod does."""
    headers = dict(headers or {})
    extra = {}
    content_type = headers.pop("Content-Type", None)
    if content_type is not None:
        extra["CONTENT_TYPE"] = content_type
    return client.generic(
        method,
        path,
        body or "",
        content_type or "application/octet-stream",
        headers=headers,
        **extra,
    )


@pytest.fixture
def published(monkeypatch):
    """Run ids handed to Celery, in order."""
    from directories.tasks import sync_directory

    sent: list[int] = []

    def publish(args=None, kwargs=None, **options):
        sent.append(tuple(args or ())[0])

    monkeypatch.setattr(sync_directory, "apply_async", publish)
    return sent


@pytest.fixture
def wsa_connector(db):
    # The connector PowerValidatedSolutions looks for: host equal to the appliance's FQDN.
    return make_connector("sfo-wsa01")


class InvalidToken(Exception):
    """ConvertFrom-JWT's Write-Error "Invalid Token" (or .NET's FormatException)."""


def _from_base64_string(text: str) -> bytes:
    # [System.Convert]::FromBase64String: the standard alphabet only, padded to a multiple
    # of four, else a FormatException.
    if not re.fullmatch(r"[A-Za-z0-9+/]*={0,2}", text) or len(text) % 4:
        raise InvalidToken(f"FromBase64String: not base64: {text!r}")
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise InvalidToken(str(exc)) from exc


def _ascii_get_string(data: bytes) -> str:
    # [System.Text.Encoding]::ASCII.GetString: a byte above 0x7F becomes "?".
    return "".join(chr(b) if b < 0x80 else "?" for b in data)


def convert_from_jwt(token: str, include_header: bool = False):
    """AmshegaR/WS1AccessAdminAPI's ConvertFrom-JWT (Private/ConvertFrom-JWT.ps1), line for
    line: what Get-WS1LoginSessionToken and Test-WS1AccessToken do with a token."""
    # If (!$Token.Contains(".") -or !$Token.StartsWith("eyJ")) { Write-Error "Invalid Token" }
    if "." not in token or not token.startswith("eyJ"):
        raise InvalidToken("Invalid Token")
    # $TokenHeader, $TokenPayload = $Token.Split(".").Replace('-', '+').Replace('_', '/')[0..1]
    parts = [part.replace("-", "+").replace("_", "/") for part in token.split(".")]
    token_header, token_payload = parts[0:2]
    # While ($TokenHeader.Length % 4) { $TokenHeader += "=" }  (and the same for the payload)
    while len(token_header) % 4:
        token_header += "="
    while len(token_payload) % 4:
        token_payload += "="
    # $Header = [System.Text.Encoding]::ASCII.GetString([system.convert]::FromBase64String(
    #   $TokenHeader)) | ConvertFrom-Json
    header = json.loads(_ascii_get_string(_from_base64_string(token_header)))
    # $TokenArray = [System.Text.Encoding]::ASCII.GetString([System.Convert]::FromBase64String(
    #   $TokenPayload)); $TokOBJ = $TokenArray | ConvertFrom-Json
    token_obj = json.loads(_ascii_get_string(_from_base64_string(token_payload)))
    # If($IncludeHeader){ Return $Header }; Return $TokOBJ
    return header if include_header else token_obj
