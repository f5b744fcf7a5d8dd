"""The vIDM-compatible REST endpoints under /SAAS/: vIDM's wire format in and out, the
project's own services and rules underneath (the same ones /api/ calls)."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import connection
from django.db.models import Prefetch
from django.http.request import split_domain_port
from rest_framework import serializers, status
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apitokens.authentication import ApiTokenAuthentication
from apitokens.choices import TokenKind
from apitokens.services import issue_token
from connectors.models import Connector
from console.api import ClientThrottle, as_id
from console.api_errors import locked_out
from console.permissions import RolePermission
from directories.api.serializers import DirectorySerializer, SyncRequestSerializer
from directories.failover import sync_connector_list
from directories.models import Directory, DirectoryGroup, DirectoryUser, IdentityProvider
from directories.queries import count_of
from directories.services import delete_directory, set_identity_provider_connectors
from directories.tasks import start_sync
from synclog.choices import Trigger
from synclog.lifecycle import NotAReview, RunWaiting
from synclog.queries import runs_with_attempts, syncs
from vidm import services, wire
from vidm.models import DirectoryConfig

BASE = "/SAAS/jersey/manager/api/connectormanagement"


def millis(moment: datetime | None) -> int | None:
    """vIDM writes times as milliseconds since the epoch."""
    return int(moment.timestamp() * 1000) if moment else None


class VidmView(APIView):
    """Token in `Authorization: HZN <token>` (or Bearer / Token); the three roles as on /api/."""

    authentication_classes = [ApiTokenAuthentication]
    permission_classes = [RolePermission]
    parser_classes = wire.PARSERS
    renderer_classes = wire.RENDERERS
    content_negotiation_class = wire.Negotiation
    # vIDM's paths are documented in docs/vidm-compatibility.md, not in the project's schema.
    schema = None

    def get_exception_handler(self):
        return wire.exception_as_errors

    def body(self, request: Request) -> dict:
        data = request.data
        if isinstance(data, list) and len(data) == 1:
            # PowerShell's ConvertTo-Json of a piped one-item array.
            data = data[0]
        if hasattr(data, "dict") and not isinstance(data, dict):
            data = data.dict()
        if not isinstance(data, dict):
            raise ValidationError("Send a JSON object.")
        return data

    def bad(self, exc: Exception) -> Response:
        return wire.error(status.HTTP_400_BAD_REQUEST, "invalid.input", str(exc))


def validation_errors(exc: DjangoValidationError) -> ValidationError:
    return ValidationError(serializers.as_serializer_error(exc))


def issuer_and_tenant(request: Request) -> dict[str, str]:
    """A token's issuer is this server's /SAAS/auth URL (as vIDM's); the tenant in its `prn`
    is the first label of the host name (an on-premises vIDM's default tenant)."""
    domain, _ = split_domain_port(request.get_host())
    return {"issuer": request.build_absolute_uri("/SAAS/auth"), "tenant": domain.split(".")[0]}


# ---- authentication ---------------------------------------------------------------


class LoginThrottle(ClientThrottle):
    # Bounds password guessing through vIDM's login per client address, like /api/'s token.
    scope = "vidm_login"
    rate = "20/min"


class LoginView(VidmView):
    """POST /SAAS/API/1.0/REST/auth/system/login: a session token for a username and password
    (Request-WSAToken, Get-WS1LoginSessionToken). The token expires after
    API_LOGIN_TOKEN_TTL; clients send it back as `HZN <token>` or `Bearer <token>`."""

    # One client sends `Authorization: Bearer ` with nothing after it when it logs in.
    authentication_classes: list = []
    permission_classes: list = []
    throttle_classes = [LoginThrottle]

    def post(self, request: Request) -> Response:
        body = self.body(request)
        try:
            # Checked, not obeyed: with no cookie session here a login always issues a token.
            wire.flag(body, "issueToken", True)
        except wire.BadBody as exc:
            return self.bad(exc)
        refused = locked_out(request, body.get("username"))
        if refused is not None:
            return Response(
                {"errors": [{"code": "auth.locked", "message": str(refused.detail)}]},
                status=refused.status_code,
                headers=refused.headers,
            )
        credentials = {k: body.get(k) for k in ("username", "password")}
        login = AuthTokenSerializer(data=credentials, context={"request": request})
        if not login.is_valid():
            if all(isinstance(v, str) and v for v in credentials.values()):
                return wire.error(
                    status.HTTP_401_UNAUTHORIZED, "auth.failed", "Wrong username or password."
                )
            raise ValidationError(login.errors)
        user = login.validated_data["user"]
        _, key = issue_token(
            user,
            name="vIDM login",
            kind=TokenKind.SESSION,
            ttl=settings.API_LOGIN_TOKEN_TTL,
            jwt_claims=services.token_claims(user, **issuer_and_tenant(request)),
        )
        return Response({"sessionToken": key, "admin": True, "firstTimeUser": False})


class OAuthTokenView(VidmView):
    """POST /SAAS/auth/oauthtoken?grant_type=client_credentials with HTTP Basic client id and
    secret (Open-WS1AccessConnection, Get-WS1AccessToken): a Bearer access token."""

    authentication_classes: list = []
    permission_classes: list = []
    throttle_classes = [LoginThrottle]

    def post(self, request: Request) -> Response:
        data = request.data if hasattr(request.data, "get") else {}
        grant = request.query_params.get("grant_type") or data.get("grant_type")
        if grant != "client_credentials":
            return Response(
                {
                    "error": "unsupported_grant_type",
                    "error_description": "Only grant_type=client_credentials is served.",
                },
                status=status.HTTP_400_BAD_REQUEST,
            )
        client_id, secret = self.basic(request)
        if client_id is None:
            client_id, secret = data.get("client_id"), data.get("client_secret")
        issued = None
        if isinstance(client_id, str) and isinstance(secret, str):
            issued = services.client_credentials_token(
                client_id, secret, **issuer_and_tenant(request)
            )
        if issued is None:
            return Response(
                {"error": "invalid_client", "error_description": "Unknown client or wrong secret."},
                status=status.HTTP_401_UNAUTHORIZED,
                headers={"WWW-Authenticate": 'Basic realm="oauthtoken"'},
            )
        token, key = issued
        return Response(
            {
                "access_token": key,
                "token_type": "Bearer",
                "expires_in": int(settings.VIDM_OAUTH_TOKEN_TTL.total_seconds()),
                "scope": "admin",
            }
        )

    @staticmethod
    def basic(request: Request) -> tuple[str | None, str | None]:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return None, None
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None, None
        client_id, sep, secret = decoded.partition(":")
        return (client_id, secret) if sep else (None, None)


class TokenAttributeView(VidmView):
    """GET /SAAS/API/1.0/REST/auth/token?attribute=isValid with the token to check as the
    credential (Test-WS1AccessToken, before it decodes the token): `true`. An unknown,
    expired or revoked token is refused 401 by the authentication, as every other call."""

    def get(self, request: Request) -> Response:
        attribute = request.query_params.get("attribute")
        if attribute != "isValid":
            return self.bad(ValueError("attribute: only isValid is served."))
        return Response(True)


class HealthView(VidmView):
    """GET /SAAS/jersey/manager/api/system/health."""

    authentication_classes: list = []
    permission_classes: list = []

    def get(self, request: Request) -> Response:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            database = True
        except Exception:
            database = False
        return Response(
            {"AllOk": database, "DatabaseStatus": "OK" if database else "FAILED"},
            status=status.HTTP_200_OK if database else status.HTTP_503_SERVICE_UNAVAILABLE,
        )


# ---- directories -----------------------------------------------------------------


def connector_item(connector: Connector) -> dict:
    return {
        "instanceId": str(connector.pk),
        "name": connector.name,
        "host": connector.host,
        "version": connector.version,
        "activated": connector.is_active,
        "health": connector.health,
        "_links": {"self": {"href": f"{BASE}/connectorinstances/{connector.pk}"}},
    }


def listed_directories():
    """Directories with what their items show, in a fixed number of queries."""
    return (
        Directory.objects.select_related("vidm_config")
        .annotate(
            users_count=count_of(DirectoryUser, "directory"),
            groups_count=count_of(DirectoryGroup, "directory"),
        )
        .prefetch_related(
            Prefetch(
                "sync_runs",
                # The last sync: a review writes nothing, so it is not the last sync.
                queryset=syncs().order_by("-created", "-id")[:1],
                to_attr="latest_runs",
            )
        )
    )


def directory_item(directory: Directory) -> dict:
    ident = services.directory_id(directory)
    runs = getattr(directory, "latest_runs", None)
    if runs is None:
        runs = list(syncs().filter(directory=directory).order_by("-created", "-id")[:1])
    last = runs[0] if runs else None
    users = getattr(directory, "users_count", None)
    groups = getattr(directory, "groups_count", None)
    return {
        "directoryId": ident,
        "directoryConfigId": ident,
        "name": directory.name,
        "type": wire.TYPE_NAMES[directory.type],
        "directoryType": wire.TYPE_NAMES[directory.type],
        "baseDN": directory.base_dn,
        "bindDN": directory.bind_dn,
        "host": directory.host,
        "port": directory.port,
        "useStartTls": directory.security == "starttls",
        "useSSL": directory.security == "ssl",
        "syncConfigurationEnabled": True,
        "identityProviderId": str(directory.identity_provider_id),
        "countDomains": 1,
        "userCount": directory.users.count() if users is None else users,
        "groupCount": directory.groups.count() if groups is None else groups,
        "lastSyncTime": millis(last.created) if last else None,
        "lastSyncStatus": last.status if last else None,
        "syncFrequency": wire.FREQUENCY_NAMES.get(directory.sync_frequency),
        "_links": {"self": {"href": f"{BASE}/directoryconfigs/{ident}"}},
    }


def pending_item(config: DirectoryConfig) -> dict:
    fields = config.settings
    ident = str(config.pk)
    return {
        "directoryId": ident,
        "directoryConfigId": ident,
        "name": config.name,
        "type": wire.TYPE_NAMES.get(fields.get("type"), "ACTIVE_DIRECTORY_LDAP"),
        "directoryType": wire.TYPE_NAMES.get(fields.get("type"), "ACTIVE_DIRECTORY_LDAP"),
        "baseDN": fields.get("base_dn"),
        "bindDN": fields.get("bind_dn"),
        "host": fields.get("host"),
        "port": fields.get("port"),
        # No connector is associated yet: nothing syncs it until one is.
        "syncConfigurationEnabled": False,
        "countDomains": 1,
        "userCount": 0,
        "groupCount": 0,
        "lastSyncTime": None,
        "_links": {"self": {"href": f"{BASE}/directoryconfigs/{ident}"}},
    }


class DirectoryConfigMixin:
    def target(self, config_id: str) -> DirectoryConfig | Directory:
        found = services.find(config_id)
        if found is None:
            raise NotFound(f"No directory has the id {config_id}.")
        return found

    def directory(self, config_id: str) -> Directory:
        found = self.target(config_id)
        if isinstance(found, DirectoryConfig):
            raise ValidationError(
                f"{found.name} has no connector yet: associate one with "
                "connectorinstances/{id}/associatedirectory first."
            )
        return found


class DirectoryConfigsView(DirectoryConfigMixin, VidmView):
    """GET the directories (Get-WSADirectory, Get-WS1DirectoryConfigs, Get-WS1Directory);
    POST one (Add-WSALdapDirectory)."""

    def get(self, request: Request) -> Response:
        items = [directory_item(d) for d in listed_directories()]
        items += [pending_item(c) for c in DirectoryConfig.objects.filter(directory__isnull=True)]
        items.sort(key=lambda item: item["name"])
        return Response({"items": items})

    def post(self, request: Request) -> Response:
        try:
            fields, password = wire.directory_settings(self.body(request))
        except wire.BadBody as exc:
            return self.bad(exc)
        try:
            config = services.add_pending(fields, password)
        except DjangoValidationError as exc:
            raise validation_errors(exc) from exc
        return Response(pending_item(config), status=status.HTTP_201_CREATED)


class DirectoryConfigView(DirectoryConfigMixin, VidmView):
    def get(self, request: Request, config_id: str) -> Response:
        found = self.target(config_id)
        return Response(
            pending_item(found) if isinstance(found, DirectoryConfig) else directory_item(found)
        )

    def delete(self, request: Request, config_id: str) -> Response:
        found = self.target(config_id)
        if isinstance(found, DirectoryConfig):
            found.delete()
        else:
            delete_directory(found)
        return Response(status=status.HTTP_204_NO_CONTENT)


class DirectoryConnectorsView(DirectoryConfigMixin, VidmView):
    """The connectors that sync the directory, in failover order."""

    def get(self, request: Request, config_id: str) -> Response:
        found = self.target(config_id)
        if isinstance(found, DirectoryConfig):
            return Response({"items": []})
        listed = sync_connector_list(found) or [found.sync_connector]
        auth = set(found.identity_provider.connectors.values_list("pk", flat=True))
        items = []
        for connector in listed:
            item = connector_item(connector)
            item["usedForAuthentication"] = connector.pk in auth
            items.append(item)
        return Response({"items": items})


class DirectoryDomainsView(DirectoryConfigMixin, VidmView):
    def get(self, request: Request, config_id: str) -> Response:
        found = self.target(config_id)
        if isinstance(found, DirectoryConfig):
            name = wire.domain_of(found.settings.get("base_dn", "")) or found.name
        else:
            name = wire.domain_of(found.base_dn) or found.name
        href = f"{BASE}/directoryconfigs/{config_id}/domains/{name}"
        return Response({"items": [{"name": name, "_links": {"self": {"href": href}}}]})


class SyncProfileView(DirectoryConfigMixin, VidmView):
    """PUT the users to sync (`…sync.profile.users+json`: identityUserInfo), the groups
    (`…sync.profile.groups+json`: identityGroupInfo) or the schedule
    (`…sync.profile.syncschedule+json`: frequency) — Set-WSADirectoryUser,
    Set-WSADirectoryGroup, Set-WSASyncSetting."""

    KINDS = {
        "sync.profile.users+json": "identityUserInfo",
        "sync.profile.groups+json": "identityGroupInfo",
        "sync.profile.syncschedule+json": "frequency",
    }
    # Each part of a profile body: the directory field it sets and how it is read.
    PARTS = {
        "identityUserInfo": ("user_dns", wire.selected_user_dns),
        "identityGroupInfo": ("group_dns", wire.selected_group_dns),
        "frequency": ("sync_frequency", wire.frequency),
    }

    def profile(self, directory: Directory) -> dict:
        return {
            "identityUserInfo": {dn: {"selected": True} for dn in directory.user_dns},
            "identityGroupInfo": {dn: {"selected": True} for dn in directory.group_dns},
            "syncSchedule": {"frequency": wire.FREQUENCY_NAMES.get(directory.sync_frequency)},
        }

    def get(self, request: Request, config_id: str) -> Response:
        return Response(self.profile(self.directory(config_id)))

    def put(self, request: Request, config_id: str) -> Response:
        directory = self.directory(config_id)
        body = self.body(request)
        media = wire.media_type(request)
        named = next(
            (k for suffix, k in self.KINDS.items() if media == wire.MEDIA + "directory." + suffix),
            None,
        )
        # A vnd media type names one part; in plain JSON each key the body has is set, so
        # none of them is dropped without a word.
        keys = [named] if named else [k for k in self.KINDS.values() if k in body]
        try:
            if not keys:
                raise wire.BadBody(
                    "Send identityUserInfo, identityGroupInfo or frequency, as the media type says."
                )
            changes = {self.PARTS[k][0]: self.PARTS[k][1](body) for k in keys}
        except wire.BadBody as exc:
            return self.bad(exc)
        update = DirectorySerializer(directory, data=changes, partial=True)
        update.is_valid(raise_exception=True)
        directory = update.save()
        return Response(self.profile(directory))


def run_item(run) -> dict:
    return {
        "id": run.pk,
        "syncExecutionId": str(run.pk),
        "status": run.status,
        "trigger": run.trigger,
        "requestedBy": run.requested_by.username if run.requested_by else None,
        "ignoreSafeguards": run.ignore_safeguards,
        "startTime": millis(run.started_at),
        "endTime": millis(run.finished_at),
        "createdTime": millis(run.created),
        "message": run.message,
    }


class SyncView(DirectoryConfigMixin, VidmView):
    """POST {"ignoreSafeguards": …} (a boolean or "true"/"false", or no body): a sync with
    trigger API, queued like /api/'s (Start-WSADirectorySync, Start-WS1DirectorySync,
    Sync-WS1Directory). `dry_run` views ask for a review instead."""

    dry_run = False

    def post(self, request: Request, config_id: str) -> Response:
        directory = self.directory(config_id)
        body = self.body(request) if request.data else {}
        asked = {"dry_run": self.dry_run}
        if "ignoreSafeguards" in body and body["ignoreSafeguards"] is not None:
            asked["ignore_safeguards"] = body["ignoreSafeguards"]
        check = SyncRequestSerializer(data=asked, context={"directory": directory})
        check.is_valid(raise_exception=True)
        try:
            run, created = start_sync(
                directory,
                Trigger.REVIEW if self.dry_run else Trigger.API,
                request.user,
                ignore_safeguards=check.validated_data["ignore_safeguards"],
            )
        except RunWaiting as exc:
            return wire.error(status.HTTP_409_CONFLICT, "sync.run.waiting", str(exc))
        except NotAReview as exc:  # pragma: no cover - no reviewed_run is sent here
            raise ValidationError(str(exc)) from exc
        item = run_item(runs_with_attempts().select_related("requested_by").get(pk=run.pk))
        item["joined"] = not created
        return Response(item, status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK)


class DryRunView(SyncView):
    dry_run = True


class SyncExecutionsView(DirectoryConfigMixin, VidmView):
    """The directory's runs, newest first (the last 100)."""

    def get(self, request: Request, config_id: str) -> Response:
        directory = self.directory(config_id)
        runs = (
            runs_with_attempts()
            .filter(directory=directory)
            .select_related("requested_by")
            .order_by("-created", "-id")[:100]
        )
        return Response({"items": [run_item(run) for run in runs]})


# ---- connectors ------------------------------------------------------------------


def connector_or_404(instance_id: str) -> Connector:
    pk = as_id(instance_id)
    connector = Connector.objects.filter(pk=pk).first() if pk else None
    if connector is None:
        raise NotFound(f"No connector has the id {instance_id}.")
    return connector


class ConnectorInstancesView(VidmView):
    """GET the connectors (Get-WSAConnector): match on `host`, use `instanceId`."""

    def get(self, request: Request) -> Response:
        return Response({"items": [connector_item(c) for c in Connector.objects.order_by("name")]})


class AssociateDirectoryView(DirectoryConfigMixin, VidmView):
    """POST connectorinstances/{id}/associatedirectory[?idp=…] with
    {"directoryId", "directoryBindPassword", "usedForAuthentication"}
    (`directory.details+json` or `directory.bindDetails+json`; Set-WSABindPassword)."""

    def post(self, request: Request, instance_id: str) -> Response:
        connector = connector_or_404(instance_id)
        body = self.body(request)
        try:
            config_id = wire.text(body, "directoryId")
            password = wire.text(body, "directoryBindPassword", required=False)
            used = wire.flag(body, "usedForAuthentication", True)
        except wire.BadBody as exc:
            return self.bad(exc)
        idp = None
        if "idp" in request.query_params:
            pk = as_id(request.query_params["idp"])
            idp = IdentityProvider.objects.filter(pk=pk).first() if pk else None
            if idp is None:
                raise NotFound(f"No identity provider has the id {request.query_params['idp']}.")
        target = self.target(config_id)
        try:
            directory = services.associate(
                target,
                connector,
                identity_provider=idp,
                bind_password=password,
                used_for_authentication=used,
            )
        except DjangoValidationError as exc:
            raise validation_errors(exc) from exc
        return Response(
            {
                "directoryId": services.directory_id(directory),
                "instanceId": str(connector.pk),
                "host": connector.host,
                "usedForAuthentication": used,
                "directory": directory_item(directory),
            }
        )


# ---- identity providers ------------------------------------------------------------


def idp_item(idp: IdentityProvider) -> dict:
    return {
        "id": str(idp.pk),
        "name": idp.name,
        "type": "EMBEDDED",
        "enabled": True,
        "directoryConfigurations": [
            {
                "directoryId": services.directory_id(d),
                "name": d.name,
                "type": wire.TYPE_NAMES[d.type],
            }
            for d in idp.directories.all()
        ],
        "connectors": [connector_item(c) for c in idp.connectors.all()],
        "_links": {"self": {"href": f"/SAAS/jersey/manager/api/identityProviders/{idp.pk}"}},
    }


def idp_queryset():
    return IdentityProvider.objects.prefetch_related(
        "connectors",
        Prefetch("directories", queryset=Directory.objects.select_related("vidm_config")),
    )


class IdentityProvidersView(VidmView):
    """GET the identity providers with their directoryConfigurations (Get-WSAIdentityProvider)."""

    def get(self, request: Request) -> Response:
        return Response({"items": [idp_item(idp) for idp in idp_queryset()]})


class IdentityProviderView(VidmView):
    """GET one; PUT it back with its `connectors` (ids or objects with instanceId) to set
    the connectors associated with it (rule S7, as /api/'s identity-providers/{id}/connectors)."""

    def get_idp(self, idp_id: str) -> IdentityProvider:
        pk = as_id(idp_id)
        idp = idp_queryset().filter(pk=pk).first() if pk else None
        if idp is None:
            raise NotFound(f"No identity provider has the id {idp_id}.")
        return idp

    def get(self, request: Request, idp_id: str) -> Response:
        return Response(idp_item(self.get_idp(idp_id)))

    def put(self, request: Request, idp_id: str) -> Response:
        idp = self.get_idp(idp_id)
        body = self.body(request)
        given = body.get("connectors", body.get("connectorInstances"))
        if given is None:
            return Response(idp_item(idp))
        if isinstance(given, dict):
            given = [given]
        if not isinstance(given, list):
            return self.bad(ValueError("connectors: give a list."))
        # Checked and refused by name in the service, as /api/ does.
        ids: list = [
            item.get("instanceId", item.get("id")) if isinstance(item, dict) else item
            for item in given
        ]
        try:
            set_identity_provider_connectors(idp, ids)
        except DjangoValidationError as exc:
            raise ValidationError({"connectors": exc.messages}) from exc
        return Response(idp_item(self.get_idp(idp_id)))


class NotServedView(VidmView):
    """Any other /SAAS/ path: a vIDM-shaped 404 instead of a login page or an HTML error."""

    authentication_classes: list = []
    permission_classes: list = []

    def handle(self, request: Request, *args, **kwargs) -> Response:
        return wire.error(
            status.HTTP_404_NOT_FOUND,
            "not.found",
            f"{request.path} is not served here; docs/vidm-compatibility.md lists what is.",
        )

    get = post = put = patch = delete = handle
