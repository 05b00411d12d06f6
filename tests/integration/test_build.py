"""Builds on the started daemon: the v1.0 endpoint with raw HTTP, the modern one's
parameters, the image config and history Docker's classic builder gives, the cache,
failures, multi-stage builds."""

from __future__ import annotations

import json
import tarfile
from urllib.parse import quote

import pytest

from .builds import build, built_id, containers, context, ok_build, output, run_image
from .containers import ensure_busybox, inspect, remove, run


def image(daemon, name: str) -> dict:
    r = daemon.get(f"/v1.45/images/{name}/json")
    assert r.status == 200, r.body
    return r.json()


def history(daemon, name: str) -> list[dict]:
    r = daemon.get(f"/v1.45/images/{name}/history")
    assert r.status == 200, r.body
    return r.json()


def test_v1_build_with_raw_http(daemon):
    ensure_busybox(daemon)
    tar = context({"Dockerfile": "FROM busybox\nRUN echo built > /made\nCMD [\"cat\", \"/made\"]\n"})
    status, msgs = build(daemon, tar, "t=v1built", prefix="")
    assert status == 200, msgs
    text = output(msgs)
    assert "Step 1/3 : FROM busybox\n" in text
    assert "Step 2/3 : RUN echo built > /made\n" in text
    assert " ---> Running in " in text and "Removing intermediate container " in text
    assert "Successfully built " in text and "Successfully tagged v1built:latest\n" in text
    code, out = run_image(daemon, "v1built")
    assert code == 0 and b"built" in out


def test_image_config_and_history(daemon):
    dockerfile = """\
FROM busybox
MAINTAINER someone <a@b.c>
LABEL a=1 "b c"="two words"
ENV PATH_EXTRA=/opt/bin GREETING="hello world"
ENV OLD style value
WORKDIR /app
WORKDIR sub
USER 1000:1000
EXPOSE 80 53/udp
VOLUME ["/data"]
STOPSIGNAL SIGUSR1
HEALTHCHECK --interval=5s --timeout=3s --retries=2 CMD ["true"]
ONBUILD RUN echo triggered
ENTRYPOINT ["/bin/echo"]
CMD ["$GREETING"]
"""
    image_id, _ = ok_build(daemon, dockerfile, query="t=configured")
    config = image(daemon, "configured")["Config"]
    assert config["Entrypoint"] == ["/bin/echo"] and config["Cmd"] == ["$GREETING"]
    assert "GREETING=hello world" in config["Env"] and "OLD=style value" in config["Env"]
    assert config["WorkingDir"] == "/app/sub"
    assert config["User"] == "1000:1000"
    assert config["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}}
    assert config["Volumes"] == {"/data": {}}
    assert config["Labels"] == {"a": "1", "b c": "two words"}
    assert config["StopSignal"] == "SIGUSR1"
    assert config["Healthcheck"] == {"Test": ["CMD", "true"], "Interval": 5_000_000_000,
                                     "Timeout": 3_000_000_000, "Retries": 2}
    assert config["OnBuild"] == ["RUN echo triggered"]
    assert image(daemon, "configured")["Author"] == "someone <a@b.c>"
    entries = history(daemon, "configured")
    created_by = [e["CreatedBy"] for e in entries]
    assert any("#(nop) WORKDIR /app/sub" in c for c in created_by), created_by
    assert any("#(nop) ENV GREETING=hello world" in c or "ENV PATH_EXTRA=/opt/bin GREETING=hello world" in c
               for c in created_by), created_by
    # WORKDIR made /app: a layer; the config-only steps have none.
    sizes = {e["CreatedBy"].split("#(nop) ", 1)[-1].split()[0]: e["Size"] for e in entries[:14]}
    assert sizes["LABEL"] == 0 and sizes["CMD"] == 0


def test_empty_layer_marks_in_the_image_config(daemon):
    ok_build(daemon, "FROM busybox\nENV A=1\nRUN echo x > /x\n", query="t=emptylayers")
    r = daemon.get("/v1.45/images/get?names=emptylayers")
    assert r.status == 200
    import io
    with tarfile.open(fileobj=io.BytesIO(r.body)) as tf:
        manifest = json.load(tf.extractfile("manifest.json"))
        config = json.load(tf.extractfile(manifest[0]["Config"]))
    steps = config["history"][-2:]
    assert steps[0]["created_by"] == "/bin/sh -c #(nop)  ENV A=1" and steps[0]["empty_layer"] is True
    assert steps[1]["created_by"] == "/bin/sh -c echo x > /x" and "empty_layer" not in steps[1]
    assert len(config["rootfs"]["diff_ids"]) == len([h for h in config["history"] if not h.get("empty_layer")])


def test_a_rebuild_uses_the_cache_for_every_step(daemon):
    dockerfile = "FROM busybox\nCOPY a.txt /a.txt\nRUN cat /a.txt > /b.txt\nENV X=1\nCMD [\"cat\", \"/b.txt\"]\n"
    first, _ = ok_build(daemon, dockerfile, {"a.txt": "one"})
    second, text = ok_build(daemon, dockerfile, {"a.txt": "one"})
    assert second == first
    assert text.count(" ---> Using cache\n") == 4, text
    assert " ---> Running in " not in text
    # A changed file misses at its COPY and every step after it.
    third, text = ok_build(daemon, dockerfile, {"a.txt": "two"})
    assert third != first and " ---> Using cache\n" not in text
    _, out = run_image(daemon, third)
    assert b"two" in out
    # nocache runs every step again.
    _, text = ok_build(daemon, dockerfile, {"a.txt": "one"}, query="nocache=1")
    assert " ---> Using cache\n" not in text and " ---> Running in " in text


def test_a_failing_run_reports_its_code_tags_nothing_and_leaves_no_container(daemon):
    ensure_busybox(daemon)
    before = {c["Id"] for c in containers(daemon)}
    status, msgs = build(daemon, context({"Dockerfile": "FROM busybox\nRUN echo going && false\nCMD true\n"}),
                         "t=neverbuilt")
    assert status == 200
    error = msgs[-1]
    assert error["error"] == "The command '/bin/sh -c echo going && false' returned a non-zero code: 1"
    assert error["errorDetail"] == {"code": 1, "message": error["error"]}
    assert "going\n" in output(msgs)

    assert daemon.get("/v1.45/images/neverbuilt/json").status == 404
    assert {c["Id"] for c in containers(daemon)} == before


def test_rm_0_keeps_the_step_container(daemon):
    ensure_busybox(daemon)
    before = {c["Id"] for c in containers(daemon)}
    image_id, _ = ok_build(daemon, "FROM busybox\nRUN echo kept > /kept\n", query="rm=0&nocache=1")
    kept = [c for c in containers(daemon) if c["Id"] not in before]
    assert len(kept) == 1 and kept[0]["State"] == "exited"
    remove(daemon, kept[0]["Id"])


def test_multi_stage_copy_from_and_target(daemon):
    dockerfile = """\
FROM busybox AS base
RUN echo base > /base.txt

FROM busybox AS unused
RUN false

FROM busybox AS final
COPY --from=base /base.txt /copied.txt
COPY --from=0 /base.txt /copied-by-index.txt
CMD ["cat", "/copied.txt", "/copied-by-index.txt"]

FROM final AS extra
RUN echo extra > /extra
"""
    image_id, text = ok_build(daemon, dockerfile, query="target=final&t=staged")
    assert "RUN false" not in text and "/extra" not in text  # stages the target does not need
    code, out = run_image(daemon, "staged")
    assert code == 0 and out.count(b"base") == 2
    status, err = build(daemon, context({"Dockerfile": dockerfile}), "target=nosuch")
    assert status == 400 and "nosuch" in err["message"]


def test_build_args_and_arg_before_from(daemon):
    dockerfile = """\
ARG BASE=busybox
FROM ${BASE}
ARG WHO=nobody
ARG UNSET
ENV GREETING="hi ${WHO}"
RUN echo "$WHO ${UNSET:-dflt}" > /who
CMD ["cat", "/who"]
"""
    query = "buildargs=" + quote(json.dumps({"WHO": "alice", "NOTUSED": "x"}))
    image_id, text = ok_build(daemon, dockerfile, query=query)
    assert "[Warning] One or more build-args [NOTUSED] were not consumed" in text
    config = image(daemon, image_id)["Config"]
    assert "GREETING=hi alice" in config["Env"]
    assert not any(e.startswith("WHO=") for e in config["Env"])  # an ARG is not kept in the image
    _, out = run_image(daemon, image_id)
    assert b"alice dflt" in out
    created_by = [e["CreatedBy"] for e in history(daemon, image_id)]
    assert any(c.startswith("|1 WHO=alice /bin/sh -c echo") for c in created_by), created_by


def test_copy_rules_dockerignore_and_add_archive(daemon):
    inner = context({"inner/one.txt": "1", "inner/two.txt": "2"})
    files = {
        "dir/": b"", "dir/a.txt": "a", "dir/sub/b.txt": "b", "skip.log": "x", "keep.log": "k",
        "bundle.tar": inner, ".dockerignore": "*.log\n!keep.log\n",
    }
    dockerfile = """\
FROM busybox
COPY dir /copied/
COPY *.log /logs/
COPY --chown=1000:1000 --chmod=600 dir/a.txt /owned.txt
ADD bundle.tar /unpacked/
RUN ls /copied /copied/sub /logs /unpacked/inner && stat -c '%u:%g %a' /owned.txt
"""
    image_id, text = ok_build(daemon, dockerfile, files)
    assert "a.txt\nsub\n" in text and "b.txt" in text
    assert "keep.log" in text and "skip.log" not in text
    assert "one.txt\ntwo.txt" in text
    assert "1000:1000 600" in text


def test_copy_of_a_missing_file_or_outside_the_context(daemon):
    ensure_busybox(daemon)
    status, msgs = build(daemon, context({"Dockerfile": "FROM busybox\nCOPY nothere /x\n"}))
    failure = msgs if status != 200 else msgs[-1]
    assert "nothere" in json.dumps(failure) and "not found" in json.dumps(failure)
    status, msgs = build(daemon, context({"Dockerfile": "FROM busybox\nCOPY ../../etc/passwd /x\n"}))
    assert "outside the build context" in json.dumps(msgs)


def test_copy_never_follows_a_symlink_out_of_the_context(daemon):
    ensure_busybox(daemon)
    link = tarfile.TarInfo("escape")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc"
    tar = context({"Dockerfile": "FROM busybox\nCOPY escape/ /got/\nRUN ls /got/ | wc -l\n"}, escape=link)
    status, msgs = build(daemon, tar)
    text = json.dumps(msgs)
    assert "passwd" not in text and "shadow" not in text, text


def test_hostile_context_entries_are_contained(daemon):
    ensure_busybox(daemon)
    evil = tarfile.TarInfo("../../../../tmp/dockyard-build-escape")
    evil.size = 0
    absolute = tarfile.TarInfo("/tmp/dockyard-build-absolute")
    absolute.size = 0
    tar = context({"Dockerfile": "FROM busybox\nCMD true\n"}, evil=evil, absolute=absolute)
    status, msgs = build(daemon, tar)
    import os
    assert not os.path.exists("/tmp/dockyard-build-escape")
    assert not os.path.exists("/tmp/dockyard-build-absolute")
    assert status in (200, 400)


@pytest.mark.parametrize("dockerfile, words", [
    ("FROM busybox\nFOO bar\n", ["line 2", "unknown instruction", "FOO"]),
    ("RUN true\n", ["no build stage"]),
    ("FROM busybox\nCOPY --nope=1 a b\n", ["Unknown flag", "nope"]),
    ("", ["cannot be empty"]),
    ("# only a comment\n", ["no instructions"]),
])
def test_bad_dockerfiles_are_400s_naming_the_problem(daemon, dockerfile, words):
    ensure_busybox(daemon)
    status, err = build(daemon, context({"Dockerfile": dockerfile}))
    assert status == 400, err
    for word in words:
        assert word.lower() in err["message"].lower(), err


def test_dockerfile_path_inside_the_context_and_outside(daemon):
    ensure_busybox(daemon)
    files = {"Dockerfile": "FROM busybox\nCMD [\"false\"]\n", "sub/Dockerfile.dev": "FROM busybox\nCMD [\"true\"]\n"}
    status, msgs = build(daemon, context(files), "dockerfile=sub/Dockerfile.dev")
    assert image(daemon, built_id(msgs))["Config"]["Cmd"] == ["true"]
    status, err = build(daemon, context(files), "dockerfile=../Dockerfile")
    assert status == 400 and "context" in err["message"], err
    status, err = build(daemon, context(files), "dockerfile=missing")
    assert status == 400 and "missing" in err["message"], err


def test_quiet_gives_only_the_id(daemon):
    ensure_busybox(daemon)
    status, msgs = build(daemon, context({"Dockerfile": "FROM busybox\nRUN echo noisy\n"}), "q=1&nocache=1")
    streams = [m["stream"] for m in msgs if "stream" in m]
    assert streams == [built_id(msgs) + "\n"], msgs


def test_labels_parameter_and_a_compressed_context(daemon):
    ensure_busybox(daemon)
    import gzip
    tar = gzip.compress(context({"Dockerfile": "FROM busybox\nLABEL inside=1\n"}))
    status, msgs = build(daemon, tar, "labels=" + quote(json.dumps({"outside": "2", "b": "$NOT_EXPANDED"})))
    labels = image(daemon, built_id(msgs))["Config"]["Labels"]
    assert labels == {"inside": "1", "outside": "2", "b": "$NOT_EXPANDED"}
    # As Docker: each is a LABEL step of its own, in key order.
    assert "Step 3/4 : LABEL b=$NOT_EXPANDED\n" in output(msgs)
    assert "Step 4/4 : LABEL outside=2" in output(msgs)


def test_from_scratch_with_copy(daemon):
    image_id, _ = ok_build(daemon, "FROM scratch\nCOPY hello /hello\nCMD [\"/hello\"]\n", {"hello": "hi"})
    info = image(daemon, image_id)
    assert len(info["RootFS"]["Layers"]) == 1 and info["Config"]["Cmd"] == ["/hello"]


def test_onbuild_triggers_run_in_the_child_build(daemon):
    ok_build(daemon, "FROM busybox\nONBUILD RUN echo triggered > /trigger\n", query="t=withtrigger")
    image_id, text = ok_build(daemon, "FROM withtrigger\nCMD [\"cat\", \"/trigger\"]\n")
    assert "# Executing 1 build trigger" in text
    assert image(daemon, image_id)["Config"]["OnBuild"] in (None, [])
    _, out = run_image(daemon, image_id)
    assert b"triggered" in out


def test_system_df_shows_the_build_cache(daemon):
    image_id, _ = ok_build(daemon, "FROM busybox\nRUN echo df > /df\nLABEL df=1\n", query="nocache=1")
    r = daemon.get("/v1.45/system/df")
    assert r.status == 200, r.body
    usage = r.json()
    records = {c["ID"]: c for c in usage["BuildCache"]}
    step = records[image_id]
    assert step["Type"] == "regular" and step["Description"] == "LABEL df=1"
    assert step["InUse"] is False and step["UsageCount"] >= 1 and len(step["Parents"]) == 1
    parent = records[step["Parents"][0]]
    assert parent["Description"] == "/bin/sh -c echo df > /df" and parent["Size"] > 0
    assert usage["LayersSize"] > 0 and usage["Volumes"] == []
    busybox = [i for i in usage["Images"] if "busybox:latest" in i["RepoTags"]]
    assert busybox and busybox[0]["Containers"] >= 0


def test_build_prune_removes_unused_cache(daemon):
    ensure_busybox(daemon)
    status, msgs = build(daemon, context({"Dockerfile": "FROM busybox\nRUN echo prunable-$RANDOM > /p\n"}),
                         "nocache=1")
    left = built_id(msgs)
    r = daemon.request("POST", "/v1.45/build/prune")
    assert r.status == 200, r.body
    assert left in r.json()["CachesDeleted"]
    assert daemon.get(f"/v1.45/images/{left}/json").status == 404
    assert daemon.get("/v1.45/images/configured/json").status in (200, 404)  # tagged images are kept


def test_step_containers_get_the_builds_extra_hosts(daemon):
    image_id, text = ok_build(daemon, "FROM busybox\nRUN cat /etc/hosts\n",
                              query="nocache=1&extrahosts=builder.example:10.1.2.3")
    assert "10.1.2.3\tbuilder.example" in text


def test_inspect_of_a_container_of_a_built_image(daemon):
    image_id, _ = ok_build(daemon, "FROM busybox\nENV K=v\nWORKDIR /w\nCMD [\"pwd\"]\n")
    cid, code, out = run(daemon, [], Image=image_id)
    try:
        assert code == 0 and b"/w" in out
        assert "K=v" in inspect(daemon, cid)["Config"]["Env"]
    finally:
        remove(daemon, cid)


def test_step_containers_get_the_builds_resource_limits(daemon):
    ensure_busybox(daemon)
    before = {c["Id"] for c in containers(daemon)}
    query = ("rm=0&nocache=1&memory=67108864&memswap=-1&cpushares=256&cpuperiod=100000&cpuquota=50000"
             "&cpusetcpus=0&shmsize=33554432&networkmode=none")
    _, text = ok_build(daemon, "FROM busybox\nRUN df -k /dev/shm\n", query=query)
    assert "32768" in text, text   # /dev/shm is the size asked for
    kept = [c["Id"] for c in containers(daemon) if c["Id"] not in before]
    assert len(kept) == 1
    host = inspect(daemon, kept[0])["HostConfig"]
    remove(daemon, kept[0])
    assert (host["Memory"], host["CpuShares"], host["CpuPeriod"], host["CpuQuota"], host["CpusetCpus"],
            host["ShmSize"], host["NetworkMode"]) == (64 << 20, 256, 100000, 50000, "0", 32 << 20, "none")


def test_bad_limits_are_400s(daemon):
    ensure_busybox(daemon)
    status, msgs = build(daemon, context({"Dockerfile": "FROM busybox\nRUN true\n"}), "nocache=1&cpuquota=5")
    assert "CPU cfs quota" in json.dumps(msgs)
    status, err = build(daemon, context({"Dockerfile": "FROM busybox\n"}), "memory=lots")
    assert status == 400 and "memory" in err["message"]


def test_an_empty_continuation_line_is_a_warning(daemon):
    _, text = ok_build(daemon, "FROM busybox\nRUN echo one \\\n\n    two\n")
    assert "[WARNING]: Empty continuation line found in: RUN echo one" in text
    assert "one two" in text


def test_stderr_of_a_step_shows_in_red(daemon):
    _, text = ok_build(daemon, "FROM busybox\nRUN echo to-out && echo to-err >&2\n", query="nocache=1")
    assert "to-out\n" in text and "\x1b[91mto-err\n\x1b[0m" in text


def test_a_failing_onbuild_trigger_fails_the_build(daemon):
    ok_build(daemon, "FROM busybox\nONBUILD RUN exit 4\n", query="t=badtrigger")
    status, msgs = build(daemon, context({"Dockerfile": "FROM badtrigger\nCMD [\"true\"]\n"}), "t=nottagged")
    assert msgs[-1]["errorDetail"]["code"] == 4, msgs
    assert "Successfully" not in output(msgs)
    assert daemon.get("/v1.45/images/nottagged/json").status == 404


def test_an_arg_given_a_secret_keeps_it_out_of_the_history(daemon):
    image_id, _ = ok_build(daemon, "FROM busybox\nARG TOKEN=dflt\nRUN echo ok\n",
                           query="buildargs=" + quote(json.dumps({"TOKEN": "s3cret-value"})))
    created_by = [e["CreatedBy"] for e in history(daemon, image_id)]
    assert any(c.endswith("ARG TOKEN=dflt") for c in created_by), created_by
    # RUN names the args it saw (Docker's |N form): the value is there, as in Docker.
    assert any(c.startswith("|1 TOKEN=s3cret-value ") for c in created_by)
    assert not any("s3cret" in c for c in created_by if "ARG" in c)


def test_a_run_step_is_not_probed_by_its_images_healthcheck(daemon):
    ok_build(daemon, "FROM busybox\nHEALTHCHECK --interval=1s CMD touch /probed\n", query="t=probed-base")
    before = {c["Id"] for c in containers(daemon)}
    ok_build(daemon, "FROM probed-base\nRUN true\n", query="nocache=1&rm=0")
    kept = [c["Id"] for c in containers(daemon) if c["Id"] not in before]
    assert len(kept) == 1
    step = inspect(daemon, kept[0])
    remove(daemon, kept[0])
    # The image's other fields merge in, as Docker merges them; NONE turns the probe off.
    assert step["Config"]["Healthcheck"]["Test"] == ["NONE"] and "Health" not in step["State"]
