"""Debian's docker-compose 1.29 (the Python one) run as a user runs it, against a test
daemon, and a project of it followed through the API by its labels."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import time
import urllib.parse

from ..polling import until

COMPOSE = "docker-compose"


class Project:
    """One compose project in `directory`, named `name`, on `daemon`."""

    def __init__(self, daemon, directory: str, name: str):
        self.daemon, self.directory, self.name = daemon, directory, name

    def env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("COMPOSE_", "DOCKER_"))}
        env.update(DOCKER_HOST=self.daemon.unix_url, DOCKER_CONFIG=os.path.join(self.daemon.root, "cli"))
        return env

    def command(self, *args: str) -> list[str]:
        return [COMPOSE, "--ansi", "never", "-p", self.name, *args]

    def run(self, *args: str, input: bytes | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
        return subprocess.run(self.command(*args), cwd=self.directory, env=self.env(), input=input,
                              capture_output=True, timeout=timeout,
                              stdin=None if input is not None else subprocess.DEVNULL)

    def ok(self, *args: str, **kw) -> str:
        out = self.run(*args, **kw)
        assert out.returncode == 0, (args, out.stdout.decode(errors="replace"), out.stderr.decode(errors="replace"))
        return out.stdout.decode()

    def follow(self, *args: str) -> "Follower":
        return Follower(self.command(*args), self.directory, self.env())

    # -- what the daemon holds of it, by compose's labels

    def _listed(self, kind: str, extra: str = "") -> list[dict]:
        label = f"com.docker.compose.project={self.name}"
        filters = urllib.parse.quote(f'{{"label":["{label}"]}}')
        r = self.daemon.get(f"/v1.45/{kind}?filters={filters}{extra}")
        assert r.status == 200, r.body
        listed = r.json()
        return listed["Volumes"] if kind == "volumes" else listed

    def containers(self) -> list[dict]:
        return self._listed("containers/json", "&all=1")

    def networks(self) -> list[dict]:
        return self._listed("networks")

    def volumes(self) -> list[dict]:
        return self._listed("volumes")

    def events(self) -> list[dict]:
        """The containers' events of the project so far, oldest first."""
        label = f"com.docker.compose.project={self.name}"
        filters = urllib.parse.quote(f'{{"label":["{label}"],"type":["container"]}}')
        r = self.daemon.get(f"/v1.45/events?since=0&until={time.time():.9f}&filters={filters}")
        assert r.status == 200, r.body
        return [json.loads(line) for line in r.body.splitlines() if line.strip()]

    def inspect(self, name: str) -> dict:
        r = self.daemon.get(f"/v1.45/containers/{name}/json")
        assert r.status == 200, r.body
        return r.json()

    def discard(self) -> None:
        """Whatever of the project is left, gone: compose's own `down` first, then the API."""
        self.run("down", "-v", "--remove-orphans", "--rmi", "local", "-t", "1")
        for c in self.containers():
            self.daemon.request("DELETE", f"/containers/{c['Id']}?force=1&v=1")
        for n in self.networks():
            self.daemon.request("DELETE", f"/networks/{n['Id']}")
        for v in self.volumes():
            self.daemon.request("DELETE", f"/volumes/{v['Name']}?force=1")


class Follower:
    """A command that goes on printing (`logs -f`), read as it prints, killed at close."""

    def __init__(self, argv: list[str], cwd: str, env: dict):
        self.proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        fcntl.fcntl(self.proc.stdout, fcntl.F_SETFL, os.O_NONBLOCK)
        self.seen = bytearray()

    def shows(self, *texts: bytes, timeout: float = 60) -> str:
        def shown() -> bool:
            ended = self.proc.poll() is not None
            self.seen.extend(self.proc.stdout.read() or b"")
            found = all(t in self.seen for t in texts)
            if ended and not found:
                raise RuntimeError(f"{self.proc.args} ended ({self.proc.returncode}) before showing {texts}:\n"
                                   + self.seen.decode(errors="replace"))
            return found
        until(shown, timeout, f"{texts} in the output of {self.proc.args}", interval=0.1,
              detail=lambda: self.seen.decode(errors="replace"))
        return self.seen.decode(errors="replace")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        self.proc.stdout.close()
