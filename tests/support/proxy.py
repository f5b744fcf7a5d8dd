"""A TCP relay placed between the service and an agent, to break or observe streams in tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable


class Relay:
    """Forwards loopback connections to `target_port`.

    `cut_after` bytes of a /sync answer, the relay calls `on_cut` (e.g. kills the agent) and
    then either closes the connection (`stall=False`) or holds it open silently (`stall=True`).
    Only the first `cut_connections` /sync connections are cut; later ones pass through.
    It also records how many /sync requests were being answered at once.
    """

    def __init__(
        self,
        target_port: int,
        cut_after: int | None = None,
        on_cut: Callable[[], None] | None = None,
        stall: bool = False,
        cut_connections: int = 1,
        pause: float = 0.0,
    ) -> None:
        self.target_port = target_port
        self.cut_after = cut_after
        self.on_cut = on_cut
        self.stall = stall
        self.cut_connections = cut_connections
        # With `pause`, the cut is a silence of that many seconds, then the rest passes.
        self.pause = pause
        self.cut_event = threading.Event()
        self.active_syncs = 0
        self.max_active_syncs = 0
        self.sync_requests = 0
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
        except OSError:
            client.close()
            return
        upstream.settimeout(None)
        self._sockets += [client, upstream]
        first = client.recv(65536)
        is_sync = first.startswith(b"POST /sync")
        cut = False
        if is_sync:
            with self._lock:
                self.sync_requests += 1
                cut = self.cut_after is not None and self.sync_requests <= self.cut_connections
                self.active_syncs += 1
                self.max_active_syncs = max(self.max_active_syncs, self.active_syncs)
        upstream.sendall(first)
        threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
        sent = 0
        try:
            while True:
                data = upstream.recv(65536)
                if not data:
                    break
                if cut and sent + len(data) >= self.cut_after:
                    head = max(0, self.cut_after - sent)
                    client.sendall(data[:head])
                    self.cut_event.set()
                    if self.pause:
                        time.sleep(self.pause)
                        client.sendall(data[head:])
                        sent += len(data)
                        cut = False
                        continue
                    if self.on_cut:
                        self.on_cut()
                    if self.stall:
                        self._closing.wait()
                    break
                client.sendall(data)
                sent += len(data)
        except OSError:
            pass
        finally:
            if is_sync:
                with self._lock:
                    self.active_syncs -= 1
            for s in (client, upstream):
                _shut(s)

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass

    def close(self) -> None:
        self._closing.set()
        self._server.close()
        for s in self._sockets:
            _shut(s)


def _shut(sock: socket.socket) -> None:
    # shutdown() first: close() alone leaves the connection open while another thread reads it.
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
