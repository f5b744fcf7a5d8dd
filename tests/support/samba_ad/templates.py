"""Provisioned DCs cached as templates, and the standard DC the AD tests share."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from tests.support.samba_ad.dataset import ADDataSet, standard_dataset
from tests.support.samba_ad.dc import CACHE_ENV, DEFAULT_CACHE_DIR, SambaDC, _samba_version
from tests.support.samba_ad.entries import Entry

log = logging.getLogger(__name__)


def default_cache_dir() -> Path | None:
    """$SAMBA_AD_CACHE_DIR if set (empty or "off" disables caching), else var/cache/samba-ad."""
    value = os.environ.get(CACHE_ENV)
    if value is None:
        return DEFAULT_CACHE_DIR
    if value.strip().lower() in ("", "0", "off", "no", "false"):
        return None
    return Path(value)


def template_key(dc: SambaDC, entries: Sequence[Entry]) -> str:
    """A cache key covering the Samba build, this module's code, the domain and the data."""
    digest = hashlib.sha256()
    digest.update(f"{_samba_version()}\n".encode())
    digest.update(f"{dc.realm}\n{dc.domain}\n{dc.admin_password}\n".encode())
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.read_bytes())
    for entry in entries:
        digest.update(json.dumps([entry.dn, entry.attrs], sort_keys=True).encode())
    return digest.hexdigest()[:24]


def prepare_dc(
    dc: SambaDC,
    entries: Sequence[Entry],
    cache_dir: Path | None = DEFAULT_CACHE_DIR,
) -> bool:
    """Restore dc from the template cache, or provision, load and cache it.

    Returns True when the cache was used. cache_dir None disables the cache.
    """
    key = template_key(dc, entries) if cache_dir is not None else ""
    if cache_dir is not None and dc.restore_template(cache_dir, key):
        return True
    dc.provision()
    if entries:
        dc.load_offline(entries)
    if cache_dir is not None:
        try:
            dc.save_template(cache_dir, key)
        except OSError:
            # A read-only or full cache location only costs the next session time.
            pass
    return False


@contextlib.contextmanager
def running_standard_dc(
    workdir: Path, cache_dir: Path | None = DEFAULT_CACHE_DIR, *, cleanup: bool = True
) -> Iterator[tuple[SambaDC, ADDataSet]]:
    """A started DC holding the standard data set; stopped (and its files removed) on exit."""
    dc = SambaDC(workdir)
    data = standard_dataset(
        dc.base_dn, realm=dc.realm, domain=dc.domain, password=dc.admin_password
    )
    started = time.monotonic()
    try:
        dc.timings["cached"] = float(prepare_dc(dc, data.entries(), cache_dir))
        dc.start()
        dc.timings["total"] = time.monotonic() - started
        log.info("Samba AD DC ready: %s", {k: round(v, 2) for k, v in dc.timings.items()})
        yield dc, dataclasses.replace(data, dc=dc)
    finally:
        dc.stop()
        if cleanup:
            # ~70 MB per session; the logs beside it stay for post-mortems.
            shutil.rmtree(dc.root, ignore_errors=True)
