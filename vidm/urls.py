"""vIDM's REST paths under /SAAS/ (each with or without a trailing slash, as clients vary)."""

from __future__ import annotations

from django.urls import re_path

from vidm import api

app_name = "vidm"

CM = r"^jersey/manager/api/connectormanagement"
ID = r"(?P<config_id>[^/]{1,100})"

urlpatterns = [
    re_path(r"^API/1\.0/REST/auth/system/login/?$", api.LoginView.as_view(), name="login"),
    re_path(r"^auth/oauthtoken/?$", api.OAuthTokenView.as_view(), name="oauthtoken"),
    re_path(r"^API/1\.0/REST/auth/token/?$", api.TokenAttributeView.as_view(), name="token"),
    re_path(r"^jersey/manager/api/system/health/?$", api.HealthView.as_view(), name="health"),
    re_path(CM + r"/directoryconfigs/?$", api.DirectoryConfigsView.as_view(), name="configs"),
    re_path(CM + rf"/directoryconfigs/{ID}/?$", api.DirectoryConfigView.as_view(), name="config"),
    re_path(
        CM + rf"/directoryconfigs/{ID}/connectors/?$",
        api.DirectoryConnectorsView.as_view(),
        name="config_connectors",
    ),
    re_path(
        CM + rf"/directoryconfigs/{ID}/domains/?$",
        api.DirectoryDomainsView.as_view(),
        name="config_domains",
    ),
    re_path(
        CM + rf"/directoryconfigs/{ID}/syncprofile/?$",
        api.SyncProfileView.as_view(),
        name="syncprofile",
    ),
    re_path(
        CM + rf"/directoryconfigs/{ID}/syncprofile/sync/?$", api.SyncView.as_view(), name="sync"
    ),
    re_path(
        CM + rf"/directoryconfigs/{ID}/syncprofile/dryrun/?$",
        api.DryRunView.as_view(),
        name="dryrun",
    ),
    re_path(
        CM + rf"/directoryconfigs/{ID}/syncexecutions/?$",
        api.SyncExecutionsView.as_view(),
        name="syncexecutions",
    ),
    re_path(
        CM + rf"/directoryconfigurations/{ID}/sync/v2/?$", api.SyncView.as_view(), name="sync_v2"
    ),
    re_path(
        CM + r"/connectorinstances/?$", api.ConnectorInstancesView.as_view(), name="connectors"
    ),
    re_path(
        CM + r"/connectorinstances/(?P<instance_id>[^/]{1,100})/associatedirectory/?$",
        api.AssociateDirectoryView.as_view(),
        name="associate",
    ),
    re_path(
        r"^jersey/manager/api/identityProviders/?$",
        api.IdentityProvidersView.as_view(),
        name="identity_providers",
    ),
    re_path(
        r"^jersey/manager/api/identityProviders/(?P<idp_id>[^/]{1,100})/?$",
        api.IdentityProviderView.as_view(),
        name="identity_provider",
    ),
    re_path(r"^.*$", api.NotServedView.as_view(), name="not_served"),
]
