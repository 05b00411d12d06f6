"""GET /containers/{id}/logs as Docker serves it: since/until, tail, timestamps, details, a
frame an entry, follow delivering each line as it is written; with docker-py, raw HTTP and
the docker CLI."""

from __future__ import annotations

import fcntl
import os
import subprocess
from datetime import datetime, timezone

import docker
import pytest

from ..polling import until
from .logs import Echo, cli, cli_env, frames

WORDS = ["one", "two", "three", "four", "five"]


@pytest.fixture(scope="module")
def written(client):
    """A container that wrote five lines, each at a time of its own, with labels and env
    its log options name (json-file labels/env), and those times."""
    echo = Echo(client, labels={"tier": "db", "other": "x"}, environment={"APP_MODE": "prod a&b"},
                log_config={"type": "json-file", "config": {"labels": "tier", "env": "APP_MODE"}})
    for word in WORDS:
        echo.say(word)
    stamped = echo.ctr.logs(timestamps=True).decode().splitlines()
    times = [line.split(" ", 1)[0] for line in stamped]
    assert [line.split(" ", 1)[1] for line in stamped] == WORDS
    yield echo, times
    echo.close()


def ns(stamp: str) -> str:
    """An entry's RFC 3339 time as "seconds.nanoseconds", as the docker CLI sends a time."""
    whole, fraction = stamp.rstrip("Z").split(".")
    seconds = int(datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc).timestamp())
    return f"{seconds}.{fraction.ljust(9, '0')}"


def body(daemon, cid: str, query: str) -> bytes:
    r = daemon.get(f"/v1.45/containers/{cid}/logs?stdout=1&stderr=1&{query}")
    assert r.status == 200, r.body
    return b"".join(payload for _, payload in frames(r.body))


def test_timestamps_are_rfc3339_with_nanoseconds(written):
    _, times = written
    for stamp in times:
        assert len(stamp) == 30 and stamp[10] == "T" and stamp.endswith("Z"), stamp
    assert times == sorted(times) and len(set(times)) == 5


def test_since_and_until_to_the_nanosecond(daemon, written):
    echo, times = written
    cid = echo.ctr.id
    assert body(daemon, cid, f"since={ns(times[2])}") == b"three\nfour\nfive\n"   # at `since`: kept
    assert body(daemon, cid, f"until={ns(times[1])}") == b"one\ntwo\n"            # at `until`: kept
    assert body(daemon, cid, f"since={ns(times[1])}&until={ns(times[3])}") == b"two\nthree\nfour\n"
    assert body(daemon, cid, "until=0") == b"one\ntwo\nthree\nfour\nfive\n"       # 0: no until
    # Whole seconds and RFC 3339 are taken as well.
    assert body(daemon, cid, "since=1") == b"one\ntwo\nthree\nfour\nfive\n"
    assert body(daemon, cid, f"since={times[4]}") == b"five\n"
    # docker-py sends numbers: floats, and ints.
    assert echo.ctr.logs(since=float(ns(times[0])) - 1) == b"one\ntwo\nthree\nfour\nfive\n"
    assert echo.ctr.logs(until=int(float(ns(times[0]))) - 1) == b""


def test_tail(written):
    echo, _ = written
    assert echo.ctr.logs(tail=2) == b"four\nfive\n"
    assert echo.ctr.logs(tail=0) == b""
    assert echo.ctr.logs(tail="all") == b"one\ntwo\nthree\nfour\nfive\n"
    assert echo.ctr.logs(tail=99) == b"one\ntwo\nthree\nfour\nfive\n"


def test_tail_that_is_not_a_number_is_all_as_dockerd_reads_it(daemon, written):
    echo, times = written
    assert body(daemon, echo.ctr.id, "tail=lots") == b"one\ntwo\nthree\nfour\nfive\n"
    assert body(daemon, echo.ctr.id, "tail=-3") == b"one\ntwo\nthree\nfour\nfive\n"
    # Tail first, then since, as Docker applies them.
    assert body(daemon, echo.ctr.id, f"tail=2&since={ns(times[0])}") == b"four\nfive\n"


def test_details_put_the_logs_attributes_first(daemon, written):
    echo, times = written
    got = body(daemon, echo.ctr.id, "details=1&tail=2")
    assert got == b"APP_MODE=prod+a%26b,tier=db four\nAPP_MODE=prod+a%26b,tier=db five\n"
    stamped = body(daemon, echo.ctr.id, "details=1&timestamps=1&tail=1")
    assert stamped == f"{times[4]} APP_MODE=prod+a%26b,tier=db five\n".encode()


def test_each_entry_is_a_frame_of_its_own(daemon, written):
    echo, _ = written
    r = daemon.get(f"/v1.45/containers/{echo.ctr.id}/logs?stdout=1")
    assert r.headers["Content-Type"] == "application/vnd.docker.multiplexed-stream"
    assert frames(r.body) == [(1, word.encode() + b"\n") for word in WORDS]


def test_the_v1_0_path_answers_raw(daemon, written):
    echo, _ = written
    r = daemon.get(f"/containers/{echo.ctr.id}/logs?stdout=1&tail=1")
    assert r.status == 200 and r.body == b"five\n"


def test_bad_parameters_are_400s(daemon, written):
    echo, _ = written
    cid = echo.ctr.id
    r = daemon.get(f"/v1.45/containers/{cid}/logs?stdout=1&since=yesterday")
    assert r.status == 400 and 'invalid value for \\"since\\"' in r.body.decode(), r.body
    r = daemon.get(f"/v1.45/containers/{cid}/logs?stdout=1&until=1.x")
    assert r.status == 400 and "until" in r.json()["message"]
    r = daemon.get(f"/v1.45/containers/{cid}/logs")
    assert r.status == 400 and r.json()["message"] == "must specify at least one of 'stdout' or 'stderr'"
    assert daemon.get("/v1.45/containers/nosuchcontainer/logs?stdout=1").status == 404


def test_stdout_and_stderr_apart(client):
    ctr = client.containers.run("busybox", ["sh", "-c", "echo out; echo err >&2; echo out2"], detach=True)
    ctr.wait()
    assert ctr.logs(stdout=True, stderr=False) == b"out\nout2\n"
    assert ctr.logs(stdout=False, stderr=True) == b"err\n"
    ctr.remove()


def test_run_streams_each_line_as_a_chunk_of_its_own(client):
    """docker-py's test_run_with_streamed_logs: containers.run(stream=True) follows the log
    and yields what each frame holds."""
    out = client.containers.run("busybox", 'sh -c "echo hello && echo world"', stream=True, remove=True)
    assert list(out) == [b"hello\n", b"world\n"]


def test_follow_delivers_each_line_before_the_next_is_written(client):
    echo = Echo(client)
    try:
        echo.say("before")
        stream = echo.ctr.logs(stream=True, follow=True, tail=0)
        for word in WORDS:
            echo.send(word)   # the container writes it now; the next only once it came back
            assert next(stream) == word.encode() + b"\n"
        echo.ctr.kill()
        assert list(stream) == []   # the container's end ends the follow
    finally:
        echo.close()


def test_follow_with_since_and_timestamps(client):
    echo = Echo(client)
    try:
        echo.say("old")
        old = echo.ctr.logs(timestamps=True).split(b" ", 1)[0].decode()
        stream = echo.ctr.logs(stream=True, follow=True, since=float(ns(old)) + 1e-6, timestamps=True)
        echo.send("new")
        line = next(stream)
        assert line.endswith(b" new\n") and line[:4].isdigit()
        stream.close()
    finally:
        echo.close()


def test_a_cancelled_follow_ends(client):
    echo = Echo(client)
    try:
        echo.say("x")
        stream = echo.ctr.logs(stream=True, follow=True)
        assert next(stream) == b"x\n"
        stream.close()   # from the client's side, as docker-py's CancellableStream does
        echo.say("after")   # the container and its log go on
    finally:
        echo.close()


def test_docker_cli_logs(daemon, client, tmp_path):
    echo = Echo(client)
    try:
        for word in WORDS:
            echo.say(word)
        cid = echo.ctr.id
        out = cli(daemon, tmp_path, "logs", "--tail", "2", cid)
        assert out.returncode == 0 and out.stdout == b"four\nfive\n", out
        stamped = cli(daemon, tmp_path, "logs", "--timestamps", cid).stdout.decode().splitlines()
        times = [line.split(" ", 1)[0] for line in stamped]
        out = cli(daemon, tmp_path, "logs", "--since", times[3], cid)
        assert out.stdout == b"four\nfive\n", out
        out = cli(daemon, tmp_path, "logs", "--until", times[1], cid)
        assert out.stdout == b"one\ntwo\n", out
        assert cli(daemon, tmp_path, "logs", "--since", "1h", cid).stdout == b"one\ntwo\nthree\nfour\nfive\n"
        follower = subprocess.Popen(["docker", "logs", "-f", "--tail", "1", cid], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, env=cli_env(daemon, tmp_path))
        try:
            fcntl.fcntl(follower.stdout, fcntl.F_SETFL, os.O_NONBLOCK)
            seen = bytearray()

            def shown(text: bytes) -> bool:
                seen.extend(follower.stdout.read() or b"")
                return text in seen
            until(lambda: shown(b"five\n"), 20, "docker logs -f to show the last line")
            echo.send("six")
            until(lambda: shown(b"six\n"), 20, "docker logs -f to show a line written after it began")
            assert bytes(seen) == b"five\nsix\n"
        finally:
            follower.kill()
            follower.wait()
    finally:
        echo.close()


def test_logs_of_a_tty_container_are_raw(daemon, client):
    ctr = client.containers.run("busybox", ["echo", "in a tty"], tty=True, detach=True)
    ctr.wait()
    r = daemon.get(f"/v1.45/containers/{ctr.id}/logs?stdout=1")
    assert r.headers["Content-Type"] == "application/vnd.docker.raw-stream"
    assert r.body == b"in a tty\r\n"
    ctr.remove()


def test_logs_of_a_removed_container_are_404(client):
    ctr = client.containers.run("busybox", "true", detach=True)
    ctr.wait()
    ctr.remove()
    with pytest.raises(docker.errors.NotFound):
        ctr.logs()
