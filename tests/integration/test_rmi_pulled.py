"""`docker rmi` of a pulled image (issue 8): the last tag of a repository takes the
repository's digest references with it, and then the image, as Docker does."""

from __future__ import annotations

import os
import subprocess
import uuid

import pytest

from .containers import create, ensure_busybox, remove
from .images import TarBuilder
from .registries import running_registry
from .test_images_v1 import import_image


@pytest.fixture(scope="module")
def registry():
    with running_registry() as host:
        yield host


@pytest.fixture
def cli(daemon, tmp_path):
    env = dict(os.environ, DOCKER_CONFIG=str(tmp_path))

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["docker", "-H", daemon.unix_url, *args], capture_output=True, text=True,
                              timeout=120, env=env)
    return run


def pulled(daemon, cli, registry) -> tuple[str, str, str]:
    """An image of its own, pushed and removed here, then pulled: its tag, digest ref and id."""
    ensure_busybox(daemon)
    name = f"dyrmi{uuid.uuid4().hex[:8]}"
    layer = TarBuilder().dir("etc").file("etc/which", name.encode() + b"\n").bytes()
    import_image(daemon, layer, name, "src")
    repo = f"{registry}/test/{name}"
    assert cli("tag", f"{name}:src", f"{repo}:1").returncode == 0
    assert cli("push", f"{repo}:1").returncode == 0
    assert cli("rmi", f"{name}:src", f"{repo}:1").returncode == 0   # gone here: only the registry has it
    out = cli("pull", f"{repo}:1")
    assert out.returncode == 0, out.stderr
    inspect = daemon.get(f"/v1.45/images/{repo}:1/json").json()
    assert inspect["RepoTags"] == [f"{repo}:1"] and len(inspect["RepoDigests"]) == 1
    return f"{repo}:1", inspect["RepoDigests"][0], inspect["Id"]


def test_rmi_of_a_pulled_images_only_tag_removes_the_image(daemon, cli, registry):
    tag, digest_ref, image_id = pulled(daemon, cli, registry)
    out = cli("rmi", tag)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [f"Untagged: {tag}", f"Untagged: {digest_ref}", f"Deleted: {image_id}"]
    assert daemon.get(f"/v1.45/images/{image_id}/json").status == 404
    rows = cli("images", "-a", "--digests", "--no-trunc", "--format", "{{.ID}} {{.Digest}}").stdout
    assert image_id not in rows and digest_ref.split("@")[1] not in rows


def test_rmi_over_http_and_by_id(daemon, cli, registry):
    tag, digest_ref, image_id = pulled(daemon, cli, registry)
    r = daemon.request("DELETE", f"/v1.45/images/{tag}")
    assert r.status == 200, r.body
    assert r.json() == [{"Untagged": tag}, {"Untagged": digest_ref}, {"Deleted": image_id}]
    # By id: a tag and the digests of its one repository need no force.
    tag, digest_ref, image_id = pulled(daemon, cli, registry)
    r = daemon.request("DELETE", f"/v1.45/images/{image_id}")
    assert r.status == 200, r.body
    assert r.json() == [{"Untagged": tag}, {"Untagged": digest_ref}, {"Deleted": image_id}]


def test_a_tag_in_another_repository_keeps_the_image_and_its_digest(daemon, cli, registry):
    tag, digest_ref, image_id = pulled(daemon, cli, registry)
    other = f"dyrmi-other-{uuid.uuid4().hex[:8]}:1"
    assert cli("tag", tag, other).returncode == 0
    r = daemon.request("DELETE", f"/v1.45/images/{tag}")
    assert r.status == 200 and r.json() == [{"Untagged": tag}, {"Untagged": digest_ref}]
    inspect = daemon.get(f"/v1.45/images/{image_id}/json").json()
    assert inspect["RepoTags"] == [other] and inspect["RepoDigests"] == []
    # A second tag of the same repository keeps the repository's digest.
    assert cli("tag", other, tag).returncode == 0
    assert cli("tag", other, tag.replace(":1", ":2")).returncode == 0
    r = daemon.request("DELETE", f"/v1.45/images/{tag}")
    assert r.status == 200 and r.json() == [{"Untagged": tag}]
    r = daemon.request("DELETE", f"/v1.45/images/{image_id}?force=1")
    assert r.status == 200
    assert r.json()[-1] == {"Deleted": image_id}


def test_a_pulled_image_a_container_uses_is_kept(daemon, cli, registry):
    tag, digest_ref, image_id = pulled(daemon, cli, registry)
    cid = create(daemon, Image=tag, Cmd=["/bin/true"])
    try:
        r = daemon.request("DELETE", f"/v1.45/images/{tag}")
        assert r.status == 409 and "must force" in r.json()["message"]
        r = daemon.request("DELETE", f"/v1.45/images/{tag}?force=1")
        assert r.status == 200 and r.json() == [{"Untagged": tag}, {"Untagged": digest_ref}]
        assert daemon.get(f"/v1.45/images/{image_id}/json").json()["RepoDigests"] == []
    finally:
        remove(daemon, cid)
    r = daemon.request("DELETE", f"/v1.45/images/{image_id}")
    assert r.status == 200 and r.json() == [{"Deleted": image_id}]
