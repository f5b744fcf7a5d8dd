"""A TCP relay between an agent and its LDAP server that can hold the agent's requests,
so a test can change the directory while a read is half done."""

from __future__ import annotations

import socket
import threading


class GatedRelay:
    """Forwards connections on a loopback port to `target_port`.

    The `hold_at`-th chunk the client sends on a connection (1: usually the bind, 2: the
    first search, 3: the next page's search, ...) waits until :meth:`release`; `held`
    is set once a chunk waits. The agent sends one LDAP request at a time and asks for
    the next page before it hands out the current one, so holding the next page's
    search lets the agent stream one page and then wait.
    """

    def __init__(self, target_port: int, hold_at: int) -> None:
        self.target_port = target_port
        self.hold_at = hold_at
        self.held = threading.Event()
        self._go = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = [self._listener]
        threading.Thread(target=self._accept, daemon=True).start()

    def release(self) -> None:
        self._go.set()

    def close(self) -> None:
        self._go.set()
        for sock in self._sockets:
            try:
                sock.close()
            except OSError:
                pass

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            self._sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, gated: bool) -> None:
        count = 0
        try:
            while data := src.recv(65536):
                count += 1
                if gated and count == self.hold_at:
                    self.held.set()
                    self._go.wait(30)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
