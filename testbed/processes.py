"""Child processes that do not outlive the process that started them."""

from __future__ import annotations

import ctypes
import signal

PR_SET_PDEATHSIG = 1


def dies_with_parent(sig: int = signal.SIGTERM):
    """A `preexec_fn` asking the kernel to send `sig` to the child when its parent dies
    (Linux; elsewhere the child's own stop is the only way it ends)."""

    def arrange() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, sig)
        except (OSError, AttributeError):
            pass

    return arrange
