"""The agent's state file: who it is, where it listens, and a digest of its secret."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import stat
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

STATE_ENV = "CONNECTOR_AGENT_STATE"
DEFAULT_STATE_FILE = "connector-agent.json"


class StateError(Exception):
    """The state file is missing, unreadable or malformed."""


def default_state_path() -> Path:
    """``$CONNECTOR_AGENT_STATE`` or ``./connector-agent.json``."""
    return Path(os.environ.get(STATE_ENV) or DEFAULT_STATE_FILE)


def hash_secret(secret: str) -> str:
    """SHA-256 hex digest of a connector secret."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class AgentState:
    """What the agent keeps between runs. The secret itself is never stored."""

    service: str
    connector_id: int | None
    name: str
    listen: str
    secret_sha256: str

    def secret_matches(self, presented: str) -> bool:
        """Whether ``presented`` is this connector's secret (constant-time comparison)."""
        return hmac.compare_digest(hash_secret(presented), self.secret_sha256)


def load_state(path: Path | str) -> AgentState:
    """Read and check a state file."""
    path = Path(path)
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StateError(
            f"no state file at {path}; activate the agent first "
            "(python -m connectors.agent activate ...)"
        ) from None
    except OSError as exc:
        raise StateError(f"cannot read state file {path}: {exc.strerror}") from None
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise StateError(f"state file {path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise StateError(f"state file {path} must hold a JSON object")
    digest = data.get("secret_sha256")
    if not isinstance(digest, str) or len(digest) != 64:
        raise StateError(f"state file {path} has no valid secret_sha256")
    try:
        bytes.fromhex(digest)
    except ValueError:
        raise StateError(f"state file {path} has no valid secret_sha256") from None
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise StateError(f"state file {path} has no connector name")
    listen = data.get("listen")
    if not isinstance(listen, str) or not listen:
        raise StateError(f"state file {path} has no listen address")
    connector_id = data.get("connector_id")
    if connector_id is not None and not isinstance(connector_id, int):
        raise StateError(f"state file {path} has a non-integer connector_id")
    return AgentState(
        service=str(data.get("service") or ""),
        connector_id=connector_id,
        name=name,
        listen=listen,
        secret_sha256=digest.lower(),
    )


def save_state(path: Path | str, state: AgentState) -> None:
    """Write the state file atomically with mode 0600.

    The content goes to a private temporary file in the same folder that then
    replaces the target, so a reader never sees half a file and the digest is never
    readable by others, not even briefly.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, stat.S_IRUSR | stat.S_IWUSR)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(asdict(state), out, indent=2)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    try:
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)
