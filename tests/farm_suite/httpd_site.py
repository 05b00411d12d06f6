"""A web site in a container: busybox httpd serving files, started with testcontainers
and reached as any client reaches a container's published port."""

from __future__ import annotations

import base64
import http.client
import os
import posixpath
import shlex
from dataclasses import dataclass

from testcontainers.core.container import DockerContainer
from testcontainers.core.wait_strategies import HttpWaitStrategy

IMAGE = os.environ.get("FARM_SUITE_IMAGE", "busybox:latest")
ROOT = "/www"
PORT = 80


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode()


class Site:
    """busybox httpd in the foreground on port 80, serving `files` (path under the site's
    root -> text; those in `executables` get mode 0755, as CGI scripts need), after the
    shell lines of `setup`; `env` is the container's environment, `httpd_args` more flags."""

    def __init__(self, files: dict[str, str], env: dict[str, str] | None = None, setup: str = "",
                 executables: tuple[str, ...] = (), httpd_args: tuple[str, ...] = ()):
        lines = ["set -e", f"mkdir -p {ROOT}"]
        for path, text in files.items():
            target = shlex.quote(posixpath.join(ROOT, path.lstrip("/")))
            data = base64.b64encode(text.encode()).decode()
            lines += [f"mkdir -p $(dirname {target})", f"echo {data} | base64 -d > {target}"]
            if path in executables:
                lines.append(f"chmod 0755 {target}")
        lines += [setup, f"exec httpd -f -vv -p {PORT} -h {ROOT} {' '.join(map(shlex.quote, httpd_args))}"]
        self.container = (DockerContainer(IMAGE)
                          .with_exposed_ports(PORT)
                          .with_command(["sh", "-c", "\n".join(lines)])
                          .waiting_for(HttpWaitStrategy(PORT, "/")
                                       .for_status_code_matching(lambda status: 100 <= status < 600)
                                       .with_poll_interval(0.05).with_startup_timeout(60)))
        for key, value in (env or {}).items():
            self.container.with_env(key, value)
        self.host = ""
        self.port = 0

    def start(self) -> "Site":
        self.container.start()
        self.host = self.container.get_container_host_ip()
        self.port = int(self.container.get_exposed_port(PORT))
        return self

    def stop(self) -> None:
        self.container.stop()

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> Response:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            return Response(r.status, r.headers, r.read())
        finally:
            conn.close()

    def get(self, path: str) -> str:
        """The page's text; fails unless it is answered 200."""
        r = self.request("GET", path)
        assert r.status == 200, (path, r.status, r.body[:200])
        return r.text
