"""Command line: ``activate`` against the service once, then ``run`` the agent."""

from __future__ import annotations

import argparse
import json
import logging
import socket
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from . import reported_version
from .request import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from .server import parse_listen, serve
from .state import AgentState, StateError, default_state_path, hash_secret, load_state, save_state

log = logging.getLogger("connectors.agent")

ACTIVATE_PATH = "/api/v1/connectors/activate/"
ACTIVATE_TIMEOUT = 30.0
WILDCARD_HOSTS = {"", "0.0.0.0", "::", "*"}


def advertised_url(listen: str) -> str:
    """The URL the service should use for an agent listening on ``listen``.

    A wildcard address is not reachable from elsewhere, so the host name stands in.
    """
    host, port = parse_listen(listen)
    if host in WILDCARD_HOSTS:
        host = socket.getfqdn()
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def activate(service: str, code: str, listen: str, state_path: Path, name: str | None) -> int:
    """Trade a one-time activation code for an identity and secret; write the state file."""
    url = service.rstrip("/") + ACTIVATE_PATH
    body: dict[str, Any] = {
        "code": code,
        "url": advertised_url(listen),
        "host": socket.getfqdn(),
        "version": reported_version(),
    }
    if name:
        body["name"] = name
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Accept": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=ACTIVATE_TIMEOUT) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    except urllib.error.URLError as exc:
        log.error("cannot reach the service at %s: %s", service, exc.reason)
        return 1
    except (OSError, ValueError) as exc:
        log.error("cannot reach the service at %s: %s", service, exc)
        return 1
    try:
        answer = json.loads(raw) if raw else {}
    except ValueError:
        answer = None
    if status not in (200, 201):
        log.error("activation refused (HTTP %s): %s", status, _describe_refusal(answer, raw))
        return 1
    if not isinstance(answer, dict):
        log.error("the service answered activation with something other than a JSON object")
        return 1
    secret, conn_name, conn_id = answer.get("secret"), answer.get("name"), answer.get("id")
    if not isinstance(secret, str) or not secret or not isinstance(conn_name, str) or not conn_name:
        log.error("the service's activation answer lacks a name or secret")
        return 1
    if isinstance(conn_id, bool) or not isinstance(conn_id, int):
        conn_id = None
    state = AgentState(
        service=service.rstrip("/"),
        connector_id=conn_id,
        name=conn_name,
        listen=listen,
        secret_sha256=hash_secret(secret),
    )
    try:
        save_state(state_path, state)
    except OSError as exc:
        log.error("activated, but cannot write state file %s: %s", state_path, exc)
        return 1
    log.info("activated as %s (id %s); state written to %s", conn_name, conn_id, state_path)
    return 0


def _describe_refusal(answer: Any, raw: bytes) -> str:
    if isinstance(answer, dict):
        parts = []
        for key, value in answer.items():
            text = "; ".join(map(str, value)) if isinstance(value, list) else str(value)
            parts.append(f"{key}: {text}")
        if parts:
            return ", ".join(parts)
    text = raw.decode("utf-8", "replace").strip()
    return text[:300] or "(empty answer)"


def run(state_path: Path, listen: str | None, page_size: int) -> int:
    """Serve /health and /sync with the identity from the state file."""
    try:
        state = load_state(state_path)
    except StateError as exc:
        log.error("%s", exc)
        return 2
    if state_path.stat().st_mode & 0o077:
        log.warning("state file %s is readable by others; chmod 600 it", state_path)
    return serve(state, listen or state.listen, reported_version(), page_size)


def _listen_arg(value: str) -> str:
    try:
        parse_listen(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def _page_size_arg(value: str) -> int:
    if not value.isdigit() or not 0 < int(value) <= MAX_PAGE_SIZE:
        raise argparse.ArgumentTypeError(f"must be an integer between 1 and {MAX_PAGE_SIZE}")
    return int(value)


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m connectors.agent`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="python -m connectors.agent",
        description="Connector agent: reads a directory and streams it to the sync service.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    state_help = "state file (default: $CONNECTOR_AGENT_STATE or ./connector-agent.json)"

    act = commands.add_parser("activate", help="register with the service using a one-time code")
    act.add_argument("--service", required=True, help="service base URL, e.g. https://idm.example")
    act.add_argument("--code", required=True, help="activation code from the console")
    act.add_argument(
        "--listen", required=True, type=_listen_arg, help="HOST:PORT this agent will serve on"
    )
    act.add_argument("--state", type=Path, help=state_help)
    act.add_argument("--name", help="connector name to suggest to the service")

    run_cmd = commands.add_parser("run", help="serve /health and /sync")
    run_cmd.add_argument("--state", type=Path, help=state_help)
    run_cmd.add_argument(
        "--listen", type=_listen_arg, help="HOST:PORT (default: the one stored at activation)"
    )
    run_cmd.add_argument(
        "--page-size",
        type=_page_size_arg,
        default=DEFAULT_PAGE_SIZE,
        help=f"LDAP page size when a request names none (default {DEFAULT_PAGE_SIZE})",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    state_path = args.state or default_state_path()
    if args.command == "activate":
        return activate(args.service, args.code, args.listen, state_path, args.name)
    return run(state_path, args.listen, args.page_size)


if __name__ == "__main__":
    sys.exit(main())
