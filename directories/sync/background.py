"""Loading from the store in the background while the agent answers (a speed-up only)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class Waited(Protocol[T_co]):
    """Something loaded, being loaded, or to be loaded when wanted: `want` starts loading
    it (at most once), `result` gives it once it is there (loading it first if need be)."""

    def want(self) -> None: ...

    def result(self) -> T_co: ...


class Loading(threading.Thread, Generic[T]):
    """Runs ``load(directory_id)`` in a thread with its own database connection, started
    at once or (``wanted=False``) on the first :meth:`want` or :meth:`result`; `result`
    waits for it, and loads in the caller's thread when the background load failed. No
    test can tell its mutants apart (hence the pragmas)."""

    def __init__(
        self, load: Callable[[int], T], directory_id: int, what: str, wanted: bool = True
    ) -> None:
        super().__init__(name=f"sync-{what}-{directory_id}", daemon=True)  # pragma: no mutate
        self.load = load
        self.directory_id = directory_id
        self.what = what
        self.value: T | None = None  # pragma: no mutate
        self.wanted = False  # pragma: no mutate
        if wanted:
            self.want()

    def want(self) -> None:
        if not self.wanted:  # pragma: no mutate
            self.wanted = True  # pragma: no mutate
            self.start()

    def run(self) -> None:
        from django.db import connection

        try:
            self.value = self.load(self.directory_id)  # pragma: no mutate
        except Exception:
            log.exception("loading the %s in the background failed", self.what)  # pragma: no mutate
        finally:
            connection.close()

    def ready(self) -> T | None:
        """What was loaded when the load has finished, else None at once (never waits)."""
        return None if self.is_alive() else self.value

    def result(self) -> T:
        self.want()
        self.join()
        if self.value is None:
            self.value = self.load(self.directory_id)
        return self.value
