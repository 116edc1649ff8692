"""Names under a test domain resolved to 127.0.0.1 for one client, without DNS or /etc/hosts.

The SDK resolves names in Rust (pyqwest/reqwest), so patching Python's `socket.getaddrinfo`
would not reach it; what does is a proxy. This is a minimal HTTP CONNECT proxy on loopback
that the SDK is pointed at (`HTTPS_PROXY`): it opens a tunnel to 127.0.0.1 at the requested
port for hosts under one of its domains and refuses every other host, so no test traffic
leaves the machine. TLS stays end to end between the SDK and `corral up`: the tunnel only
copies bytes, and the SDK verifies the certificate against the name it asked for.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
from collections.abc import Iterator


class _Tunnels(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, domains: tuple[str, ...]) -> None:
        super().__init__(("127.0.0.1", 0), _Tunnel)
        self.domains = domains
        self.hosts: list[str] = []
        """Every host a tunnel was asked for, in order (refused ones too)."""

    def serves(self, host: str) -> bool:
        return any(host == d or host.endswith("." + d) for d in self.domains)


class _Tunnel(socketserver.StreamRequestHandler):
    server: _Tunnels

    def handle(self) -> None:
        request = self.rfile.readline(8192).decode("latin-1").split()
        while self.rfile.readline(8192) not in (b"\r\n", b"\n", b""):
            pass  # the client sends nothing else before the tunnel is up
        if len(request) != 3 or request[0] != "CONNECT":
            self.wfile.write(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            return
        host, _, port = request[1].rpartition(":")
        host = host.lower()
        self.server.hosts.append(host)
        if not self.server.serves(host) or not port.isdigit():
            self.wfile.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            return
        try:
            upstream = socket.create_connection(("127.0.0.1", int(port)), timeout=5)
        except OSError:
            self.wfile.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return
        upstream.settimeout(None)
        with upstream:
            self.wfile.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            self.wfile.flush()
            back = threading.Thread(target=_copy, args=(upstream, self.connection), daemon=True)
            back.start()
            _copy(self.connection, upstream)
            back.join()


def _copy(source: socket.socket, sink: socket.socket) -> None:
    """Bytes one way until EOF, then half-close so the other direction can finish."""
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


class LoopbackNames:
    """A running tunnel proxy; `url` is what HTTPS_PROXY gets, `hosts` what it was asked for."""

    def __init__(self, server: _Tunnels) -> None:
        self._server = server

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def hosts(self) -> list[str]:
        return list(self._server.hosts)


@contextlib.contextmanager
def loopback_names(*domains: str) -> Iterator[LoopbackNames]:
    """Serve tunnels for `*.{domain}` (and `domain`) to 127.0.0.1 until the block ends."""
    server = _Tunnels(tuple(d.lower() for d in domains))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield LoopbackNames(server)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
