"""docker-compose (Debian's 1.29, the Python one) driving a project on Dockyard from `up -d`
to `down -v`, exactly as a CI host runs it: a web service built from a local Dockerfile
with a health check, a published port, an env_file, a named volume and a bind mount; a
client service that waits for the web service to be healthy and reaches it by its service
name. Compose's labels, names and project network are checked as Docker gives them.

Every container is given Dns of the stand-in resolver (networking.py): the names asked
are the project's own, answered by the embedded resolver, and nothing goes past loopback.
"""

from __future__ import annotations

import os
import subprocess
import urllib.request
import uuid

import pytest

from services.common.jsonlog import time_ns

from ..polling import until
from .compose import Project
from .containers import ensure_busybox
from .networking import free_port, standin  # noqa: F401 (a fixture)

DOCKERFILE = """\
FROM busybox:latest
RUN mkdir -p /www && echo built into the image > /www/index.html
COPY start.sh /start.sh
CMD ["sh", "/start.sh"]
"""

# The web service's entry: what its env_file said, into the named volume, then httpd.
START = """\
echo "$GREETING" > /data/greeting
echo "web starting with $GREETING"
exec httpd -f -p 8080 -h /www
"""

COMPOSE_FILE = """\
version: "2.4"
services:
  web:
    build: ./web
    env_file: web.env
    ports:
      - "127.0.0.1:{port}:8080"
    volumes:
      - data:/data
      - ./site:/www/site:ro
    dns: {dns}
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/"]
      interval: 1s
      timeout: 5s
      retries: 60
  client:
    image: busybox:latest
    depends_on:
      web:
        condition: service_healthy
    volumes:
      - data:/data:ro
    dns: {dns}
    command:
      - sh
      - -c
      - >-
        echo "client read $$(cat /data/greeting)";
        wget -q -O - http://web:8080/site/page.html && echo "client fetched";
        exec tail -f /dev/null
volumes:
  data: {{}}
"""

GREETING = "hello from the env file"
PAGE = "served from the bind mount"


@pytest.fixture(scope="module")
def project(daemon, standin, tmp_path_factory):
    ensure_busybox(daemon)
    directory = tmp_path_factory.mktemp("compose")
    (directory / "web").mkdir()
    (directory / "web" / "Dockerfile").write_text(DOCKERFILE)
    (directory / "web" / "start.sh").write_text(START)
    (directory / "site").mkdir()
    (directory / "site" / "page.html").write_text(PAGE + "\n")
    (directory / "web.env").write_text(f"# the web service's settings\nGREETING={GREETING}\n")
    port = free_port()
    dns = "[" + ", ".join(standin.servers) + "]"
    (directory / "docker-compose.yml").write_text(COMPOSE_FILE.format(port=port, dns=dns))
    p = Project(daemon, str(directory), f"dyc{uuid.uuid4().hex[:10]}")
    p.port = port
    try:
        p.ok("up", "-d")
        yield p
    finally:
        p.discard()
        r = daemon.request("DELETE", f"/images/{p.name}_web?force=1")
        assert r.status in (200, 404), r.body


def fetch(port: int, path: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as reply:
        assert reply.status == 200
        return reply.read().decode()


def labels_of(c: dict) -> dict:
    return {k: v for k, v in c["Config"]["Labels"].items() if k.startswith("com.docker.compose.")}


def test_up_starts_the_web_service_healthy_before_its_client(project):
    web, client = project.inspect(f"{project.name}_web_1"), project.inspect(f"{project.name}_client_1")
    assert web["State"]["Running"] and web["State"]["Health"]["Status"] == "healthy"
    assert client["State"]["Running"]
    # depends_on with service_healthy: the client started after the web service was healthy.
    seen = [(e["Actor"]["Attributes"]["name"], e["Action"]) for e in project.events()]
    assert seen.index((f"{project.name}_web_1", "health_status: healthy")) < \
        seen.index((f"{project.name}_client_1", "start")), seen

    out = project.ok("ps")
    rows = {line.split()[0]: line for line in out.splitlines()[2:] if line.strip()}
    assert set(rows) == {f"{project.name}_web_1", f"{project.name}_client_1"}, out
    assert "Up (healthy)" in rows[f"{project.name}_web_1"], out
    assert f"127.0.0.1:{project.port}->8080/tcp" in rows[f"{project.name}_web_1"], out
    assert "Up" in rows[f"{project.name}_client_1"], out
    assert set(project.ok("ps", "--services").split()) == {"web", "client"}
    assert set(project.ok("ps", "-q").split()) == {web["Id"], client["Id"]}


def test_labels_names_network_and_volume_are_dockers(project, daemon):
    name = project.name
    for service in ("web", "client"):
        c = project.inspect(f"{name}_{service}_1")
        assert c["Name"] == f"/{name}_{service}_1"
        labels = labels_of(c)
        assert labels["com.docker.compose.project"] == name
        assert labels["com.docker.compose.service"] == service
        assert labels["com.docker.compose.container-number"] == "1"
        assert labels["com.docker.compose.oneoff"] == "False"
        assert labels["com.docker.compose.version"] == "1.29.2"
        assert labels["com.docker.compose.project.working_dir"] == project.directory
        # On the project network, reachable by the service's name.
        networks = c["NetworkSettings"]["Networks"]
        assert list(networks) == [f"{name}_default"], networks
        assert service in networks[f"{name}_default"]["Aliases"], networks
    listed = {c["Names"][0] for c in project.containers()}
    assert listed == {f"/{name}_web_1", f"/{name}_client_1"}

    networks = project.networks()
    assert [n["Name"] for n in networks] == [f"{name}_default"]
    assert networks[0]["Driver"] == "bridge"
    assert networks[0]["Labels"]["com.docker.compose.network"] == "default"
    volumes = project.volumes()
    assert [v["Name"] for v in volumes] == [f"{name}_data"]
    assert volumes[0]["Labels"]["com.docker.compose.volume"] == "data"

    # The built image is named after the project and service, and the web runs it.
    image = daemon.get(f"/v1.45/images/{name}_web:latest/json")
    assert image.status == 200, image.body
    assert project.inspect(f"{name}_web_1")["Image"] == image.json()["Id"]


def test_the_published_port_the_bind_mount_and_the_env_file(project):
    assert fetch(project.port, "/") == "built into the image\n"
    assert fetch(project.port, "/site/page.html") == PAGE + "\n"
    web = project.inspect(f"{project.name}_web_1")
    assert f"GREETING={GREETING}" in web["Config"]["Env"]
    mounts = {m["Destination"]: m for m in web["Mounts"]}
    assert mounts["/data"]["Type"] == "volume" and mounts["/data"]["Name"] == f"{project.name}_data"
    assert mounts["/www/site"]["Type"] == "bind" and mounts["/www/site"]["RW"] is False
    assert mounts["/www/site"]["Source"] == os.path.join(project.directory, "site")


def test_logs_follow_shows_the_client_reaching_the_web_service_by_name(project):
    follower = project.follow("logs", "-f", "--no-color")
    try:
        out = follower.shows(f"client read {GREETING}".encode(), PAGE.encode(), b"client fetched",
                             f"web starting with {GREETING}".encode())
        lines = [line for line in out.splitlines() if "client fetched" in line]
        # Compose prefixes each line with the service and container number.
        assert lines and lines[0].startswith("client_1  | "), out
        assert follower.proc.poll() is None, "logs -f ended while the project runs"
    finally:
        follower.close()


def test_exec_in_a_running_service(project):
    assert project.ok("exec", "-T", "web", "cat", "/data/greeting") == GREETING + "\n"
    out = project.run("exec", "-T", "client", "sh", "-c", "wget -q -O - http://web:8080/ && exit 3")
    assert out.returncode == 3 and out.stdout == b"built into the image\n", out


def test_run_rm_makes_a_one_off_container_and_removes_it(project):
    before = {c["Id"] for c in project.containers()}
    assert project.ok("run", "--rm", "-T", "client", "wget", "-q", "-O", "-",
                      "http://web:8080/site/page.html") == PAGE + "\n"
    assert {c["Id"] for c in project.containers()} == before

    # While one runs (it waits on its stdin), it is labelled and named as Docker's compose does.
    proc = subprocess.Popen(project.command("run", "--rm", "-T", "client", "sh", "-c", "echo waiting; cat"),
                            cwd=project.directory, env=project.env(), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        oneoff = until(lambda: [c for c in project.containers() if c["Id"] not in before and c["State"] == "running"],
                       60, "the one-off container to run")
        assert len(oneoff) == 1
        name = oneoff[0]["Names"][0]
        assert name.startswith(f"/{project.name}_client_run_"), name
        labels = oneoff[0]["Labels"]
        assert labels["com.docker.compose.oneoff"] == "True"
        assert labels["com.docker.compose.service"] == "client"
        assert labels["com.docker.compose.project"] == project.name
        stdout, stderr = proc.communicate(b"from the test\n", timeout=60)
        assert proc.returncode == 0, stderr
        assert stdout == b"waiting\nfrom the test\n", (stdout, stderr)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    until(lambda: {c["Id"] for c in project.containers()} == before, 30, "the --rm one-off to be removed")


def test_up_scale_numbers_the_new_containers(project):
    project.ok("up", "-d", "--scale", "client=3")
    clients = [c for c in project.containers() if c["Labels"]["com.docker.compose.service"] == "client"]
    numbers = {c["Labels"]["com.docker.compose.container-number"]: c["Names"][0] for c in clients}
    assert numbers == {str(n): f"/{project.name}_client_{n}" for n in (1, 2, 3)}, numbers
    assert all(c["State"] == "running" for c in clients)
    follower = project.follow("logs", "-f", "--no-color", "client")
    try:
        follower.shows(*(f"client_{n}  | client fetched".encode() for n in (1, 2, 3)))
    finally:
        follower.close()
    project.ok("up", "-d", "--scale", "client=1")
    clients = [c for c in project.containers() if c["Labels"]["com.docker.compose.service"] == "client"]
    assert [c["Names"][0] for c in clients] == [f"/{project.name}_client_1"]


def test_restart_stop_and_down_v_leave_nothing(project, daemon):
    web_name = f"{project.name}_web_1"
    started = {n: time_ns(project.inspect(n)["State"]["StartedAt"]) for n in (web_name, f"{project.name}_client_1")}
    project.ok("restart", "-t", "1")
    for name, at in started.items():
        state = project.inspect(name)["State"]
        assert state["Running"] and time_ns(state["StartedAt"]) > at, (name, state)
    until(lambda: project.inspect(web_name)["State"]["Health"]["Status"] == "healthy", 60,
          "the restarted web service to be healthy again")
    assert fetch(project.port, "/site/page.html") == PAGE + "\n"

    project.ok("stop", "-t", "1")
    assert all(c["State"] == "exited" for c in project.containers()), project.containers()
    rows = [line for line in project.ok("ps").splitlines()[2:] if line.strip()]
    assert len(rows) == 2 and all("Exit" in row for row in rows), rows

    out = project.run("down", "-v")
    assert out.returncode == 0, out
    assert project.containers() == []
    assert project.networks() == []
    assert project.volumes() == []
    assert daemon.get(f"/v1.45/networks/{project.name}_default").status == 404
    assert daemon.get(f"/v1.45/volumes/{project.name}_data").status == 404
    assert b"Removing network " + f"{project.name}_default".encode() in out.stderr, out.stderr
