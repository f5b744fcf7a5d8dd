"""The Sync Connectors list's rules (S3, S5, S6, S7, S11): which connectors a sync tries, in
order, and which of them the directory's WorkspaceIDP lacks.

Read by the console, the API and the sync engine alike; `services.save_sync_connectors`
is the one writer of the list.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

from django.conf import settings

from connectors.choices import ActivationState, HealthState
from connectors.models import Connector
from directories.models import Directory


@dataclass(frozen=True)
class FeatureState:
    available: bool
    reason: str = ""
    outdated: list[Connector] = field(default_factory=list)


def sync_connectors_feature() -> FeatureState:
    """Rules S5 and S6: the tab exists on premises when every activated connector is
    19.03.0.0 or later."""
    if settings.DEPLOYMENT_MODE == "cloud":
        return FeatureState(False, "Sync Connectors lists are not available in cloud mode.")
    # A connector whose agent never activated runs no code yet: only the versions of
    # activated agents decide.
    activated = Connector.objects.filter(activation_state=ActivationState.ACTIVE)
    outdated = [c for c in activated.order_by("name") if c.is_outdated]
    if outdated:
        names = ", ".join(f"{c.name} ({c.version or 'version unknown'})" for c in outdated)
        return FeatureState(
            False,
            f"Every connector must run {settings.MINIMUM_CONNECTOR_VERSION} or later "
            f"to use Sync Connectors lists. Upgrade: {names}.",
            outdated,
        )
    return FeatureState(True)


def sync_connector_list(directory: Directory) -> list[Connector]:
    """The saved list in failover order (may be empty)."""
    return [e.connector for e in directory.sync_entries.select_related("connector")]


def connector_without_list(directory: Directory) -> Connector:
    """Who syncs a directory, with no fallback, when no Sync Connectors list applies (S3)."""
    return directory.sync_connector


def effective_sync_connectors(directory: Directory) -> tuple[list[Connector], bool]:
    """Connectors a sync will try, and whether fallback applies.

    An empty list, cloud mode, or outdated connectors mean the sync connector alone with
    no fallback (rules S3 and S6).
    """
    if sync_connectors_feature().available:
        entries = sync_connector_list(directory)
        if entries:
            return entries, True
    return [connector_without_list(directory)], False


def not_associated(
    directory: Directory,
    connectors: Iterable[Connector],
    associated: Collection[int] | None = None,
) -> list[Connector]:
    """Rule S7: which of `connectors` are not associated with the directory's WorkspaceIDP.

    Any connector may be in a Sync Connectors list (the source's "Select a Connector" lists
    every connector of the service), and such a one syncs the directory; only connectors
    associated with its WorkspaceIDP also authenticate its users. `associated` is the
    identity provider's connector ids when they are being edited (the IdP page's unsaved
    list); by default the stored association.
    """
    if associated is None:
        associated = set(directory.identity_provider.connectors.values_list("pk", flat=True))
    return [c for c in connectors if c.pk not in associated]


def not_associated_warning(directory: Directory, connectors: list[Connector]) -> str:
    """What the console says about listed connectors the WorkspaceIDP lacks ("" if none)."""
    if not connectors:
        return ""
    names = ", ".join(c.name for c in connectors)
    idp = directory.identity_provider.name
    verb, subject, obj = ("is", "it", "it") if len(connectors) == 1 else ("are", "they", "they")
    return (
        f"{names} {verb} in the Sync Connectors list of {directory.name} but not associated "
        f"with {idp}: {subject} can sync the directory but not authenticate its users "
        f"until {obj} {verb} associated."
    )


def why_no_fallback(directory: Directory) -> str:
    """Why a sync of `directory` tries its sync connector alone (for the run's message)."""
    feature = sync_connectors_feature()
    if not feature.available:
        saved = len(sync_connector_list(directory))
        kept = f"; its saved list of {saved} connector(s) is kept for later" if saved else ""
        return f"Sync Connectors lists are switched off: {feature.reason}{kept}"
    return "the Sync Connectors list is empty, so no fallback"


@dataclass
class ConnectorStatus:
    label: str
    colour: str


def connector_status(directory: Directory) -> ConnectorStatus:
    """Whether the connectors the next sync would try are reachable, in failover order."""
    candidates, _ = effective_sync_connectors(directory)
    healthy = [c for c in candidates if c.health == HealthState.OK]
    if candidates and candidates[0].health == HealthState.OK:
        return ConnectorStatus("Ready", "success")
    if healthy:
        return ConnectorStatus(f"Falls back to {healthy[0].name}", "warning")
    if all(c.health == HealthState.UNKNOWN for c in candidates):
        return ConnectorStatus("Connector health unknown", "neutral")
    return ConnectorStatus("No connector available", "danger")
