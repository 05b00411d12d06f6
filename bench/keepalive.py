"""A lean HTTP/1.1 keep-alive client on a unix socket, for request-rate benchmarks.

http.client spends about as long on a request as a fast server does (it tops out near
4,000 requests a second on this machine), so a rate measured with it is partly the
client's. This one sends a prepared request and reads the answer with as little work as
HTTP/1.1 allows: its head, then a Content-Length body, a chunked one (Go's net/http sends
an answer it was not given the length of so) or none (HEAD, 204, 304).
"""

from __future__ import annotations

import socket
import time


class KeepAlive:
    def __init__(self, socket_path: str, timeout: float = 10):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(socket_path)
        self.buf = b""

    def close(self) -> None:
        self.sock.close()

    def _more(self) -> None:
        data = self.sock.recv(1 << 18)
        if not data:
            raise ConnectionError("the server closed the connection")
        self.buf += data

    def _line(self) -> bytes:
        while (end := self.buf.find(b"\r\n")) < 0:
            self._more()
        line, self.buf = self.buf[:end], self.buf[end + 2:]
        return line

    def _take(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._more()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def request(self, method: str, target: str) -> tuple[int, bytes]:
        """The status and body of one request (GET, HEAD, DELETE...) without a body."""
        self.sock.sendall(f"{method} {target} HTTP/1.1\r\nHost: docker\r\n\r\n".encode())
        while (end := self.buf.find(b"\r\n\r\n")) < 0:
            self._more()
        head, self.buf = self.buf[:end].decode("latin-1"), self.buf[end + 4:]
        status = int(head.split(" ", 2)[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in
                   (line.partition(":") for line in head.split("\r\n")[1:])}
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            return status, b""
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = []
            while size := int(self._line().split(b";")[0], 16):
                body.append(self._take(size))
                self._take(2)
            while self._line():   # trailers, then the empty line
                pass
            return status, b"".join(body)
        return status, self._take(int(headers.get("content-length", 0)))


def rate(socket_path: str, seconds: float, target: str, method: str = "GET") -> float:
    """Requests per second of one keep-alive client asking `method target` for `seconds`."""
    client = KeepAlive(socket_path)
    try:
        for _ in range(50):   # warm up: the server's connections to its services, its caches
            client.request(method, target)
        count, start = 0, time.perf_counter()
        deadline = start + seconds
        while time.perf_counter() < deadline:
            status, _ = client.request(method, target)
            if status != 200:
                raise SystemExit(f"{socket_path}: {method} {target} answered {status}")
            count += 1
        return count / (time.perf_counter() - start)
    finally:
        client.close()
