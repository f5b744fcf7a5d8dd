"""pytest fixtures: a throwaway Samba Active Directory DC holding the standard data set."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .components import missing
from .samba_ad import ADDataSet, default_cache_dir, running_standard_dc, samba_available

__all__ = ["samba_ad"]


@pytest.fixture(scope="session")
def samba_ad(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ADDataSet]:
    """A running Samba AD DC on 127.0.0.1:389/636 with the standard data set.

    Yields the data set description (``base_dn``, ``bind_dn``, ``password``, ``uri``,
    ``users``, ``groups``, ``all_staff``, ...); ``samba_ad.dc`` is the SambaDC itself.
    Tests may add objects but must leave what the description lists unchanged, and a
    test that stops the DC must start it again.
    """
    reason = samba_available()
    if reason is not None:
        missing("Samba AD DC", reason)
    workdir = tmp_path_factory.mktemp("samba-ad")
    with running_standard_dc(workdir, default_cache_dir()) as (_dc, data):
        yield data
