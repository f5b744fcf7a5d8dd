"""A throwaway Samba AD domain controller: provision or restore, load, start, stop."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from testbed.processes import dies_with_parent
from tests.support.samba_ad.entries import (
    ADMIN_PASSWORD,
    DOMAIN,
    HOST,
    LDAPS_PORT,
    NETBIOS_NAME,
    PORT,
    REALM,
    Entry,
    connect,
)

REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_CACHE_DIR = REPO_ROOT / "var" / "cache" / "samba-ad"
CACHE_ENV = "SAMBA_AD_CACHE_DIR"
LOCK_FILE = Path(tempfile.gettempdir()) / "dirsync-samba-ad.lock"
LOCK_WAIT = 180.0

TEMPLATES_KEPT = 2
# Run by the system Python that has the samba bindings.
OFFLINE_LOADER = Path(__file__).with_name("offline_load.py").resolve()

log = logging.getLogger(__name__)


class SambaDCError(RuntimeError):
    """The domain controller could not be provisioned, started or stopped."""


# -- the domain controller -----------------------------------------------------


def samba_available() -> str | None:
    """None when Samba AD can run here, else the reason it cannot."""
    for tool in ("samba", "samba-tool"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (Debian packages samba, samba-ad-dc)"
    if _system_python() is None:
        return "the Python interpreter of samba-tool (with the samba bindings) was not found"
    if os.geteuid() != 0:
        return "samba must run as root to listen on ports 389/636"
    return None


def _system_python() -> str | None:
    """The interpreter named in samba-tool's shebang: the one with the samba bindings."""
    tool = shutil.which("samba-tool")
    if tool is None:
        return None
    with open(tool, "rb") as fh:
        first = fh.readline().decode("utf-8", "replace").strip()
    if not first.startswith("#!"):
        return None
    parts = first[2:].split()
    if not parts:
        return None
    if Path(parts[0]).name == "env" and len(parts) > 1:
        return shutil.which(parts[1])
    return parts[0] if os.access(parts[0], os.X_OK) else None


def _samba_version() -> str:
    out = subprocess.run(["samba", "--version"], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def _port_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@dataclass
class SambaDC:
    """A Samba AD DC living entirely in workdir: provision (or restore), load, start, stop."""

    workdir: Path
    realm: str = REALM
    domain: str = DOMAIN
    admin_password: str = ADMIN_PASSWORD
    # provision/load/restore/start/total seconds, and cached (1.0 when the template was reused)
    timings: dict[str, float] = field(default_factory=dict)
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _lock_fd: int | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.workdir = Path(self.workdir).resolve()

    # -- layout

    @property
    def host(self) -> str:
        return HOST

    @property
    def port(self) -> int:
        # Samba's LDAP server has no port setting: 389 and 636 it is.
        return PORT

    @property
    def root(self) -> Path:
        return self.workdir / "dc"

    @property
    def smb_conf(self) -> Path:
        return self.root / "etc" / "smb.conf"

    @property
    def sam_ldb(self) -> Path:
        return self.root / "private" / "sam.ldb"

    @property
    def log_path(self) -> Path:
        return self.workdir / "samba.log"

    @property
    def base_dn(self) -> str:
        return ",".join(f"DC={part}" for part in self.realm.lower().split("."))

    @property
    def bind_dn(self) -> str:
        return f"CN=Administrator,CN=Users,{self.base_dn}"

    @property
    def uri(self) -> str:
        return f"ldap://{self.host}:{self.port}"

    @property
    def ldaps_uri(self) -> str:
        return f"ldaps://{self.host}:{LDAPS_PORT}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # -- provisioning

    def provision(self) -> None:
        """Provision a fresh domain into workdir/dc."""
        if self.root.exists():
            raise SambaDCError(f"{self.root} already exists")
        self.workdir.mkdir(parents=True, exist_ok=True)
        empty_conf = self.workdir / "provision-empty.conf"
        # Without -s, samba-tool reads (and copies) the machine's /etc/samba/smb.conf.
        empty_conf.write_text("")
        d = self.root
        options = {
            "interfaces": "lo",
            "bind interfaces only": "yes",
            "server services": "ldap",
            "pid directory": d / "run",
            "lock directory": d / "lock",
            "state directory": d / "state",
            "cache directory": d / "cache",
            "ncalrpc dir": d / "ncalrpc",
            "winbindd socket directory": d / "winbindd",
            "private dir": d / "private",
            "binddns dir": d / "bind-dns",
        }
        cmd = [
            "samba-tool",
            "domain",
            "provision",
            "-s",
            str(empty_conf),
            "--use-rfc2307",
            f"--realm={self.realm}",
            f"--domain={self.domain}",
            f"--host-name={NETBIOS_NAME}",
            "--server-role=dc",
            "--dns-backend=NONE",
            f"--adminpass={self.admin_password}",
            f"--targetdir={d}",
        ]
        cmd += [f"--option={k}={v}" for k, v in options.items()]
        started = time.monotonic()
        out = subprocess.run(cmd, capture_output=True, text=True, env=_samba_env(self.root))
        if out.returncode != 0:
            raise SambaDCError(
                f"samba-tool domain provision failed ({out.returncode}):\n"
                f"{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
            )
        self._fix_smb_conf()
        _write_tls_files(self.root / "private" / "tls", f"{NETBIOS_NAME}.{self.realm}".lower())
        self.timings["provision"] = time.monotonic() - started

    def _fix_smb_conf(self) -> None:
        text = self.smb_conf.read_text()
        # Provisioning drops this option, and without it simple binds on 389 are refused.
        # It must sit in [global]: appended at the end it would land in [netlogon].
        # Two LDAP workers (instead of four) start faster and still let a slow search
        # on one connection leave others served.
        extra = "\tldap server require strong auth = no\n\tprefork children = 2\n"
        if extra not in text:
            text = text.replace("[global]\n", "[global]\n" + extra, 1)
        self.smb_conf.write_text(text)

    def load_offline(self, entries: Iterable[Entry]) -> int:
        """Write entries straight into sam.ldb while the DC is stopped; returns the count.

        Runs samba's own module stack (so objectGUID, SIDs, backlinks and metadata are
        made as over LDAP) in one batch-mode transaction, which is many times faster than
        LDAP adds: each LDAP add is its own transaction and copies growing index lists.
        """
        if self.running:
            raise SambaDCError("load_offline needs the DC stopped")
        python = _system_python()
        if python is None:
            raise SambaDCError("no Python with the samba bindings found")
        payload = [{"dn": e.dn, "attrs": e.attrs} for e in entries]
        started = time.monotonic()
        with tempfile.NamedTemporaryFile(
            "w", suffix=".json", dir=self.workdir, delete=False, encoding="utf-8"
        ) as fh:
            json.dump(payload, fh, ensure_ascii=False)
            data_path = fh.name
        try:
            out = subprocess.run(
                [
                    python,
                    str(Path(__file__).with_name("offline_load.py").resolve()),
                    "load",
                    str(self.smb_conf),
                    data_path,
                ],
                capture_output=True,
                text=True,
                env=_samba_env(self.root),
            )
        finally:
            os.unlink(data_path)
        if out.returncode != 0:
            raise SambaDCError(f"offline load failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
        self.timings["load"] = self.timings.get("load", 0.0) + time.monotonic() - started
        return len(payload)

    # -- template cache

    def save_template(self, cache_dir: Path, key: str) -> Path:
        """Copy the stopped DC into cache_dir/key (atomically) for later sessions."""
        if self.running:
            raise SambaDCError("save_template needs the DC stopped")
        target = Path(cache_dir) / key
        if target.exists():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=target.parent))
        try:
            shutil.copytree(self.root, staging / "dc", symlinks=True)
            (staging / "origin").write_text(str(self.root))
            try:
                os.rename(staging, target)
            except OSError as exc:
                # Another session stored the same template first.
                if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        _prune_templates(target.parent, keep=TEMPLATES_KEPT)
        return target

    def restore_template(self, cache_dir: Path, key: str) -> bool:
        """Copy a cached template into workdir; False when there is none."""
        source = Path(cache_dir) / key
        origin_file = source / "origin"
        if not origin_file.is_file():
            return False
        if self.root.exists():
            raise SambaDCError(f"{self.root} already exists")
        started = time.monotonic()
        self.workdir.mkdir(parents=True, exist_ok=True)
        shutil.copytree(source / "dc", self.root, symlinks=True)
        # Only smb.conf holds absolute paths; the databases are location-free.
        origin = origin_file.read_text()
        os.utime(origin_file)  # marks the template as recently used for pruning
        text = self.smb_conf.read_text().replace(origin, str(self.root))
        self.smb_conf.write_text(text)
        self.timings["restore"] = time.monotonic() - started
        return True

    # -- running

    def start(self, timeout: float = 60.0) -> None:
        """Start samba in the foreground of a child process and wait for LDAP binds."""
        if self.running:
            return
        started = time.monotonic()
        self._acquire_lock(timeout=LOCK_WAIT)
        try:
            for port in (self.port, LDAPS_PORT):
                if _port_open(self.host, port):
                    raise SambaDCError(
                        f"{self.host}:{port} is already in use; the Samba AD test DC needs the "
                        "fixed LDAP ports 389/636 (is another DC or LDAP server running?)"
                    )
            log_file = open(self.log_path, "ab")
            try:
                self._proc = subprocess.Popen(
                    ["samba", "-F", "--debug-stdout", "-s", str(self.smb_conf)],
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    env=_samba_env(self.root),
                    # Own process group: stop() signals samba and all its workers at once.
                    start_new_session=True,
                    # A test run killed outright must not leave a DC holding the ports.
                    preexec_fn=dies_with_parent(signal.SIGKILL),
                )
            finally:
                log_file.close()
            self._wait_ready(started + timeout)
        except BaseException:
            self.stop()
            raise
        self.timings["start"] = time.monotonic() - started

    def _wait_ready(self, deadline: float) -> None:
        import ldap

        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                code = None if self._proc is None else self._proc.returncode
                raise SambaDCError(
                    f"samba exited with {code} while starting:\n{_tail(self.log_path)}"
                )
            if _port_open(self.host, self.port):
                try:
                    conn = connect(self.uri, self.bind_dn, self.admin_password, timeout=2.0)
                    conn.unbind_s()
                    return
                except ldap.LDAPError as exc:
                    last_error = exc
            time.sleep(0.05)
        raise SambaDCError(
            f"samba did not answer a simple bind on {self.uri} in time "
            f"(last error: {last_error!r}):\n{_tail(self.log_path)}"
        )

    def stop(self, timeout: float = 15.0) -> None:
        """Stop samba and every process in its group; release the port lock."""
        proc, self._proc = self._proc, None
        try:
            if proc is not None:
                _kill_group(proc, timeout)
        finally:
            self._release_lock()

    def _acquire_lock(self, timeout: float) -> None:
        # One DC per machine (fixed ports): a second test session waits its turn
        # instead of failing on a busy port.
        if self._lock_fd is not None:
            return
        fd = os.open(LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o666)
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.close(fd)
                    raise SambaDCError(
                        f"another test session holds {LOCK_FILE} (a Samba DC is running)"
                    ) from None
                time.sleep(0.2)
        self._lock_fd = fd

    def _release_lock(self) -> None:
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            os.close(fd)

    def connect(self) -> Any:
        """A python-ldap connection bound as Administrator."""
        return connect(self.uri, self.bind_dn, self.admin_password)

    def __enter__(self) -> SambaDC:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _prune_templates(cache_dir: Path, keep: int) -> None:
    """Delete all but the `keep` most recently used templates (each is ~70 MB)."""
    templates = [p for p in cache_dir.iterdir() if (p / "origin").is_file()]
    templates.sort(key=lambda p: (p / "origin").stat().st_mtime, reverse=True)
    for old in templates[keep:]:
        shutil.rmtree(old, ignore_errors=True)


def _samba_env(root: Path) -> dict[str, str]:
    env = dict(os.environ)
    # Durability is worthless for a throwaway DC; fsync per commit is pure cost.
    env["TDB_NO_FSYNC"] = "1"
    env["KRB5_CONFIG"] = str(root / "private" / "krb5.conf")
    return env


def _write_tls_files(tls_dir: Path, hostname: str) -> None:
    """A self-signed EC certificate for LDAPS.

    Samba would otherwise generate an RSA key on its first start, which takes seconds.
    """
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(hostname), x509.DNSName("localhost")]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    tls_dir.mkdir(parents=True, exist_ok=True)
    key_path = tls_dir / "key.pem"
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    # Samba refuses a key file that others can read.
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key_pem)
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    (tls_dir / "cert.pem").write_bytes(cert_pem)
    (tls_dir / "ca.pem").write_bytes(cert_pem)


def _kill_group(proc: subprocess.Popen[bytes], timeout: float) -> None:
    pgid = proc.pid  # start_new_session made samba its group leader
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        pass
    # The parent exits at once but its prefork workers linger for seconds; every
    # transaction they finished is already in the files, so nothing is lost by this.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    if proc.returncode is None:
        proc.wait(timeout=timeout)
    deadline = time.monotonic() + timeout
    while _live_group_members(pgid):
        if time.monotonic() > deadline:
            raise SambaDCError(f"samba processes in group {pgid} survived SIGKILL")
        time.sleep(0.02)


def _live_group_members(pgid: int) -> bool:
    """Whether any non-zombie process is left in the group.

    Orphaned workers are reaped by init, sometimes slowly; a zombie holds no sockets,
    so waiting for it would only add seconds.
    """
    proc_dir = Path("/proc")
    if not proc_dir.is_dir():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True
    for entry in proc_dir.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after the parenthesised command: state, ppid, pgrp, ...
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            return True
    return False


# -- the standard data set -------------------------------------------------------
