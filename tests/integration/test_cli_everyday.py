"""The docker CLI's everyday commands that other files leave out, as a user at a CI host runs
them: `inspect --format` over every kind of object, `logs -f --since --tail` together,
`events` followed with filters and a format, the network and system prunes held to a label,
`builder prune`, and `context` with a TCP+TLS endpoint. (`run -it`/`exec -it` under a pty:
test_terminal_clients.py; `ps --filter --format`, container and image prunes:
test_filters_prune.py; `cp`: test_archive.py; `build`: test_build_clients.py; `push`/`pull`:
test_registry.py; `system df`: test_system_endpoints.py; `volume prune`: test_volumes.py.)"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import time
import uuid

import pytest

from ..polling import until
from .containers import docker, ensure_busybox
from .logs import Echo
from .test_tls import tls_daemon  # noqa: F401 (a fixture: a daemon on TCP with --tlsverify)


@pytest.fixture(scope="module", autouse=True)
def busybox(daemon):
    ensure_busybox(daemon)


def ok(out: subprocess.CompletedProcess) -> str:
    assert out.returncode == 0, (out.args, out.stdout, out.stderr)
    return out.stdout.decode()


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


class Reader:
    """A CLI command that goes on printing (`logs -f`, `events`), read as it prints."""

    def __init__(self, argv: list[str], env: dict):
        self.proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        fcntl.fcntl(self.proc.stdout, fcntl.F_SETFL, os.O_NONBLOCK)
        self.seen = bytearray()

    def shows(self, *texts: bytes, timeout: float = 30) -> bytes:
        def shown() -> bool:
            ended = self.proc.poll() is not None
            self.seen.extend(self.proc.stdout.read() or b"")
            if ended and not all(t in self.seen for t in texts):
                raise RuntimeError(f"{self.proc.args} ended: {bytes(self.seen)!r} {self.proc.stderr.read()!r}")
            return all(t in self.seen for t in texts)
        until(shown, timeout, f"{texts} from {self.proc.args}", detail=lambda: repr(bytes(self.seen)))
        return bytes(self.seen)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        self.proc.stdout.close()
        self.proc.stderr.close()


def cli_env(daemon) -> dict:
    return dict(os.environ, DOCKER_HOST=daemon.unix_url, DOCKER_CONFIG=os.path.join(daemon.root, "cli"))


# ------------------------------------------------------------------ inspect --format


def test_inspect_format_over_containers_images_networks_and_volumes(daemon):
    net, vol, name = unique("dyinet"), unique("dyivol"), unique("dyictr")
    try:
        ok(docker(daemon, "network", "create", "--label", "purpose=inspect", net))
        ok(docker(daemon, "volume", "create", "--label", "purpose=inspect", vol))
        cid = ok(docker(daemon, "run", "-d", "--name", name, "--network", net, "-v", f"{vol}:/data",
                        "--label", "tier=web", "--label", "team=blue", "-e", "MODE=test",
                        "busybox", "tail", "-f", "/dev/null")).strip()
        api = daemon.get(f"/v1.45/containers/{cid}/json").json()

        def fmt(template: str, *names: str) -> str:
            return ok(docker(daemon, "inspect", "--format", template, *names))

        assert fmt("{{.Name}} {{.State.Status}} {{.Config.Image}} {{.Id}}", name) == \
            f"/{name} running busybox {cid}\n"
        assert fmt('{{index .Config.Labels "tier"}}/{{.Config.Labels.team}}', name) == "web/blue\n"
        assert json.loads(fmt("{{json .Config.Labels}}", name)) == {"tier": "web", "team": "blue"}
        assert fmt('{{range .Config.Env}}{{if eq . "MODE=test"}}{{.}}{{end}}{{end}}', name) == "MODE=test\n"
        address = api["NetworkSettings"]["Networks"][net]["IPAddress"]
        assert address
        assert fmt("{{range $n, $e := .NetworkSettings.Networks}}{{$n}}={{$e.IPAddress}}{{end}}", name) == \
            f"{net}={address}\n"
        assert fmt("{{range .Mounts}}{{.Type}}:{{.Name}}:{{.Destination}}:{{.RW}}{{end}}", name) == \
            f"volume:{vol}:/data:true\n"
        assert fmt("{{.State.Pid}}", name).strip() == str(api["State"]["Pid"])
        assert fmt("{{.HostConfig.NetworkMode}}", name) == f"{net}\n"

        image = daemon.get("/v1.45/images/busybox:latest/json").json()
        # Other tests of the session may have tagged the same image: its tags in any order.
        image_id, tags = fmt("{{.Id}} {{json .RepoTags}}", "busybox").split(" ", 1)
        assert image_id == image["Id"] and "busybox:latest" in json.loads(tags)
        assert sorted(json.loads(tags)) == sorted(image["RepoTags"])
        assert ok(docker(daemon, "image", "inspect", "-f", "{{.Os}}/{{.Architecture}}", "busybox")) == \
            f"{image['Os']}/{image['Architecture']}\n"
        assert fmt("{{.Name}} {{.Driver}} {{.Labels.purpose}}", net) == f"{net} bridge inspect\n"
        assert ok(docker(daemon, "volume", "inspect", "-f", "{{.Name}} {{.Driver}} {{.Labels.purpose}}", vol)) == \
            f"{vol} local inspect\n"
        # --type picks among objects of one name; several objects give a line each.
        assert ok(docker(daemon, "inspect", "--type", "volume", "-f", "{{.Mountpoint}}", vol)).startswith("/")
        assert fmt("{{.Name}}", name, cid[:12]) == f"/{name}\n/{name}\n"

        out = docker(daemon, "inspect", "-f", "{{.Name}}", name, "no-such-object-here")
        assert out.returncode != 0 and out.stdout.decode() == f"/{name}\n", out
        assert b"no such object: no-such-object-here" in out.stderr.lower(), out.stderr
    finally:
        docker(daemon, "rm", "-f", name)
        docker(daemon, "volume", "rm", "-f", vol)
        docker(daemon, "network", "rm", net)


# ------------------------------------------------------------------ logs -f --since --tail


def test_logs_follow_since_and_tail_together(daemon, client):
    echo = Echo(client)
    reader = None
    try:
        for word in ("one", "two", "three", "four", "five"):
            echo.say(word)
        stamped = ok(docker(daemon, "logs", "--timestamps", echo.ctr.id)).splitlines()
        times = [line.split(" ", 1)[0] for line in stamped]
        # --since keeps "two" on; --tail keeps the last two of those; -f goes on with what comes.
        reader = Reader(["docker", "logs", "-f", "--since", times[1], "--tail", "2", echo.ctr.id], cli_env(daemon))
        reader.shows(b"four\nfive\n")
        echo.send("six")
        echo.send("seven")
        assert reader.shows(b"seven\n") == b"four\nfive\nsix\nseven\n"
        assert reader.proc.poll() is None
        # The container ends: so does the follower, with nothing more.
        echo.ctr.kill()
        assert reader.proc.wait(30) == 0
        assert reader.shows(b"seven\n") == b"four\nfive\nsix\nseven\n"
        # --since later than every line, with a tail: nothing.
        later = ok(docker(daemon, "logs", "--since", f"{time.time() + 1:.9f}", "--tail", "3", echo.ctr.id))
        assert later == ""
    finally:
        if reader is not None:
            reader.close()
        echo.close()


# ------------------------------------------------------------------ events


def test_events_followed_with_filters_and_a_format(daemon):
    mark = unique("dyev")
    since = f"{time.time():.9f}"
    reader = Reader(["docker", "events", "--since", since, "--filter", f"label={mark}",
                     "--filter", "event=start", "--filter", "event=die",
                     "--format", "{{.Type}} {{.Action}} {{.Actor.Attributes.name}} {{.Actor.Attributes.exitCode}}"],
                    cli_env(daemon))
    as_json = Reader(["docker", "events", "--since", since, "--filter", f"label={mark}",
                      "--filter", "type=container", "--format", "{{json .}}"], cli_env(daemon))
    name = unique("dyevc")
    try:
        out = docker(daemon, "run", "--rm", "--name", name, "--label", mark, "busybox", "sh", "-c", "exit 4")
        assert out.returncode == 4, out
        shown = reader.shows(f"container die {name} 4\n".encode())
        assert shown.decode().splitlines() == [f"container start {name} <no value>", f"container die {name} 4"]
        assert reader.proc.poll() is None   # it follows on
        events = [json.loads(line) for line in as_json.shows(b'"Action":"destroy"').splitlines()]
        actions = [e["Action"] for e in events]
        # As dockerd's: the CLI's run attaches before it starts the container.
        assert actions[:3] == ["create", "attach", "start"] and actions[-1] == "destroy", actions
        assert all(e["Actor"]["Attributes"]["name"] == name and e["Type"] == "container" for e in events)
    finally:
        reader.close()
        as_json.close()


# ------------------------------------------------------------------ prunes


def test_network_prune_with_a_label_takes_only_unused_networks(daemon):
    mark = unique("dynp")
    unused, used, other = unique("dynpu"), unique("dynpi"), unique("dynpo")
    name = unique("dynpc")
    try:
        ok(docker(daemon, "network", "create", "--label", mark, unused))
        ok(docker(daemon, "network", "create", "--label", mark, used))
        ok(docker(daemon, "network", "create", other))
        ok(docker(daemon, "run", "-d", "--name", name, "--network", used, "busybox", "tail", "-f", "/dev/null"))
        out = ok(docker(daemon, "network", "prune", "-f", "--filter", f"label={mark}"))
        assert out == f"Deleted Networks:\n{unused}\n\n", out
        listed = ok(docker(daemon, "network", "ls", "--format", "{{.Name}}")).split()
        assert used in listed and other in listed and unused not in listed
        assert ok(docker(daemon, "network", "prune", "-f", "--filter", f"label={mark}")) == ""
    finally:
        docker(daemon, "rm", "-f", name)
        for n in (unused, used, other):
            docker(daemon, "network", "rm", n)


def test_system_prune_with_a_label(daemon, tmp_path):
    """Containers, networks and dangling images of the label go, and with --volumes its
    anonymous volumes (named ones never); the build cache is pruned as Docker prunes it."""
    mark = unique("dysp")
    net, keep_net = unique("dyspn"), unique("dyspk")
    stopped, running, named = unique("dysps"), unique("dyspr"), unique("dyspv")
    (tmp_path / "Dockerfile").write_text(f"FROM busybox\nLABEL {mark}=1\n")
    try:
        ok(docker(daemon, "network", "create", "--label", mark, net))
        ok(docker(daemon, "network", "create", keep_net))
        ok(docker(daemon, "run", "--name", stopped, "--label", mark, "busybox", "true"))
        stopped_id = ok(docker(daemon, "inspect", "-f", "{{.Id}}", stopped)).strip()
        ok(docker(daemon, "run", "-d", "--name", running, "--label", mark, "busybox", "tail", "-f", "/dev/null"))
        anonymous = ok(docker(daemon, "volume", "create", "--label", mark)).strip()
        ok(docker(daemon, "volume", "create", "--label", mark, named))
        built = ok(docker(daemon, "build", "-q", str(tmp_path), timeout=120)).strip()   # untagged: dangling

        def gone(kind: str, what: str) -> bool:
            return docker(daemon, kind, "inspect", what).returncode != 0

        out = ok(docker(daemon, "system", "prune", "-f", "--filter", f"label={mark}", timeout=120))
        assert f"Deleted Containers:\n{stopped_id}\n" in out, out
        assert f"Deleted Networks:\n{net}\n" in out, out
        assert out.splitlines()[-1].startswith("Total reclaimed space:"), out
        assert gone("container", stopped) and not gone("container", running)
        assert gone("network", net) and not gone("network", keep_net)
        assert gone("image", built), out
        assert not gone("volume", anonymous) and not gone("volume", named)

        ok(docker(daemon, "rm", "-f", running))
        out = ok(docker(daemon, "system", "prune", "-f", "--volumes", "--filter", f"label={mark}", timeout=120))
        assert f"Deleted Volumes:\n{anonymous}\n" in out, out
        assert gone("volume", anonymous)
        # Before API 1.42 (Debian 12's docker.io CLI speaks 1.41) a volume prune takes named
        # volumes too, as dockerd's.
        client_api = ok(docker(daemon, "version", "--format", "{{.Client.APIVersion}}")).strip()
        old_api = tuple(map(int, client_api.split("."))) < (1, 42)
        assert gone("volume", named) == old_api, (client_api, out)
    finally:
        for c in (stopped, running):
            docker(daemon, "rm", "-f", c)
        for n in (net, keep_net):
            docker(daemon, "network", "rm", n)
        for v in ok(docker(daemon, "volume", "ls", "-q", "--filter", f"label={mark}")).split():
            docker(daemon, "volume", "rm", "-f", v)


def test_builder_prune_takes_the_build_cache(daemon, tmp_path):
    (tmp_path / "Dockerfile").write_text(f"FROM busybox\nRUN echo {unique('cache')} > /made\n")
    built = ok(docker(daemon, "build", "-q", str(tmp_path), timeout=120)).strip()
    out = ok(docker(daemon, "builder", "prune", "-f", timeout=120))
    assert out.startswith("Deleted build cache objects:\n") and built in out.splitlines(), out
    assert out.splitlines()[-1].startswith("Total reclaimed space: ") and not out.endswith(" 0B\n"), out
    assert docker(daemon, "image", "inspect", built).returncode != 0, "the untagged build result was kept"
    assert ok(docker(daemon, "builder", "prune", "-f", timeout=120)) == "Total reclaimed space: 0B\n"


# ------------------------------------------------------------------ context with TCP+TLS


def test_a_context_with_a_tcp_tls_endpoint(tls_daemon, tmp_path):
    ensure_busybox(tls_daemon)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env["DOCKER_CONFIG"] = str(tmp_path / "config")   # contexts live here; no DOCKER_HOST to override them

    def cli(*args: str, timeout: float = 60, input: bytes | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(["docker", *args], capture_output=True, timeout=timeout, env=env, input=input,
                              stdin=None if input is not None else subprocess.DEVNULL)

    c, host = tls_daemon.certs, f"tcp://127.0.0.1:{tls_daemon.port}"
    ok(cli("context", "create", "dyk-tls", "--description", "dockyard over tls",
           "--docker", f"host={host},ca={c}/ca.pem,cert={c}/client.pem,key={c}/client-key.pem"))
    ok(cli("context", "create", "dyk-plain", "--docker", f"host={host}"))
    listed = ok(cli("context", "ls", "--format", "{{.Name}} {{.DockerEndpoint}}")).splitlines()
    assert f"dyk-tls {host}" in listed and f"dyk-plain {host}" in listed, listed
    [inspected] = json.loads(ok(cli("context", "inspect", "dyk-tls")))
    assert inspected["Endpoints"]["docker"] == {"Host": host, "SkipTLSVerify": False}, inspected
    assert inspected["Metadata"]["Description"] == "dockyard over tls"
    assert sorted(inspected["TLSMaterial"]["docker"]) == ["ca.pem", "cert.pem", "key.pem"], inspected

    # --context names it for one command; `context use` for the ones after.
    assert ok(cli("--context", "dyk-tls", "version", "--format", "{{.Server.APIVersion}}")) == "1.45\n"
    ok(cli("context", "use", "dyk-tls"))
    assert ok(cli("context", "ls", "--format", "{{if .Current}}{{.Name}}{{end}}")).split() == ["dyk-tls"]
    out = ok(cli("run", "--rm", "busybox", "sh", "-c", "echo over tls $((40+2))", timeout=120))
    assert out == "over tls 42\n"
    out = cli("run", "--rm", "-i", "busybox", "sh", "-c", "tr a-z A-Z; exit 3", input=b"piped over tls\n")
    assert (out.returncode, out.stdout) == (3, b"PIPED OVER TLS\n"), out
    assert "busybox" in ok(cli("images", "--format", "{{.Repository}}")).split()
    assert ok(cli("info", "--format", "{{.Name}}")).strip()

    # Without its certificates the endpoint is refused.
    out = cli("--context", "dyk-plain", "version", "--format", "{{.Server.APIVersion}}")
    assert out.returncode != 0 and out.stdout.decode().strip() == "", out

    ok(cli("context", "use", "default"))
    ok(cli("context", "rm", "dyk-tls", "dyk-plain"))
    assert "dyk-tls" not in ok(cli("context", "ls", "-q")).split()
