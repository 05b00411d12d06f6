"""Builds as today's clients make them: the docker CLI's classic builder and docker-py."""

from __future__ import annotations

import io
import os

import docker
import pytest

from .builds import context
from .containers import docker as docker_cli
from .containers import ensure_busybox


@pytest.fixture
def workdir(tmp_path):
    (tmp_path / "Dockerfile").write_text(
        "FROM busybox AS first\nARG WORD=default\nRUN echo \"$WORD\" > /word\n"
        "FROM first AS second\nCOPY file.txt /file.txt\nCMD [\"cat\", \"/word\", \"/file.txt\"]\n")
    (tmp_path / "Other.dockerfile").write_text("FROM busybox\nCMD [\"echo\", \"other\"]\n")
    (tmp_path / "file.txt").write_text("from the context\n")
    return tmp_path


def test_cli_build_tag_file_target_build_arg_and_cache(daemon, workdir):
    ensure_busybox(daemon)
    r = docker_cli(daemon, "build", "-t", "cli-built:v1", "--build-arg", "WORD=hello", str(workdir), timeout=120)
    assert r.returncode == 0, r.stderr.decode() + r.stdout.decode()
    out = r.stdout.decode()
    assert "Successfully tagged cli-built:v1" in out, out
    run = docker_cli(daemon, "run", "--rm", "cli-built:v1")
    assert run.stdout == b"hello\nfrom the context\n", run
    # The same build again: every step from the cache.
    again = docker_cli(daemon, "build", "--build-arg", "WORD=hello", str(workdir), timeout=120)
    text = again.stdout.decode()
    assert again.returncode == 0 and text.count("Using cache") == 4, text
    # --no-cache runs them again.
    fresh = docker_cli(daemon, "build", "--no-cache", "--build-arg", "WORD=hello", str(workdir), timeout=120)
    assert fresh.returncode == 0 and "Using cache" not in fresh.stdout.decode()
    # --target stops at a stage; -f picks another Dockerfile.
    target = docker_cli(daemon, "build", "--target", "first", "-t", "cli-first", str(workdir), timeout=120)
    assert target.returncode == 0, target.stderr
    assert "COPY file.txt" not in target.stdout.decode()
    other = docker_cli(daemon, "build", "-f", str(workdir / "Other.dockerfile"), "-t", "cli-other",
                       str(workdir), timeout=120)
    assert other.returncode == 0, other.stderr
    assert docker_cli(daemon, "run", "--rm", "cli-other").stdout == b"other\n"


def test_cli_build_failure_is_reported(daemon, tmp_path):
    ensure_busybox(daemon)
    (tmp_path / "Dockerfile").write_text("FROM busybox\nRUN exit 3\n")
    r = docker_cli(daemon, "build", str(tmp_path), timeout=120)
    assert r.returncode != 0
    assert "returned a non-zero code: 3" in r.stderr.decode() + r.stdout.decode()


@pytest.fixture(scope="module")
def api_client(daemon):
    ensure_busybox(daemon)
    c = docker.APIClient(base_url=daemon.unix_url, version="1.45")
    yield c
    c.close()


def test_docker_py_build_from_a_fileobj_and_a_path(daemon, api_client, workdir):
    client = docker.DockerClient(base_url=daemon.unix_url, version="1.45")
    before = {c.id for c in client.containers.list(all=True)}
    try:
        image, logs = client.images.build(path=str(workdir), tag="py-built", buildargs={"WORD": "py"})
        assert "py-built:latest" in image.tags
        assert any("Successfully built" in (chunk.get("stream") or "") for chunk in logs)
        dockerfile = io.BytesIO(b"FROM busybox\nLABEL from=fileobj\n")
        image, _ = client.images.build(fileobj=dockerfile, rm=True)
        assert image.labels == {"from": "fileobj"}
        with pytest.raises(docker.errors.BuildError) as failure:
            client.images.build(fileobj=io.BytesIO(b"FROM busybox\nRUN exit 7\n"))
        assert "non-zero code: 7" in str(failure.value)
        # docker-py builds with rm=False unless told: as Docker, each RUN's container is kept.
        kept = [c for c in client.containers.list(all=True) if c.id not in before]
        assert sorted(c.attrs["Config"]["Cmd"][-1] for c in kept) == ['echo "$WORD" > /word', "exit 7"]
        for c in kept:
            c.remove()
    finally:
        client.close()


def test_docker_py_low_level_build_parameters(daemon, api_client):
    tar = context({"Dockerfile": "FROM busybox\nRUN echo $HTTP_PROXY > /proxy\nCMD [\"cat\", \"/proxy\"]\n"})
    stream = api_client.build(fileobj=io.BytesIO(tar), custom_context=True, decode=True, nocache=True,
                              buildargs={"HTTP_PROXY": "http://proxy.invalid:3128"},
                              container_limits={"memory": 64 << 20, "cpushares": 512},
                              shmsize=32 << 20, labels={"l": "v"}, forcerm=True, network_mode="none")
    chunks = list(stream)
    ids = [c["aux"]["ID"] for c in chunks if "aux" in c]
    assert ids, chunks
    info = api_client.inspect_image(ids[0])
    assert info["Config"]["Labels"] == {"l": "v"}
    # A proxy arg reaches RUN but stays out of the history.
    history = api_client.history(ids[0])
    assert not any("proxy.invalid" in h["CreatedBy"] for h in history)


def test_docker_py_build_with_a_gzip_context_and_dockerfile_in_a_subdir(daemon, api_client, tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "Build.file").write_text("FROM busybox\nCOPY data /data\n")
    (tmp_path / "data").write_text("x")
    out = list(api_client.build(path=str(tmp_path), dockerfile="sub/Build.file", gzip=True, decode=True, tag="py-gz"))
    assert any("Successfully tagged py-gz:latest" in (c.get("stream") or "") for c in out), out
    assert os.path.exists(tmp_path / "data")
