"""Commit's and import's changes (`docker commit -c`, `docker import -c`, docker-py's
`changes=`), `docker diff`, and legacy links removed (`docker rm --link`) and followed
through renames, as the docker CLI and docker-py meet them."""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
import uuid

import docker
import pytest

BUSYBOX = "busybox:latest"


@pytest.fixture
def cli(daemon, tmp_path):
    env = dict(os.environ, DOCKER_CONFIG=str(tmp_path))

    def run(*args: str, ok: bool = True) -> subprocess.CompletedProcess:
        out = subprocess.run(["docker", "-H", daemon.unix_url, *args], capture_output=True, text=True,
                             timeout=120, env=env)
        if ok:
            assert out.returncode == 0, (args, out.stderr)
        return out
    return run


@pytest.fixture
def gone(client):
    """Containers and images to remove at the test's end, whatever happened."""
    made: dict[str, list[str]] = {"containers": [], "images": []}
    yield made
    for cid in made["containers"]:
        try:
            client.api.remove_container(cid, force=True)
        except docker.errors.NotFound:
            pass
    for image in made["images"]:
        try:
            client.api.remove_image(image, force=True)
        except docker.errors.NotFound:
            pass


def tar_of(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_docker_commit_and_import_with_changes(cli, client, gone, tmp_path):
    cid = cli("run", "-d", BUSYBOX, "touch", "/test").stdout.strip()
    gone["containers"].append(cid)
    cli("wait", cid)
    tag = uuid.uuid4().hex[:8]
    cli("commit", "-c", "EXPOSE 8000", "-c", 'CMD ["bash"]', "-c", "ENV MODE=committed", "-m", "a message",
        "-a", "Jane Doe <jane@example.com>", cid, f"cli-commit:{tag}")
    gone["images"].append(f"cli-commit:{tag}")
    image = json.loads(cli("image", "inspect", f"cli-commit:{tag}").stdout)[0]
    assert "8000/tcp" in image["Config"]["ExposedPorts"] and image["Config"]["Cmd"] == ["bash"]
    assert "MODE=committed" in image["Config"]["Env"]
    assert image["Comment"] == "a message" and image["Author"] == "Jane Doe <jane@example.com>"
    refused = cli("commit", "-c", "RUN true", cid, f"cli-commit:bad{tag}", ok=False)
    assert refused.returncode != 0 and "RUN is not a valid change command" in refused.stderr
    # docker import -c, from a file.
    path = tmp_path / "rootfs.tar"
    path.write_bytes(tar_of({"hello": b"hi\n"}))
    cli("import", "-c", "USER foobar", "-c", 'CMD ["echo"]', str(path), f"cli-import:{tag}")
    gone["images"].append(f"cli-import:{tag}")
    config = json.loads(cli("image", "inspect", f"cli-import:{tag}").stdout)[0]["Config"]
    assert config["User"] == "foobar" and config["Cmd"] == ["echo"]
    refused = cli("import", "-c", "COPY a b", str(path), f"cli-import:bad{tag}", ok=False)
    assert refused.returncode != 0 and "COPY is not a valid change command" in refused.stderr
    assert cli("image", "inspect", f"cli-import:bad{tag}", ok=False).returncode != 0


def test_docker_py_commit_and_import_with_changes(client, gone):
    cid = client.api.create_container(BUSYBOX, ["touch", "/test"])["Id"]
    gone["containers"].append(cid)
    client.api.start(cid)
    image = client.api.commit(cid, changes=["EXPOSE 8000", 'CMD ["bash"]'])["Id"]
    gone["images"].append(image)
    attrs = client.api.inspect_image(image)
    assert "8000/tcp" in attrs["Config"]["ExposedPorts"] and attrs["Config"]["Cmd"] == ["bash"]
    tag = uuid.uuid4().hex[:8]
    statuses = client.api.import_image_from_data(tar_of({"a": b"a"}), repository=f"py-import-{tag}",
                                                 changes=["USER foobar", 'CMD ["echo"]'])
    result = json.loads(statuses.splitlines()[-1])
    assert "error" not in result
    gone["images"].append(result["status"])
    attrs = client.api.inspect_image(result["status"])
    assert attrs["Config"]["Cmd"] == ["echo"] and attrs["Config"]["User"] == "foobar"
    with pytest.raises(docker.errors.APIError) as info:
        client.api.commit(cid, changes=["FROM busybox"])
    assert info.value.status_code == 400 and "FROM is not a valid change command" in str(info.value.explanation)


def test_docker_diff_shows_only_what_the_container_did(cli, client, gone):
    ctr = client.containers.run(BUSYBOX, "touch /test", detach=True)
    gone["containers"].append(ctr.id)
    ctr.wait()
    assert ctr.diff() == [{"Path": "/test", "Kind": 1}]
    assert cli("diff", ctr.id).stdout.splitlines() == ["A /test"]
    ctr = client.containers.run(BUSYBOX, ["sh", "-c", "rm /etc/passwd; mkdir -p /var/new"], detach=True)
    gone["containers"].append(ctr.id)
    ctr.wait()
    assert cli("diff", ctr.id).stdout.splitlines() == ["C /etc", "D /etc/passwd", "C /var", "A /var/new"]


def _hosts(ctr) -> str:
    result = ctr.exec_run(["cat", "/etc/hosts"])
    assert result.exit_code == 0, result.output
    return result.output.decode()


def test_a_legacy_link_is_removed_and_both_containers_stay(client, daemon, gone):
    tag = uuid.uuid4().hex[:8]
    db = client.containers.run(BUSYBOX, "top", detach=True, name=f"db-{tag}")
    gone["containers"].append(db.id)
    web = client.containers.run(BUSYBOX, "top", detach=True, name=f"web-{tag}", links={db.name: "mylink"})
    gone["containers"].append(web.id)
    assert web.attrs["HostConfig"]["Links"] == [f"/db-{tag}:/web-{tag}/mylink"]
    assert "mylink" in _hosts(web)
    # What docker-py's remove_container(link=True) sends: DELETE /containers/web/mylink?link=1.
    client.api.remove_container(f"{web.name}/mylink", link=True)
    web.reload()
    assert web.attrs["HostConfig"]["Links"] is None
    assert "mylink" not in _hosts(web)   # its hosts file no longer names it
    ids = {c["Id"] for c in client.api.containers(all=True)}
    assert {db.id, web.id} <= ids and web.status == "running"
    # Docker's refusals: a container's own name is not a link (409), an unknown link a 404.
    r = daemon.request("DELETE", f"/v1.45/containers/{db.name}?link=1")
    assert r.status == 409 and r.json()["message"] == "Conflict, cannot remove the default link name of the container"
    r = daemon.request("DELETE", f"/v1.45/containers/{web.name}/mylink?link=1")
    assert r.status == 404 and r.json()["message"] == f"No such container: {web.name}/mylink"
    assert daemon.request("DELETE", "/v1.45/containers/nosuch?link=1").status == 404
    assert daemon.request("DELETE", "/v1.45/containers/nosuch/alias?link=1").status == 404


def test_links_follow_renames(client, gone):
    tag = uuid.uuid4().hex[:8]
    db = client.containers.run(BUSYBOX, "top", detach=True, name=f"db-{tag}")
    gone["containers"].append(db.id)
    web = client.containers.create(BUSYBOX, "top", name=f"web-{tag}", links={db.name: "store"})
    gone["containers"].append(web.id)
    # The linked-to container renamed: the link follows it (Docker links to the container).
    db.rename(f"db2-{tag}")
    web.reload()
    assert web.attrs["HostConfig"]["Links"] == [f"/db2-{tag}:/web-{tag}/store"]
    # The linking one renamed: its links are named under its new name, as Docker renames them.
    web.rename(f"web2-{tag}")
    web.reload()
    assert web.attrs["HostConfig"]["Links"] == [f"/db2-{tag}:/web2-{tag}/store"]
    web.start()
    env = web.exec_run(["env"]).output.decode().splitlines()
    assert f"STORE_NAME=/web2-{tag}/store" in env
    assert f"db2-{tag}" in _hosts(web) and "store" in _hosts(web)
