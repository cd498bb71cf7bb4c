"""Is a Ray head there? Checked before ``ray.init``, in bounded time.

``ray.init(address=...)`` waits without end (over 400 s, Ray's warnings only) when nothing, or
something other than Ray, answers at the address, and handles signals only every few seconds
while it waits. :func:`check_address` instead answers within :data:`TIMEOUT_S` seconds, with
one line naming the address and what to check: it resolves the host, connects, and opens an
HTTP/2 connection, which is what Ray's GCS (a gRPC server) speaks: a server that answers the
connection preface with a SETTINGS frame is taken for the head. Its waits are socket waits, so a
signal is handled at once (Python retries them after running the handler, which raises).
Addresses of other forms (``auto``, ``ray://...`` for Ray Client) are left to Ray.
"""

from __future__ import annotations

import socket
import time

TIMEOUT_S = 10.0
# HTTP/2's client connection preface, then an empty SETTINGS frame (RFC 9113, section 3.4).
_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])
_SETTINGS = 4  # the frame type a gRPC server answers with first
HINT = (
    "check that `ray start --head` runs there, that the port is its GCS port (6379 unless "
    "--port set another) and that this machine can reach it"
)


def check_address(address: str, timeout_s: float | None = None) -> None:
    """Raise a one-line ``ValueError`` unless a Ray head (an HTTP/2 server) answers at
    ``address`` (``HOST:PORT``) within ``timeout_s`` seconds (default :data:`TIMEOUT_S`)."""
    if "://" in address or address in ("auto", "local"):
        return
    host, _, port_text = address.rpartition(":")
    host = host.strip("[]")  # [IPv6]:PORT
    if not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(
            f"address: {address!r} is not HOST:PORT with a port in 1..65535 (e.g. "
            f"10.0.0.5:6379, the head's GCS port)"
        )
    timeout_s = TIMEOUT_S if timeout_s is None else timeout_s
    port, deadline = int(port_text), time.monotonic() + timeout_s
    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise ValueError(
            f"address: cannot resolve the host of {address!r} ({error.strerror}); check the "
            f"head's name or IP address"
        ) from None
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as connection:
            connection.sendall(_PREFACE)
            header = _read(connection, 9, deadline)
    except TimeoutError:
        raise ValueError(
            f"address: no Ray head answered at {address!r} within {timeout_s:g} s; {HINT}"
        ) from None
    except OSError as error:
        cause = error.strerror or type(error).__name__
        raise ValueError(f"address: cannot reach {address!r} ({cause}); {HINT}") from None
    if len(header) < 9 or header[3] != _SETTINGS:
        raise ValueError(f"address: something other than a Ray head answers at {address!r}; {HINT}")


def _read(connection: socket.socket, size: int, deadline: float) -> bytes:
    """Up to ``size`` bytes, fewer if the peer closes; ``TimeoutError`` past ``deadline``."""
    data = b""
    while len(data) < size:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        connection.settimeout(left)
        chunk = connection.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data
