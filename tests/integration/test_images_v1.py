"""The v1.0 image endpoints (spec 2.2) with raw HTTP on unprefixed paths."""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import os
import threading
import urllib.parse

import pytest

from .images import TarBuilder, busybox_rootfs, compress


def messages(body: bytes) -> list[dict]:
    return [json.loads(line) for line in body.decode().splitlines() if line.strip()]


def import_image(daemon, body: bytes, repo: str | None = None, tag: str | None = None,
                 prefix: str = "") -> str:
    query = "fromSrc=-" + (f"&repo={repo}" if repo else "") + (f"&tag={tag}" if tag else "")
    r = daemon.request("POST", f"{prefix}/images/create?{query}", body=body,
                       headers={"Content-Type": "application/x-tar"})
    assert r.status == 200, r.body
    last = messages(r.body)[-1]
    assert "error" not in last, last
    return last["status"]


@pytest.fixture(scope="module")
def rootfs() -> bytes:
    return busybox_rootfs()


@pytest.fixture(scope="module")
def busybox(daemon, rootfs) -> str:
    return import_image(daemon, compress(rootfs, "gzip"), "busybox", "latest")


def rows(daemon, query: str = "") -> list[dict]:
    r = daemon.get(f"/images/json{query}")
    assert r.status == 200 and r.headers["Content-Type"].startswith("application/json")
    return r.json()


def test_import_gives_a_v1_id_and_lists_it(daemon, busybox, rootfs):
    assert len(busybox) == 64 and all(c in "0123456789abcdef" for c in busybox)
    mine = [row for row in rows(daemon) if row["Repository"] == "busybox"]
    assert mine == [{"Repository": "busybox", "Tag": "latest", "Id": busybox[:12],
                     "Created": mine[0]["Created"]}]
    assert isinstance(mine[0]["Created"], int) and mine[0]["Created"] > 1_700_000_000
    # The image's layer is the rootfs, extracted exactly once.
    config = daemon.get("/v1.45/images/busybox/json").json()
    assert config["RootFS"]["Layers"] == ["sha256:" + hashlib.sha256(rootfs).hexdigest()]


@pytest.mark.parametrize("kind", ["none", "gzip", "bzip2", "xz", "zstd"])
def test_import_every_compression(daemon, rootfs, kind):
    image = import_image(daemon, compress(rootfs, kind), f"comp-{kind}", "t")
    inspect = daemon.get(f"/images/comp-{kind}:t/json").json()
    assert inspect["id"] == image
    # Same content, same diff id, whatever the compression.
    layers = daemon.get(f"/v1.45/images/comp-{kind}:t/json").json()["RootFS"]["Layers"]
    assert layers == ["sha256:" + hashlib.sha256(rootfs).hexdigest()]


def test_inspect_v1_keys(daemon, busybox):
    r = daemon.get("/images/busybox/json")
    assert r.status == 200
    info = r.json()
    assert info["id"] == busybox and info["parent"] == ""
    assert info["created"].endswith("Z") and info["container"] == ""
    for key in ("Hostname", "User", "Memory", "MemorySwap", "AttachStdin", "AttachStdout",
                "AttachStderr", "PortSpecs", "Tty", "OpenStdin", "StdinOnce", "Env", "Cmd",
                "Dns", "Image", "Volumes", "VolumesFrom"):
        assert key in info["container_config"], key


def test_name_resolution(daemon, busybox):
    for name in ("busybox", "busybox:latest", "docker.io/library/busybox", "library/busybox:latest",
                 busybox, f"sha256:{busybox}", busybox[:12], busybox[:5]):
        r = daemon.get(f"/images/{name}/json")
        assert r.status == 200 and r.json()["id"] == busybox, name
    assert daemon.get("/images/nosuch/json").status == 404
    assert daemon.get("/images/nosuch/json").json()["message"] == "No such image: nosuch"
    r = daemon.get("/images/Bad..Name/json")
    assert r.status == 400 and "invalid reference format" in r.json()["message"]


def test_ambiguous_prefix_is_a_clear_error(daemon):
    ids = [import_image(daemon, TarBuilder().file(f"f{i}", str(i).encode()).bytes()) for i in range(40)]
    by_first = {}
    for image in ids:
        by_first.setdefault(image[0], []).append(image)
    shared = next(v for v in by_first.values() if len(v) > 1)
    r = daemon.get(f"/images/{shared[0][0]}/json")
    assert r.status == 400 and "ambiguous" in r.json()["message"]
    for image in ids:
        assert daemon.request("DELETE", f"/images/{image}").status == 204


def test_history(daemon, busybox):
    r = daemon.get("/images/busybox/history")
    assert r.status == 200
    assert r.json() == [{"Id": busybox[:12], "Created": r.json()[0]["Created"], "CreatedBy": ""}]
    assert daemon.get("/images/nosuch/history").status == 404


def test_tag(daemon, busybox):
    r = daemon.request("POST", "/images/busybox/tag?repo=myrepo&tag=v42&force=0")
    assert r.status == 201
    assert {"Repository": "myrepo", "Tag": "v42", "Id": busybox[:12]} in [
        {k: row[k] for k in ("Repository", "Tag", "Id")} for row in rows(daemon)]
    other = import_image(daemon, TarBuilder().file("other", b"x").bytes(), "other")
    r = daemon.request("POST", "/images/other/tag?repo=myrepo&tag=v42&force=0")
    assert r.status == 409 and "myrepo:v42" in r.json()["message"]
    assert daemon.get("/images/myrepo:v42/json").json()["id"] == busybox
    r = daemon.request("POST", "/images/other/tag?repo=myrepo&tag=v42&force=1")
    assert r.status == 201
    assert daemon.get("/images/myrepo:v42/json").json()["id"] == other
    assert daemon.request("POST", "/images/nosuch/tag?repo=x").status == 404
    for bad in ("repo=UPPER", "repo=a&tag=" + "x" * 129, "repo=a&tag=-bad", ""):
        r = daemon.request("POST", f"/images/busybox/tag?{bad}")
        assert r.status == 400, bad
    assert daemon.request("DELETE", "/images/myrepo:v42").status == 204
    assert daemon.request("DELETE", "/images/other").status == 204


def test_viz(daemon, busybox):
    r = daemon.get("/images/viz")
    assert r.status == 200 and r.headers["Content-Type"].startswith("text/plain")
    text = r.text if hasattr(r, "text") else r.body.decode()
    assert text.startswith("digraph docker {\n") and text.rstrip().endswith("}")
    assert f'base -> "{busybox[:12]}" [style=invis]' in text
    assert f'"{busybox[:12]}" [label="{busybox[:12]}\\nbusybox:latest"' in text
    assert "base [style=invisible]" in text


@pytest.fixture(scope="module")
def file_server():
    root = os.path.join("/tmp", f"dy-serve-{os.getpid()}")
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, "hello.txt"), "wb") as fh:
        fh.write(b"hello from the file server\n")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=root)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_insert_adds_a_layer(daemon, busybox, file_server):
    r = daemon.request("POST", f"/images/busybox/insert?url={file_server}/hello.txt&path=/usr/share/hello.txt")
    assert r.status == 200, r.body
    last = messages(r.body)[-1]
    new = last["status"]
    assert len(new) == 64 and new != busybox
    info = daemon.get(f"/images/{new}/json").json()
    assert info["parent"] == busybox
    modern = daemon.get(f"/v1.45/images/{new}/json").json()
    assert len(modern["RootFS"]["Layers"]) == 2
    history = daemon.get(f"/images/{new}/history").json()
    assert [h["Id"] for h in history] == [new[:12], busybox[:12]]
    assert "INSERT" in history[0]["CreatedBy"]
    # The file is in the new layer, with the parent directories the image has.
    layer = modern["RootFS"]["Layers"][1]
    import hashlib as _h
    parent_chain = modern["RootFS"]["Layers"][0]
    chain = "sha256:" + _h.sha256(f"{parent_chain} {layer}".encode()).hexdigest()
    path = os.path.join(daemon.data_root, "layers", chain[7:], "usr", "share", "hello.txt")
    with open(path, "rb") as fh:
        assert fh.read() == b"hello from the file server\n"
    assert os.stat(path).st_mode & 0o777 == 0o755
    # The untagged child shows only with all=1; deleting it leaves busybox alone.
    assert new[:12] not in [row["Id"] for row in rows(daemon)]
    assert new[:12] in [row["Id"] for row in rows(daemon, "?all=1")]
    r = daemon.request("DELETE", f"/images/{new}")
    assert r.status == 204
    assert daemon.get("/images/busybox/json").status == 200


def test_insert_errors(daemon, busybox, file_server):
    assert daemon.request("POST", f"/images/nosuch/insert?url={file_server}/hello.txt&path=/x").status == 404
    r = daemon.request("POST", f"/images/busybox/insert?url={file_server}/missing&path=/x")
    assert r.status == 400 and "404" in r.json()["message"]
    r = daemon.request("POST", "/images/busybox/insert?url=file:///etc/passwd&path=/x")
    assert r.status == 400
    assert daemon.request("POST", "/images/busybox/insert?path=/x").status == 400


def test_import_from_url(daemon, rootfs, file_server):
    path = os.path.join("/tmp", f"dy-serve-{os.getpid()}", "rootfs.tar.gz")
    with open(path, "wb") as fh:
        fh.write(compress(rootfs, "gzip"))
    r = daemon.request("POST", f"/images/create?fromSrc={file_server}/rootfs.tar.gz&repo=fromurl")
    assert r.status == 200
    image = messages(r.body)[-1]["status"]
    assert daemon.get("/images/fromurl/json").json()["id"] == image
    assert daemon.request("DELETE", "/images/fromurl").status == 204


def test_delete(daemon, rootfs):
    image = import_image(daemon, compress(rootfs, "gzip"), "todelete", "1")
    daemon.request("POST", "/images/todelete:1/tag?repo=todelete&tag=2")
    # By id while two tags point at it: refused without force.
    r = daemon.request("DELETE", f"/images/{image}")
    assert r.status == 409 and "must be forced" in r.json()["message"]
    r = daemon.request("DELETE", "/images/todelete:1")
    assert r.status == 204 and r.body == b""
    assert daemon.get("/images/todelete:2/json").status == 200
    r = daemon.request("DELETE", "/images/todelete:2")
    assert r.status == 204
    assert daemon.get(f"/images/{image}/json").status == 404
    assert daemon.request("DELETE", "/images/todelete:2").status == 404


def test_delete_removes_unused_layers(daemon):
    body = TarBuilder().file("only-here", os.urandom(64)).bytes()
    before = set(os.listdir(os.path.join(daemon.data_root, "layers")))
    import_image(daemon, body, "lonely")
    during = set(os.listdir(os.path.join(daemon.data_root, "layers")))
    assert len(during - before) == 1
    assert daemon.request("DELETE", "/images/lonely").status == 204
    assert set(os.listdir(os.path.join(daemon.data_root, "layers"))) == before


def test_failed_import_leaves_nothing(daemon):
    layers = os.path.join(daemon.data_root, "layers")
    before = (set(os.listdir(layers)), len(rows(daemon, "?all=1")))
    r = daemon.request("POST", "/images/create?fromSrc=-&repo=broken", body=b"this is not a tar" * 100)
    assert r.status == 400
    r = daemon.request("POST", "/images/create?fromSrc=-&repo=BAD", body=busybox_rootfs())
    assert r.status == 400 and "lowercase" in r.json()["message"]
    assert (set(os.listdir(layers)), len(rows(daemon, "?all=1"))) == before
    assert os.listdir(os.path.join(daemon.data_root, "tmp", "registry")) == []


def test_import_with_changes(daemon, rootfs):
    """`docker import -c` and docker-py's import with changes: the `changes` parameter,
    repeated, applied to the imported image's config; a bad one is Docker's 400."""
    body = compress(rootfs, "gzip")

    def post(path: str, changes: tuple[str, ...]):
        query = "&".join("changes=" + urllib.parse.quote(c) for c in changes)
        return daemon.request("POST", f"{path}&{query}", body=body, headers={"Content-Type": "application/x-tar"})
    r = post("/v1.45/images/create?fromSrc=-&repo=imported-changes&tag=1",
             ("USER foobar", 'CMD ["echo"]', "ENV A=1", "ENV B=$A", "EXPOSE 80", "WORKDIR /srv",
              "LABEL l=v", "STOPSIGNAL SIGQUIT", 'ENTRYPOINT ["/bin/sh", "-c"]'))
    assert r.status == 200 and "error" not in messages(r.body)[-1], r.body
    config = daemon.get("/v1.45/images/imported-changes:1/json").json()["Config"]
    assert config["User"] == "foobar" and config["Env"] == ["A=1", "B=1"]
    assert config["Cmd"] == ["echo"] and config["Entrypoint"] == ["/bin/sh", "-c"]
    assert config["ExposedPorts"] == {"80/tcp": {}} and config["WorkingDir"] == "/srv"
    assert config["Labels"] == {"l": "v"} and config["StopSignal"] == "SIGQUIT"
    # On the v1.0 path too.
    r = post("/images/create?fromSrc=-&repo=imported-changes&tag=2", ("USER nobody",))
    assert r.status == 200, r.body
    assert daemon.get("/images/imported-changes:2/json").json()["config"]["User"] == "nobody"
    # A refused change: a 400 with Docker's words, before anything is imported.
    layers = os.path.join(daemon.data_root, "layers")
    before = (set(os.listdir(layers)), len(rows(daemon, "?all=1")))
    for changes, message in ((("RUN true",), "RUN is not a valid change command"),
                             (("USER a", "ADD x /"), "ADD is not a valid change command"),
                             (("EXPOSE",), "dockerfile parse error on line 1: EXPOSE requires at least one argument"),
                             (("USER",), "dockerfile parse error on line 1: USER requires exactly one argument")):
        for path in ("/v1.45/images/create?fromSrc=-&repo=imported-changes&tag=bad",
                     "/images/create?fromSrc=-&repo=imported-changes&tag=bad"):
            r = post(path, changes)
            assert r.status == 400 and r.json()["message"] == message, (changes, r.body)
    assert daemon.get("/images/imported-changes:bad/json").status == 404
    assert (set(os.listdir(layers)), len(rows(daemon, "?all=1"))) == before
    assert os.listdir(os.path.join(daemon.data_root, "tmp", "registry")) == []
    for tag in ("1", "2"):
        assert daemon.request("DELETE", f"/images/imported-changes:{tag}").status == 204


def test_create_needs_a_source(daemon):
    assert daemon.request("POST", "/images/create").status == 400
