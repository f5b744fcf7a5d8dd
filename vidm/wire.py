"""vIDM's wire format: its media types, its error shape, and its names for the project's
directory types, schedules and settings."""

from __future__ import annotations

from rest_framework import exceptions
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import FormParser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import exception_handler

from console.api import JSONParser
from directories.choices import DirectoryType, Security, SyncFrequency

VND_PREFIX = "application/vnd.vmware."
MEDIA = "application/vnd.vmware.horizon.manager.connector.management."


def media_type(request) -> str:
    return (request.content_type or "").split(";", 1)[0].strip().lower()


def is_json(media: str) -> bool:
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


class Negotiation(DefaultContentNegotiation):
    """vIDM clients send `application/vnd.vmware.…+json` bodies (and a Content-Type on a
    GET) and ask for vnd media types, `*/*` or nothing: every JSON media type is read as
    JSON and every answer is JSON."""

    def select_parser(self, request, parsers):
        if is_json(media_type(request)):
            for parser in parsers:
                if isinstance(parser, JSONParser):
                    return parser
        return super().select_parser(request, parsers)

    def select_renderer(self, request, renderers, format_suffix=None):
        renderer = renderers[0]
        return renderer, renderer.media_type


PARSERS = [JSONParser, FormParser]
RENDERERS = [JSONRenderer]


def error(status: int, code: str, message: str) -> Response:
    return Response({"errors": [{"code": code, "message": message}]}, status=status)


def _messages(detail, prefix: str = "") -> list[str]:
    if isinstance(detail, dict):
        out = []
        for key, value in detail.items():
            name = "" if key == "non_field_errors" else str(key)
            out += _messages(value, f"{prefix}{name}: " if name else prefix)
        return out
    if isinstance(detail, list):
        return [m for item in detail for m in _messages(item, prefix)]
    return [f"{prefix}{detail}"]


def exception_as_errors(exc, context):
    """DRF's answer to an exception, in vIDM's `{"errors": [{"code", "message"}]}` shape."""
    response = exception_handler(exc, context)
    if response is None:
        return None
    code = getattr(exc, "default_code", "error")
    if isinstance(exc, exceptions.APIException):
        messages = _messages(exc.detail)
    else:
        messages = [str(exc)]
    response.data = {"errors": [{"code": code, "message": m} for m in messages]}
    return response


# vIDM's directoryType for each directory type here. Integrated Windows Authentication
# directories (ACTIVE_DIRECTORY_IWA) join the domain; nothing here does that.
TYPES = {
    "ACTIVE_DIRECTORY_LDAP": DirectoryType.ACTIVE_DIRECTORY,
    "LDAP_DIRECTORY": DirectoryType.LDAP,
}
TYPE_NAMES: dict[str, str] = {str(value): key for key, value in TYPES.items()}

# vIDM's sync schedule names; the first of each frequency is what a read answers.
FREQUENCIES = {
    "manual": SyncFrequency.MANUAL,
    "fifteenMinutes": SyncFrequency.EVERY_15_MINUTES,
    "hourly": SyncFrequency.HOURLY,
    "oneHour": SyncFrequency.HOURLY,
    "threeHours": SyncFrequency.EVERY_3_HOURS,
    "sixHours": SyncFrequency.EVERY_6_HOURS,
    "twelveHours": SyncFrequency.EVERY_12_HOURS,
    "daily": SyncFrequency.DAILY,
    "oneDay": SyncFrequency.DAILY,
    "weekly": SyncFrequency.WEEKLY,
    "oneWeek": SyncFrequency.WEEKLY,
}
FREQUENCY_NAMES: dict[str, str] = {}
for _name, _value in FREQUENCIES.items():
    FREQUENCY_NAMES.setdefault(_value, _name)


class BadBody(ValueError):
    """A body that is not what the endpoint takes; the message says what is wrong."""


def flag(body: dict, key: str, default: bool = False) -> bool:
    """A boolean as clients send it: true/false, or the strings "true"/"false"."""
    value = body.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise BadBody(f"{key}: give true or false.")


def text(body: dict, key: str, *, required: bool = True) -> str:
    value = body.get(key)
    if value is None or value == "":
        if required:
            raise BadBody(f"{key}: this field is required.")
        return ""
    if not isinstance(value, str):
        raise BadBody(f"{key}: give a string.")
    return value


def domain_of(base_dn: str) -> str:
    """The DNS domain a DN's DC components spell (DC=sfo,DC=rainpole,DC=io: sfo.rainpole.io)."""
    parts = []
    for rdn in base_dn.split(","):
        key, _, value = rdn.strip().partition("=")
        if key.strip().lower() == "dc" and value.strip():
            parts.append(value.strip())
    return ".".join(parts)


def directory_settings(body: object) -> tuple[dict, str]:
    """A POSTed `directory.ad.over.ldap+json` (or LDAP) config as the REST API's directory
    fields, and its bind password if the body carries one."""
    if not isinstance(body, dict):
        raise BadBody("Send the directory configuration as a JSON object.")
    name = text(body, "name")
    kind = text(body, "directoryType", required=False) or "ACTIVE_DIRECTORY_LDAP"
    if kind not in TYPES:
        raise BadBody(
            f"directoryType: {kind!r} is not served here; give one of {', '.join(TYPES)}."
        )
    base_dn = text(body, "baseDN")
    bind_dn = text(body, "bindDN")
    use_srv = flag(body, "useSRV")
    starttls = flag(body, "useStartTls")
    ssl = flag(body, "useSSL") or flag(body, "useSsl")
    if ssl and starttls:
        raise BadBody("useSSL and useStartTls: choose one.")
    global_catalog = flag(body, "useGlobalCatalog")
    host = text(body, "domainControllerHost", required=False) or text(body, "host", required=False)
    if not host:
        if not use_srv:
            raise BadBody("domainControllerHost: required unless useSRV is true.")
        # With useSRV the domain's own name finds its domain controllers.
        host = domain_of(base_dn) or name
    port = body.get("domainControllerPort", body.get("port"))
    if port in (None, ""):
        port = 636 if ssl else (3268 if global_catalog else 389)
    elif isinstance(port, bool) or not (
        isinstance(port, int) or (isinstance(port, str) and port.isascii() and port.isdigit())
    ):
        raise BadBody("domainControllerPort: give a port number.")
    fields: dict = {
        "name": name,
        "type": TYPES[kind],
        "host": host,
        "port": int(port),
        "security": Security.SSL if ssl else Security.STARTTLS if starttls else Security.NONE,
        "ca_cert": text(body, "sslCertificate", required=False),
        "base_dn": base_dn,
        "bind_dn": bind_dn,
    }
    attribute = text(body, "directorySearchAttribute", required=False)
    if attribute:
        fields["mapped_attributes"] = {"username": attribute}
    password = text(body, "bindPassword", required=False) or text(
        body, "directoryBindPassword", required=False
    )
    return fields, password


def selected_user_dns(body: dict) -> list[str]:
    """`{"identityUserInfo": {dn: {"selected": true}, ...}}`: the selected DNs."""
    info = body.get("identityUserInfo")
    if not isinstance(info, dict):
        raise BadBody("identityUserInfo: give an object of DNs.")
    dns = []
    for dn, entry in info.items():
        if not isinstance(entry, dict):
            raise BadBody(f"identityUserInfo.{dn}: give an object with selected.")
        if flag(entry, "selected", True):
            dns.append(dn)
    return dns


def selected_group_dns(body: dict) -> list[str]:
    """`{"identityGroupInfo": {baseDN: {"mappedGroupData": [{"mappedGroup": {"dn"}, "selected"}],
    "selected"}}}`: a selected base DN whole, else each selected group's DN."""
    info = body.get("identityGroupInfo")
    if not isinstance(info, dict):
        raise BadBody("identityGroupInfo: give an object of base DNs.")
    dns: list[str] = []
    for base, entry in info.items():
        if not isinstance(entry, dict):
            raise BadBody(f"identityGroupInfo.{base}: give an object.")
        if flag(entry, "selected", False):
            dns.append(base)
            continue
        groups = entry.get("mappedGroupData") or []
        if isinstance(groups, dict):
            # PowerShell's ConvertTo-Json writes a one-item array as the item itself.
            groups = [groups]
        if not isinstance(groups, list):
            raise BadBody(f"identityGroupInfo.{base}.mappedGroupData: give a list.")
        for item in groups:
            group = item.get("mappedGroup") if isinstance(item, dict) else None
            if not isinstance(group, dict) or not isinstance(group.get("dn"), str):
                raise BadBody(
                    f"identityGroupInfo.{base}.mappedGroupData: each needs mappedGroup.dn."
                )
            if flag(item, "selected", True):
                dns.append(group["dn"])
    return list(dict.fromkeys(dns))


def frequency(body: dict) -> str:
    name = body.get("frequency")
    if not isinstance(name, str) or name not in FREQUENCIES:
        raise BadBody(f"frequency: give one of {', '.join(FREQUENCIES)}.")
    return FREQUENCIES[name]
