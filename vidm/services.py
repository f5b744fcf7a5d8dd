"""OAuth clients of the vIDM-compatible API, and the directories vIDM creates before a
connector is associated with them. The directory itself is always written by
directories.services (through the REST API's own serializer, so both check the same rules)."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from apitokens.choices import TokenKind
from apitokens.models import ApiToken
from apitokens.services import issue_token, revoke_all
from connectors.models import Connector
from console.models import Role, User
from directories.api.serializers import DirectorySerializer
from directories.failover import sync_connector_list, sync_connectors_feature
from directories.models import Directory, IdentityProvider
from directories.services import append_sync_connector, set_identity_provider_connectors
from vidm.models import DirectoryConfig, OAuthClient

CLIENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
# The directoryId of a directory added in the console (no vIDM row): stable, derived from its id.
DIRECTORY_NAMESPACE = uuid.UUID("6f1d0c1e-3f55-4bd7-9a4c-5d1e8a7b2c90")


def _digest(secret: str) -> str:
    # The secret is 256 random bits: a plain digest is enough, a slow hash adds nothing.
    return hashlib.sha256(secret.encode()).hexdigest()


@transaction.atomic
def add_client(client_id: str, role: str) -> tuple[OAuthClient, str]:
    """A new OAuth client acting as a new service account with `role`; returns the client
    and its secret (shown once, only its digest is kept)."""
    client_id = (client_id or "").strip()
    if not CLIENT_ID.match(client_id):
        raise ValidationError(
            {"client_id": "Use 1 to 100 letters, digits, dots, dashes or underscores."}
        )
    if role not in Role.values:
        raise ValidationError({"role": "Choose a role."})
    if OAuthClient.objects.filter(client_id=client_id).exists():
        raise ValidationError({"client_id": "An OAuth client with this ID already exists."})
    username = f"oauth-{client_id}"
    if User.objects.filter(username=username).exists():
        raise ValidationError({"client_id": f"The account name {username} is taken."})
    user = User.objects.create_user(username=username, password=None, role=role)
    secret = secrets.token_urlsafe(32)
    client = OAuthClient.objects.create(client_id=client_id, secret_hash=_digest(secret), user=user)
    return client, secret


@transaction.atomic
def delete_client(client: OAuthClient) -> None:
    """The client's tokens stop working at once; its service account is deactivated, not
    deleted, so the Sync Log keeps naming who asked for its runs."""
    user = client.user
    revoke_all(user)
    client.delete()
    user.is_active = False
    user.save(update_fields=["is_active"])


def token_claims(
    user: User, *, issuer: str, tenant: str, client_id: str | None = None
) -> dict[str, object]:
    """The claims vIDM puts in its session and access tokens, those clients read: who the
    token is for (`prn`, user@tenant, or client@tenant for an OAuth client), and who issued
    it. apitokens adds `jti`, `iat` and `exp`."""
    claims: dict[str, object] = {
        "iss": issuer,
        "aud": f"{issuer}/oauthtoken",
        "user_id": str(user.pk),
        "scp": "admin",
    }
    if client_id is None:
        prn = f"{user.username}@{tenant}"
        claims |= {"prn": prn, "sub": prn, "prn_type": "USER", "domain": "System Domain"}
        if user.email:
            claims["eml"] = user.email
    else:
        prn = f"{client_id}@{tenant}"
        claims |= {"prn": prn, "sub": prn, "prn_type": "CLIENT", "cid": client_id}
    return claims


def client_credentials_token(
    client_id: str, secret: str, *, issuer: str, tenant: str
) -> tuple[ApiToken, str] | None:
    """An access token (a JWT) for a client's id and secret, or None when they do not match."""
    client = OAuthClient.objects.select_related("user").filter(client_id=client_id).first()
    if client is None or not hmac.compare_digest(client.secret_hash, _digest(secret)):
        return None
    if not client.user.is_active:
        return None
    return issue_token(
        client.user,
        name=f"OAuth client {client.client_id}"[:100],
        kind=TokenKind.OAUTH,
        ttl=settings.VIDM_OAUTH_TOKEN_TTL,
        jwt_claims=token_claims(
            client.user, issuer=issuer, tenant=tenant, client_id=client.client_id
        ),
    )


# ---- directory configs -------------------------------------------------------------


def directory_id(directory: Directory) -> str:
    config = getattr(directory, "vidm_config", None)
    if config is not None:
        return str(config.pk)
    return str(uuid.uuid5(DIRECTORY_NAMESPACE, f"directory-{directory.pk}"))


def find(value: str) -> DirectoryConfig | Directory | None:
    """The pending config or the directory a vIDM directoryId names."""
    try:
        wanted = uuid.UUID(str(value))
    except ValueError:
        return None
    config = DirectoryConfig.objects.select_related("directory").filter(pk=wanted).first()
    if config is not None:
        return config if config.pending else config.directory
    for directory in Directory.objects.filter(vidm_config__isnull=True).only("pk"):
        if uuid.uuid5(DIRECTORY_NAMESPACE, f"directory-{directory.pk}") == wanted:
            return Directory.objects.get(pk=directory.pk)
    return None


def check_settings(fields: dict) -> dict:
    """The errors the REST API would give these directory settings, the sync connector
    aside (it is chosen later, when a connector is associated)."""
    serializer = DirectorySerializer(data=fields)
    serializer.is_valid()
    errors = {k: v for k, v in serializer.errors.items() if k != "sync_connector"}
    if DirectoryConfig.objects.filter(name=fields.get("name")).exists():
        errors.setdefault("name", []).append("A directory with this name already exists.")
    return errors


def add_pending(fields: dict, bind_password: str = "") -> DirectoryConfig:
    errors = check_settings(fields)
    if errors:
        raise ValidationError(errors)
    return DirectoryConfig.objects.create(
        name=fields["name"], settings=fields, bind_password=bind_password
    )


def _save(serializer: DirectorySerializer) -> Directory:
    serializer.is_valid(raise_exception=True)
    return serializer.save()


@transaction.atomic
def associate(
    target: DirectoryConfig | Directory,
    connector: Connector,
    *,
    identity_provider: IdentityProvider | None,
    bind_password: str,
    used_for_authentication: bool,
) -> Directory:
    """Associate `connector` with a directory. A pending vIDM directory becomes a directory
    here, synced by this connector; an existing one gets the connector in its identity
    provider (when it authenticates) and at the end of its Sync Connectors list."""
    if isinstance(target, DirectoryConfig):
        data = {
            **target.settings,
            "sync_connector": connector.pk,
            "bind_password": bind_password or target.bind_password,
        }
        if identity_provider is not None:
            data["identity_provider"] = identity_provider.pk
        directory = _save(DirectorySerializer(data=data))
        target.directory = directory
        target.bind_password = ""
        target.save(update_fields=["directory", "bind_password"])
        return directory
    directory = target
    if identity_provider is not None and identity_provider.pk != directory.identity_provider_id:
        raise ValidationError(
            {"idp": f"{directory.name} belongs to {directory.identity_provider.name}."}
        )
    if bind_password:
        _save(DirectorySerializer(directory, data={"bind_password": bind_password}, partial=True))
    idp = directory.identity_provider
    if used_for_authentication and not idp.connectors.filter(pk=connector.pk).exists():
        set_identity_provider_connectors(
            idp, [*idp.connectors.values_list("pk", flat=True), connector.pk]
        )
    listed = [c.pk for c in sync_connector_list(directory)]
    if connector.pk not in listed and sync_connectors_feature().available:
        append_sync_connector(directory, connector)
    return directory
