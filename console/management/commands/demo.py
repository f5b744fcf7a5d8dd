"""Run the console with a working demo: slapd, three connector agents, worker, beat and web."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management import BaseCommand, call_command

from connectors.models import Connector
from connectors.services import add_connector
from console.models import Role, User

DEMO_DIR = Path(settings.VAR_DIR) / "demo"
AGENT_PORTS = (8441, 8442, 8443)


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex((host, port)) == 0


def _wait(check, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not come up within {timeout:g} s")


class Command(BaseCommand):
    help = "Start a complete demo (slapd, 3 agents, Celery worker and beat, web) until Ctrl-C."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--bind", default=os.environ.get("DEMO_BIND", "127.0.0.1:8000"))
        parser.add_argument("--users", type=int, default=int(os.environ.get("DEMO_USERS", "300")))

    def handle(self, *args, **options) -> None:
        self.children: list[tuple[str, subprocess.Popen]] = []
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        try:
            self._run(options["bind"], options["users"])
        except KeyboardInterrupt:
            pass
        finally:
            self._stop_all()

    # -- processes -------------------------------------------------------------------------

    def _spawn(self, name: str, argv: list[str], env: dict | None = None) -> subprocess.Popen:
        log = open(DEMO_DIR / f"{name}.log", "ab")
        proc = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            cwd=settings.BASE_DIR,
        )
        self.children.append((name, proc))
        return proc

    def _stop_all(self) -> None:
        for _name, proc in reversed(self.children):
            if proc.poll() is None:
                proc.terminate()
        for _name, proc in reversed(self.children):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        if getattr(self, "slapd", None) is not None:
            self.slapd.stop()

    def _redis_url(self) -> str:
        url = settings.REDIS_URL
        host, port = "127.0.0.1", 6379
        if url.startswith("redis://"):
            hostport = url.split("//", 1)[1].split("/", 1)[0].rsplit("@", 1)[-1]
            host, _, p = hostport.partition(":")
            port = int(p or 6379)
        if _port_open(host, port):
            return url
        # No Redis running: a private one for the demo.
        port = 6390
        if not _port_open("127.0.0.1", port):
            self._spawn(
                "redis",
                [
                    "redis-server",
                    "--port",
                    str(port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ],
            )
            _wait(lambda: _port_open("127.0.0.1", port), "redis-server")
        return f"redis://127.0.0.1:{port}/0"

    # -- the demo --------------------------------------------------------------------------

    def _run(self, bind: str, users: int) -> None:
        from testbed.slapd import Dataset, Slapd

        DEMO_DIR.mkdir(parents=True, exist_ok=True)
        call_command("migrate", verbosity=0)
        password = self._admin_password()
        redis_url = self._redis_url()
        from console.celery import app as celery_app

        celery_app.conf.broker_url = redis_url
        host, _, port = bind.rpartition(":")
        service = f"http://{host}:{port}"
        env = {
            "REDIS_URL": redis_url,
            "DJANGO_SETTINGS_MODULE": "console.settings",
            # Failure and recovery e-mails print to the worker's log instead of leaving.
            "EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend",
            "CONSOLE_URL": service,
        }

        self.slapd = Slapd(
            DEMO_DIR / "slapd", Dataset(users=users, groups=12, members_per_group=25)
        )
        self.slapd.port = int(os.environ.get("DEMO_LDAP_PORT", "3890"))
        self.slapd.start()

        py = sys.executable
        self._spawn(
            "web",
            [
                str(Path(py).parent / "gunicorn"),
                "console.wsgi",
                "-b",
                bind,
                "-w",
                "2",
                "--access-logfile",
                "-",
            ],
            env,
        )
        self._spawn(
            "worker",
            [
                py,
                "-m",
                "celery",
                "-A",
                "console",
                "worker",
                "-l",
                "info",
                "-c",
                "2",
                "-n",
                f"demo-worker@{socket.gethostname()}",
            ],
            env,
        )
        self._spawn(
            "beat",
            [
                py,
                "-m",
                "celery",
                "-A",
                "console",
                "beat",
                "-l",
                "info",
                "-s",
                str(DEMO_DIR / "beat-schedule"),
            ],
            env,
        )
        _wait(lambda: _port_open(host, int(port)), "the web server")

        agents = self._start_agents(service, env)
        self._directories()

        from directories.models import Directory
        from directories.tasks import start_sync
        from synclog.choices import Trigger

        for directory in Directory.objects.all():
            start_sync(directory, Trigger.MANUAL)

        lines = [
            "",
            f"  Console:  {service}/",
            f"  Log in:   admin / {password}",
            f"  LDAP:     {self.slapd.uri} ({users} users, 12 groups)",
        ]
        for name, proc in agents:
            lines.append(f"  Agent {name}: pid {proc.pid}   (stop it: kill {proc.pid})")
        lines += [
            f"  Logs:     {DEMO_DIR}/*.log",
            "",
            "  Stop an agent, press Sync Now on corp.example.com, and the Sync Log shows",
            "  the next connector in the list doing the sync. Ctrl-C stops everything.",
            "",
        ]
        self.stdout.write("\n".join(lines))
        while True:
            for name, proc in self.children:
                if proc.poll() is not None and name in ("web", "worker", "beat"):
                    raise RuntimeError(f"{name} exited; see {DEMO_DIR / (name + '.log')}")
            time.sleep(1)

    def _admin_password(self) -> str:
        path = DEMO_DIR / "admin-password"
        if not path.exists():
            path.write_text(os.environ.get("DEMO_PASSWORD") or secrets.token_urlsafe(12))
            path.chmod(0o600)
        password = path.read_text().strip()
        user = User.objects.filter(username="admin").first() or User(username="admin")
        user.role = Role.SUPER_ADMIN
        # Sync failure e-mails go to the Super Admins; the demo prints them to its log.
        user.email = user.email or "admin@example.com"
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
        for name, role in (("diradmin", Role.DIRECTORY_ADMIN), ("reader", Role.READ_ONLY_ADMIN)):
            other = User.objects.filter(username=name).first() or User(username=name, role=role)
            other.set_password(password)
            other.save()
        return password

    def _start_agents(self, service: str, env: dict) -> list[tuple[str, subprocess.Popen]]:
        py = sys.executable
        agents = []
        for n, port in enumerate(AGENT_PORTS, start=1):
            name = f"connector-{n}"
            state = DEMO_DIR / f"agent-{n}.json"
            connector = Connector.objects.filter(name=name).first()
            if connector is None or not connector.is_active or not state.exists():
                if connector is None:
                    connector, code = add_connector(name)
                else:
                    from connectors.services import new_activation_code

                    code = new_activation_code(connector)
                subprocess.run(
                    [
                        py,
                        "-m",
                        "connectors.agent",
                        "activate",
                        "--service",
                        service,
                        # One argument: a code is never taken for an option.
                        f"--code={code}",
                        "--listen",
                        f"127.0.0.1:{port}",
                        "--state",
                        str(state),
                    ],
                    check=True,
                    cwd=settings.BASE_DIR,
                    env={**os.environ, **env},
                )
            proc = self._spawn(
                f"agent-{n}", [py, "-m", "connectors.agent", "run", "--state", str(state)], env
            )
            _wait(lambda p=port: _port_open("127.0.0.1", p), f"agent {name}")
            agents.append((name, proc))
        return agents

    def _directories(self) -> None:
        from directories.choices import DirectoryType, SyncFrequency
        from directories.models import Directory
        from directories.services import (
            create_directory,
            save_sync_connectors,
            set_identity_provider_connectors,
        )

        c1, c2, c3 = (Connector.objects.get(name=f"connector-{n}") for n in (1, 2, 3))
        ldap = {
            "type": DirectoryType.LDAP,
            "host": "127.0.0.1",
            "port": self.slapd.port,
            "base_dn": self.slapd.suffix,
            "bind_dn": self.slapd.root_dn,
            "bind_password": self.slapd.root_password,
            "user_dns": [self.slapd.people_dn],
            "group_dns": [self.slapd.groups_dn],
        }
        corp = Directory.objects.filter(name="corp.example.com").first()
        if corp is None:
            corp = create_directory(
                name="corp.example.com",
                sync_connector=c1,
                sync_frequency=SyncFrequency.HOURLY,
                **ldap,
            )
            save_sync_connectors(corp, [c1.pk, c2.pk, c3.pk])
        partners = Directory.objects.filter(name="partners.example.com").first()
        if partners is None:
            # Same connectors in another failover order, as the best practice advises.
            partners = create_directory(
                name="partners.example.com",
                sync_connector=c3,
                sync_frequency=SyncFrequency.EVERY_3_HOURS,
                user_filter="(&(objectClass=inetOrgPerson)(uid=user1*))",
                **ldap,
            )
            save_sync_connectors(partners, [c3.pk, c2.pk, c1.pk])
        for directory in (corp, partners):
            # Step 1 of the procedure: the connectors are associated with each WorkspaceIDP.
            set_identity_provider_connectors(directory.identity_provider, [c1.pk, c2.pk, c3.pk])
            if directory.port != self.slapd.port:
                directory.port = self.slapd.port
                directory.save(update_fields=["port"])
