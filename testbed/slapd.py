"""A throwaway OpenLDAP server with generated data, for tests and benchmarks."""

from __future__ import annotations

import atexit
import base64
import os
import shutil
import signal
import socket
import subprocess
import time
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import ldap
import ldap.modlist

SLAPD = os.environ.get("SLAPD_BIN", "/usr/sbin/slapd")
SLAPADD = os.environ.get("SLAPADD_BIN", "/usr/sbin/slapadd")
SCHEMA_DIR = Path(os.environ.get("SLAPD_SCHEMA_DIR", "/etc/ldap/schema"))
MODULE_DIR = Path(os.environ.get("SLAPD_MODULE_DIR", "/usr/lib/ldap"))

SUFFIX = "dc=example,dc=com"
ROOT_DN = f"cn=admin,{SUFFIX}"
ROOT_PASSWORD = "admin-secret"
PEOPLE_DN = f"ou=people,{SUFFIX}"
GROUPS_DN = f"ou=groups,{SUFFIX}"

# Names with letters outside Latin-1 and combining-free precomposed forms, so that
# any lossy decode or re-encode on the way shows up as a mismatch.
NON_ASCII_FIRST = ["Zoë", "Łukasz", "Søren", "José", "Ægir", "Ярослава", "Ñandú", "Đorđe"]
NON_ASCII_LAST = ["Müller", "Żółć", "Ørsted", "Núñez", "Þórsson", "Шевченко", "Çelik", "Šimić"]


def write_test_certificates(folder: Path, host: str = "127.0.0.1") -> dict[str, Path]:
    """Make a throwaway CA and a server certificate for ``host`` (IP and name SANs).

    Returns the paths as ``{"ca": ..., "cert": ..., "key": ...}``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    ca_key, ca, key, csr, cert = (
        folder / name for name in ("ca.key", "ca.pem", "server.key", "server.csr", "server.pem")
    )
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    steps = [
        [
            "openssl",
            "req",
            "-x509",
            *ec,
            "-keyout",
            ca_key,
            "-out",
            ca,
            "-days",
            "2",
            "-subj",
            "/CN=Throwaway Test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
        ["openssl", "req", *ec, "-keyout", key, "-out", csr, "-subj", f"/CN={host}"],
    ]
    for cmd in steps:
        subprocess.run([str(arg) for arg in cmd], check=True, capture_output=True)
    extensions = folder / "server.ext"
    extensions.write_text(f"subjectAltName=IP:{host},DNS:localhost\nextendedKeyUsage=serverAuth\n")
    subprocess.run(
        [
            "openssl",
            "x509",
            "-req",
            "-in",
            str(csr),
            "-CA",
            str(ca),
            "-CAkey",
            str(ca_key),
            "-CAcreateserial",
            "-out",
            str(cert),
            "-days",
            "2",
            "-extfile",
            str(extensions),
        ],
        check=True,
        capture_output=True,
    )
    return {"ca": ca, "cert": cert, "key": key}


def slapd_available() -> bool:
    """Whether the OpenLDAP server binaries and schemas this module needs are installed."""
    return (
        os.access(SLAPD, os.X_OK)
        and os.access(SLAPADD, os.X_OK)
        and (SCHEMA_DIR / "inetorgperson.schema").exists()
    )


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that was free on ``host`` a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Dataset:
    """A deterministic directory layout: which users and groups exist and who is in what.

    Users are ``uid=user{n}``; groups are ``cn=group{j}``. Group ``j`` holds users
    ``(j * members_per_group + k) % users`` for ``k < members_per_group``. With ``nested``,
    every group ``j`` with ``j % 5 == 1`` is also a member of group ``j - 1``.
    Every ``non_ascii_every``-th user (starting with user 0) has non-ASCII names.
    With ``member_spellings``, a third of the member values name their user with
    upper-case attribute types and a third with other-case values (slapadd keeps them
    as written): DNs that mean the entry without spelling it the same way.
    With ``stamped``, a GeneralizedTime, every user and group is written with that
    createTimestamp and modifyTimestamp (slapadd keeps them): a load that looks long
    done, so a read of what changed since sees only what was changed after it.
    """

    users: int = 50
    groups: int = 5
    members_per_group: int = 10
    nested: bool = True
    non_ascii_every: int = 7
    group_class: str = "groupOfNames"
    member_spellings: bool = True
    stamped: str | None = None

    @property
    def member_attribute(self) -> str:
        return "uniqueMember" if self.group_class == "groupOfUniqueNames" else "member"

    def user_dn(self, n: int) -> str:
        return f"uid=user{n},{PEOPLE_DN}"

    def group_dn(self, j: int) -> str:
        return f"cn=group{j},{GROUPS_DN}"

    def user(self, n: int) -> dict[str, str]:
        """The attributes user ``n`` is created with."""
        if self.non_ascii_every and n % self.non_ascii_every == 0:
            first = NON_ASCII_FIRST[(n // self.non_ascii_every) % len(NON_ASCII_FIRST)]
            last = NON_ASCII_LAST[(n // self.non_ascii_every) % len(NON_ASCII_LAST)]
        else:
            first, last = f"First{n}", f"Last{n}"
        return {
            "uid": f"user{n}",
            "givenName": first,
            "sn": last,
            "cn": f"{first} {last}",
            "displayName": f"{first} {last} ({n})",
            "mail": f"user{n}@example.com",
        }

    def member_dn(self, n: int, k: int) -> str:
        """How the ``k``-th member value of a group spells user ``n``'s DN."""
        if self.member_spellings and k % 3 == 1:
            return f"UID=user{n},OU=people,DC=example,DC=com"
        if self.member_spellings and k % 3 == 2:
            return f"uid=USER{n},ou=People,dc=Example,dc=COM"
        return self.user_dn(n)

    def group_members(self, j: int) -> list[str]:
        """The member values of group ``j``, as written to the directory."""
        members = []
        if self.users:
            count = min(self.members_per_group, self.users)
            start = j * self.members_per_group
            members = [self.member_dn((start + k) % self.users, k) for k in range(count)]
        if self.nested and j % 5 == 0 and j + 1 < self.groups:
            members.append(self.group_dn(j + 1))
        return members

    def nested_pairs(self) -> list[tuple[int, int]]:
        """``(parent, child)`` group numbers for every nested membership."""
        if not self.nested:
            return []
        return [(j, j + 1) for j in range(0, self.groups - 1, 5)]


def _ldif_line(attr: str, value: str) -> str:
    # LDIF only allows plain ASCII without a leading space, colon or "<"; anything else
    # goes base64 so slapadd stores exactly the UTF-8 we meant.
    if value.isascii() and value and value[0] not in " :<" and value[-1] != " ":
        return f"{attr}: {value}\n"
    return f"{attr}:: {base64.b64encode(value.encode()).decode()}\n"


def write_ldif(path: Path, dataset: Dataset) -> Path:
    """Stream the dataset as LDIF to ``path`` (base entries, users, then groups)."""
    with open(path, "w", encoding="utf-8", buffering=1 << 20) as out:
        out.write(
            f"dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\n"
            f"dc: example\no: Example\n\n"
            f"dn: {PEOPLE_DN}\nobjectClass: organizationalUnit\nou: people\n\n"
            f"dn: {GROUPS_DN}\nobjectClass: organizationalUnit\nou: groups\n\n"
        )
        stamps = ""
        if dataset.stamped:
            stamps = f"createTimestamp: {dataset.stamped}\nmodifyTimestamp: {dataset.stamped}\n"
        for n in range(dataset.users):
            attrs = dataset.user(n)
            chunk = [f"dn: uid=user{n},{PEOPLE_DN}\nobjectClass: inetOrgPerson\n"]
            chunk.extend(_ldif_line(key, value) for key, value in attrs.items())
            chunk.append(stamps + "\n")
            out.write("".join(chunk))
        member_attr = dataset.member_attribute
        for j in range(dataset.groups):
            members = dataset.group_members(j)
            if not members:
                # Both group classes require at least one member; point an empty group
                # at itself, the usual convention.
                members = [dataset.group_dn(j)]
            chunk = [f"dn: cn=group{j},{GROUPS_DN}\nobjectClass: {dataset.group_class}\n"]
            chunk.append(f"cn: group{j}\n")
            chunk.extend(f"{member_attr}: {dn}\n" for dn in members)
            chunk.append(stamps + "\n")
            out.write("".join(chunk))
    return path


# Servers still running when the interpreter exits (a test run cut short) are killed,
# so no stray slapd keeps a port.
_LIVE: weakref.WeakSet[Slapd] = weakref.WeakSet()


@atexit.register
def _kill_leftovers() -> None:
    for server in list(_LIVE):
        server.kill()


class SlapdError(RuntimeError):
    """The throwaway server could not be set up or started."""


class Slapd:
    """One private ``slapd`` in ``workdir``, loaded with a :class:`Dataset`.

    ``start()`` loads the data with ``slapadd -q`` (first start only) and runs slapd in
    the foreground as a child process, so ``pid`` is the server itself and signals
    reach it directly.
    """

    suffix = SUFFIX
    root_dn = ROOT_DN
    root_password = ROOT_PASSWORD
    people_dn = PEOPLE_DN
    groups_dn = GROUPS_DN

    def __init__(
        self,
        workdir: Path | str,
        dataset: Dataset | None = None,
        *,
        tls: bool = False,
        syncprov: bool = False,
    ) -> None:
        self.workdir = Path(workdir)
        self.dataset = dataset if dataset is not None else Dataset()
        self.tls = tls
        # The content-synchronization provider (RFC 4533), as a server set up to be
        # replicated runs it: a session log lets a refresh name deleted entries.
        self.syncprov = syncprov
        self.port: int | None = None
        self.tls_port: int | None = None
        self.certificates: dict[str, Path] = {}
        self.process: subprocess.Popen[bytes] | None = None
        self._loaded = False
        self._conn: ldap.ldapobject.LDAPObject | None = None
        self.conf_path = self.workdir / "slapd.conf"
        self.db_dir = self.workdir / "db"
        self.log_path = self.workdir / "slapd.log"

    # --- lifecycle -------------------------------------------------------------

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def uri(self) -> str:
        return f"ldap://{self.host}:{self.port}/"

    @property
    def ldaps_uri(self) -> str:
        return f"ldaps://{self.host}:{self.tls_port}/"

    @property
    def ca_cert_pem(self) -> str:
        """PEM text of the CA that signed the server certificate (``tls=True`` only)."""
        return self.certificates["ca"].read_text()

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def write_config(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.db_dir.mkdir(exist_ok=True)
        schemas = "".join(
            f"include {SCHEMA_DIR / name}.schema\n"
            for name in ("core", "cosine", "inetorgperson", "nis")
        )
        self.conf_path.write_text(
            f"{schemas}"
            f"pidfile {self.workdir / 'slapd.pid'}\n"
            f"argsfile {self.workdir / 'slapd.args'}\n"
            f"modulepath {MODULE_DIR}\n"
            "moduleload back_mdb\n"
            f"{'moduleload syncprov' + chr(10) if self.syncprov else ''}"
            f"{self._tls_config()}"
            # Paged reads of the whole directory by a non-root account must not be cut.
            "sizelimit unlimited\n"
            "database mdb\n"
            # A sparse map; 4 GiB leaves room for a few hundred thousand entries.
            "maxsize 4294967296\n"
            f'suffix "{SUFFIX}"\n'
            f'rootdn "{ROOT_DN}"\n'
            f"rootpw {ROOT_PASSWORD}\n"
            f"directory {self.db_dir}\n"
            "index objectClass eq\n"
            "index entryUUID,modifyTimestamp eq\n"
            "index uid,cn eq\n"
            + (
                "index entryCSN eq\noverlay syncprov\nsyncprov-sessionlog 1000000\n"
                if self.syncprov
                else ""
            )
        )

    def _tls_config(self) -> str:
        if not self.tls:
            return ""
        if not self.certificates:
            self.certificates = write_test_certificates(self.workdir / "tls", self.host)
        return (
            f"TLSCACertificateFile {self.certificates['ca']}\n"
            f"TLSCertificateFile {self.certificates['cert']}\n"
            f"TLSCertificateKeyFile {self.certificates['key']}\n"
        )

    def load(self) -> None:
        """Write the config and bulk-load the dataset (server must not be running)."""
        self.write_config()
        ldif = write_ldif(self.workdir / "data.ldif", self.dataset)
        result = subprocess.run(
            [SLAPADD, "-q", "-f", str(self.conf_path), "-l", str(ldif)],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise SlapdError(f"slapadd failed ({result.returncode}): {result.stderr.strip()}")
        ldif.unlink()
        self._loaded = True

    def start(self, timeout: float = 10.0) -> Slapd:
        """Start the server (loading data first if needed) and wait until it answers.

        The first start picks free ports; later starts reuse them, so a restarted
        server is found where the agent's settings point.
        """
        if self.running:
            return self
        if not self._loaded:
            if (self.db_dir / "data.mdb").exists():
                # A database left by an earlier run is served as it is, so entryUUIDs stay.
                self.write_config()
                self._loaded = True
            else:
                self.load()
        fixed = self.port is not None
        for _ in range(1 if fixed else 3):
            if not fixed:
                self.port = free_port()
            if self.tls and (not fixed or self.tls_port is None):
                self.tls_port = free_port()
                while self.tls_port == self.port:
                    self.tls_port = free_port()
            if self._spawn(timeout):
                return self
        raise SlapdError(f"slapd did not start: {self._log_tail()}")

    def _spawn(self, timeout: float) -> bool:
        port = self.port
        assert port is not None
        urls = f"{self.uri} {self.ldaps_uri}" if self.tls else self.uri
        log = open(self.log_path, "ab")
        try:
            self.process = subprocess.Popen(
                [SLAPD, "-f", str(self.conf_path), "-h", urls, "-d", "0"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        finally:
            log.close()
        _LIVE.add(self)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                # Most often the port was taken between picking and binding.
                self.process = None
                return False
            try:
                with socket.create_connection((self.host, port), timeout=0.5):
                    pass
                conn = ldap.initialize(self.uri)
                conn.set_option(ldap.OPT_NETWORK_TIMEOUT, 1.0)
                conn.set_option(ldap.OPT_TIMEOUT, 1.0)
                conn.simple_bind_s(ROOT_DN, ROOT_PASSWORD)
                conn.unbind_s()
                return True
            except (OSError, ldap.LDAPError):
                time.sleep(0.02)
        self.kill()
        raise SlapdError(f"slapd on port {port} did not answer within {timeout}s")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server with SIGTERM (the port stays reserved for ``start()``)."""
        self._drop_connection()
        if self.process is None:
            return
        if self.process.poll() is None:
            # A stopped (SIGSTOP) process would never see the SIGTERM.
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def kill(self) -> None:
        """Kill the server at once (SIGKILL)."""
        self._drop_connection()
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None

    def freeze(self) -> None:
        """Suspend the server (SIGSTOP): connections are accepted but never answered."""
        assert self.process is not None, "slapd is not running"
        self.process.send_signal(signal.SIGSTOP)
        # The stop lands asynchronously: a request sent right after could still be
        # answered by a thread that has not stopped yet.
        _wait_stopped(self.process.pid)

    def thaw(self) -> None:
        """Resume a frozen server (SIGCONT)."""
        assert self.process is not None, "slapd is not running"
        self.process.send_signal(signal.SIGCONT)

    def restart(self) -> None:
        """Stop and start again on the same port with the same data."""
        self.stop()
        self.start()

    def cleanup(self) -> None:
        """Stop the server and remove its files."""
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Slapd:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(empty log)"

    # --- connection settings for the agent ---------------------------------------

    def connection(self, **overrides: object) -> dict[str, object]:
        """The ``connection`` part of an agent ``/sync`` request for this server."""
        settings: dict[str, object] = {
            "host": self.host,
            "port": self.port,
            "security": "none",
            "base_dn": SUFFIX,
            "bind_dn": ROOT_DN,
            "bind_password": ROOT_PASSWORD,
            "timeout": 10,
        }
        settings.update(overrides)
        return settings

    # --- changing data while running ---------------------------------------------

    def connect(self) -> ldap.ldapobject.LDAPObject:
        """A connection bound as the root DN (kept open and reused)."""
        if self._conn is None:
            if not self.running:
                raise SlapdError("slapd is not running")
            conn = ldap.initialize(self.uri)
            conn.set_option(ldap.OPT_NETWORK_TIMEOUT, 5.0)
            conn.set_option(ldap.OPT_TIMEOUT, 30.0)
            conn.simple_bind_s(ROOT_DN, ROOT_PASSWORD)
            self._conn = conn
        return self._conn

    def _drop_connection(self) -> None:
        if self._conn is not None:
            try:
                self._conn.unbind_s()
            except ldap.LDAPError:
                pass
            self._conn = None

    def add_user(self, uid: str, **attrs: str | Sequence[str]) -> str:
        """Add ``uid=<uid>,ou=people`` (inetOrgPerson); returns its DN.

        ``attrs`` may set any attribute; cn, sn, givenName, mail and displayName get
        defaults derived from ``uid``.
        """
        values: dict[str, str | Sequence[str]] = {
            "objectClass": "inetOrgPerson",
            "uid": uid,
            "givenName": f"{uid.capitalize()}",
            "sn": "Tester",
            "cn": f"{uid.capitalize()} Tester",
            "displayName": f"{uid.capitalize()} Tester",
            "mail": f"{uid}@example.com",
        }
        values.update(attrs)
        dn = f"uid={uid},{PEOPLE_DN}"
        self.connect().add_s(dn, ldap.modlist.addModlist(_encode(values)))
        return dn

    def add_group(self, cn: str, members: Iterable[str] = (), *, unique: bool = False) -> str:
        """Add ``cn=<cn>,ou=groups`` as groupOfNames (or groupOfUniqueNames); returns its DN."""
        dn = f"cn={cn},{GROUPS_DN}"
        member_list = list(members) or [dn]
        values = {
            "objectClass": "groupOfUniqueNames" if unique else "groupOfNames",
            "cn": cn,
            "uniqueMember" if unique else "member": member_list,
        }
        self.connect().add_s(dn, ldap.modlist.addModlist(_encode(values)))
        return dn

    def modify(self, dn: str, **attrs: str | Sequence[str] | None) -> None:
        """Replace attributes of ``dn``; a value of ``None`` deletes the attribute."""
        mods = []
        for name, value in attrs.items():
            if value is None:
                mods.append((ldap.MOD_DELETE, name, None))
            else:
                mods.append((ldap.MOD_REPLACE, name, _encode_values(value)))
        self.connect().modify_s(dn, mods)

    def modify_user(self, uid: str, **attrs: str | Sequence[str] | None) -> str:
        dn = f"uid={uid},{PEOPLE_DN}"
        self.modify(dn, **attrs)
        return dn

    def add_members(self, group_dn: str, members: Iterable[str], attr: str = "member") -> None:
        self.connect().modify_s(group_dn, [(ldap.MOD_ADD, attr, _encode_values(list(members)))])

    def remove_members(self, group_dn: str, members: Iterable[str], attr: str = "member") -> None:
        self.connect().modify_s(group_dn, [(ldap.MOD_DELETE, attr, _encode_values(list(members)))])

    def rename(self, dn: str, new_rdn: str, new_superior: str | None = None) -> str:
        """Rename (and optionally move) an entry; returns the new DN."""
        self.connect().rename_s(dn, new_rdn, newsuperior=new_superior, delold=1)
        parent = new_superior if new_superior is not None else dn.split(",", 1)[1]
        return f"{new_rdn},{parent}"

    def rename_user(self, uid: str, new_uid: str) -> str:
        return self.rename(f"uid={uid},{PEOPLE_DN}", f"uid={new_uid}")

    def delete(self, dn: str) -> None:
        self.connect().delete_s(dn)

    def delete_user(self, uid: str) -> None:
        self.delete(f"uid={uid},{PEOPLE_DN}")

    def delete_group(self, cn: str) -> None:
        self.delete(f"cn={cn},{GROUPS_DN}")

    def entry_uuid(self, dn: str) -> str:
        """The entryUUID slapd assigned to ``dn``."""
        result = self.connect().search_s(dn, ldap.SCOPE_BASE, attrlist=["entryUUID"])
        return result[0][1]["entryUUID"][0].decode()

    def entry_uuids(self, base: str, filterstr: str) -> dict[str, str]:
        """Lowercased DN -> entryUUID for every entry under ``base`` matching the filter."""
        result = self.connect().search_s(
            base, ldap.SCOPE_SUBTREE, filterstr, attrlist=["entryUUID"]
        )
        return {dn.lower(): attrs["entryUUID"][0].decode() for dn, attrs in result if dn}


def _wait_stopped(pid: int, timeout: float = 5.0) -> None:
    """Wait until every thread of process `pid` is stopped (Linux /proc; elsewhere a pause)."""
    tasks = Path(f"/proc/{pid}/task")
    if not tasks.is_dir():
        time.sleep(0.3)
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = []
        for task in tasks.iterdir():
            try:
                states.append((task / "stat").read_text().rpartition(")")[2].split()[0])
            except OSError:
                continue  # the thread ended
        if all(state in ("T", "t") for state in states):
            return
        time.sleep(0.01)


def _encode_values(value: str | Sequence[str]) -> list[bytes]:
    if isinstance(value, str):
        return [value.encode()]
    return [item.encode() for item in value]


def _encode(values: dict[str, str | Sequence[str]]) -> dict[str, list[bytes]]:
    return {name: _encode_values(value) for name, value in values.items()}
