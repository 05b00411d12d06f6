"""Log drivers (HostConfig.LogConfig): json-file rotation by max-size and max-file (logs read
across the files; a follow goes on across rotations), gzipped rotated files, the local
driver, the none driver (nothing kept, logs a 501, attach still works), Docker's 400s at
create, and the daemon's default driver; the shim keeps rotating while every service is
down."""

from __future__ import annotations

import gzip
import os

import docker
import pytest

from services.common import jsonlog
from services.common.sockets import SERVICES

from ..polling import until
from .containers import ensure_busybox
from .logs import Echo, cli

PAD = "x" * 100   # each logged line is about 180 bytes: a 1k file holds five or six


def files_of(directory: str, prefix: str) -> dict[str, list[bytes]]:
    """The log's files in `directory` (named `prefix`...), each with its lines (gunzipped)."""
    out = {}
    for name in sorted(os.listdir(directory)):
        if name.startswith(prefix) and not name.endswith(".tmp"):
            full = os.path.join(directory, name)
            data = gzip.open(full).read() if name.endswith(".gz") else open(full, "rb").read()
            out[name] = [line for _, line, _, _ in jsonlog.parse(data)]
    return out


def in_order(files: dict[str, list[bytes]], prefix: str) -> list[bytes]:
    """Their lines oldest first: the highest rotation number first, the written file last."""
    def age(name: str) -> int:
        rest = name[len(prefix):].lstrip(".").removesuffix(".gz")
        return int(rest) if rest else 0
    return [line for name in sorted(files, key=age, reverse=True) for line in files[name]]


def numbers(upto: int) -> list[bytes]:
    return [b"%d\n" % n for n in range(1, upto + 1)]


def test_rotation_keeps_the_newest_files_and_logs_read_across_them(daemon, client):
    ctr = client.containers.run("busybox", ["seq", "1", "300"], detach=True,
                                log_config={"type": "json-file", "config": {"max-size": "1k", "max-file": "3"}})
    ctr.wait()
    ctr.reload()
    directory, name = os.path.split(ctr.attrs["LogPath"])
    files = files_of(directory, name)
    assert sorted(files) == [name, name + ".1", name + ".2"]
    for each in files:
        assert os.path.getsize(os.path.join(directory, each)) < 1000 + 80   # full, then one more entry at most
    kept = in_order(files, name)
    assert kept == numbers(300)[-len(kept):] and 20 < len(kept) < 60
    assert ctr.logs() == b"".join(kept)
    assert ctr.logs(tail=len(kept) - 1) == b"".join(kept[1:])
    assert ctr.logs(tail=3) == b"298\n299\n300\n"
    assert ctr.attrs["HostConfig"]["LogConfig"] == {"Type": "json-file", "Config": {"max-size": "1k", "max-file": "3"}}
    ctr.remove()


def test_rotated_files_are_gzipped_when_asked(client):
    ctr = client.containers.run("busybox", ["seq", "1", "300"], detach=True, log_config={
        "type": "json-file", "config": {"max-size": "1k", "max-file": "3", "compress": "true"}})
    ctr.wait()
    ctr.reload()
    directory, name = os.path.split(ctr.attrs["LogPath"])
    until(lambda: sorted(files_of(directory, name)) == [name, name + ".1.gz", name + ".2.gz"], 10,
          "the rotated files to be gzipped")
    kept = in_order(files_of(directory, name), name)
    assert kept == numbers(300)[-len(kept):]
    assert ctr.logs() == b"".join(kept)
    ctr.remove()


def test_a_follow_goes_on_across_rotations(client):
    echo = Echo(client, log_config={"type": "json-file", "config": {"max-size": "1k", "max-file": "2"}})
    try:
        stream = echo.ctr.logs(stream=True, follow=True, tail=0)
        for n in range(30):   # five rotations or so
            line = f"{n:03d}-{PAD}"
            echo.send(line)
            assert next(stream) == line.encode() + b"\n"
        echo.ctr.reload()
        directory, name = os.path.split(echo.ctr.attrs["LogPath"])
        assert sorted(files_of(directory, name)) == [name, name + ".1"]
        stream.close()
    finally:
        echo.close()


def test_the_local_driver(client):
    ctr = client.containers.run("busybox", ["seq", "1", "300"], detach=True,
                                log_config={"type": "local", "config": {"max-size": "1k"}})
    ctr.wait()
    ctr.reload()
    assert ctr.attrs["LogPath"] == ""   # as Docker: the local driver's files are its own
    assert ctr.attrs["HostConfig"]["LogConfig"] == {"Type": "local", "Config": {"max-size": "1k"}}
    directory = os.path.join(os.path.dirname(ctr.attrs["HostnamePath"]), "local-logs")
    # local's defaults: five files, the rotated ones gzipped.
    until(lambda: sorted(files_of(directory, "container.log")) ==
          ["container.log"] + [f"container.log.{n}.gz" for n in range(1, 5)], 10, "local's five files")
    kept = in_order(files_of(directory, "container.log"), "container.log")
    assert kept == numbers(300)[-len(kept):]
    assert ctr.logs() == b"".join(kept) and ctr.logs(tail=1) == b"300\n"
    ctr.remove()


def test_the_none_driver_keeps_nothing_and_logs_say_so(daemon, client, tmp_path):
    # docker-py's run reads no logs of a driver other than json-file and journald.
    assert client.containers.run("busybox", "echo hello", log_config={"type": "none"}, remove=True) is None
    ctr = client.containers.run("busybox", ["echo", "hello"], detach=True, log_config={"type": "none"})
    ctr.wait()
    ctr.reload()
    assert ctr.attrs["HostConfig"]["LogConfig"] == {"Type": "none", "Config": {}} and ctr.attrs["LogPath"] == ""
    with pytest.raises(docker.errors.APIError) as exc:
        ctr.logs()
    assert exc.value.status_code == 501
    assert exc.value.explanation == "configured logging driver does not support reading"
    directory = os.path.dirname(ctr.attrs["HostnamePath"])
    assert not [name for name in os.listdir(directory) if "log" in name and name != "shim.log"]
    ctr.remove()
    # Attach still works: docker run attaches before the start and shows all the output.
    out = cli(daemon, tmp_path, "run", "--rm", "--log-driver", "none", "busybox", "sh", "-c", "echo hi; echo err >&2")
    assert out.returncode == 0 and out.stdout == b"hi\n" and out.stderr == b"err\n", out


def test_attach_to_a_running_container_with_the_none_driver(client):
    echo = Echo(client, log_config={"type": "none"})
    try:
        sock = echo.ctr.attach_socket(params={"stdout": 1, "stream": 1})
        sock._sock.settimeout(1)
        data = bytearray()

        def came() -> bool:
            # Sent again until one arrives: as in Docker, the attach's 101 can come before
            # the container's output is subscribed, so a line written at once may precede it.
            echo.send("through")
            data.extend(sock._sock.recv(100))
            return b"through\n" in data
        until(came, 20, "the attached client to get the line")
        sock.close()
    finally:
        echo.close()


@pytest.mark.parametrize("log_config, message", [
    ({"type": "asdf", "config": {}}, "logger: no log driver named 'asdf' is registered"),
    ({"type": "json-file", "config": {"max-sizes": "1k"}}, "unknown log opt 'max-sizes' for json-file log driver"),
    ({"type": "local", "config": {"labels-nope": "x"}}, "unknown log opt 'labels-nope' for log driver local"),
    ({"type": "json-file", "config": {"max-size": "lots"}}, "invalid size: 'lots'"),
    ({"type": "json-file", "config": {"max-size": "1e400"}}, 'strconv.ParseFloat: parsing "1e400": value out of range'),
    ({"type": "local", "config": {"max-size": "1e30"}}, "max-size must not be negative"),
    ({"type": "json-file", "config": {"max-file": "0"}}, "max-file cannot be less than 1"),
    ({"type": "json-file", "config": {"compress": "true"}},
     "compress cannot be true when max-file is less than 2 or max-size is not set"),
])
def test_refused_at_create(client, log_config, message):
    with pytest.raises(docker.errors.APIError) as exc:
        client.containers.create("busybox", "true", log_config=log_config)
    assert exc.value.status_code == 400 and exc.value.explanation == message


@pytest.mark.parametrize("given, kept", [
    (None, {"Type": "json-file", "Config": {}}),
    ({"type": "json-file", "config": {"max-file": "100"}}, {"Type": "json-file", "Config": {"max-file": "100"}}),
    ({"type": "", "config": {"max-file": "100"}}, {"Type": "json-file", "Config": {"max-file": "100"}}),
    ({"type": "json-file", "config": None}, {"Type": "json-file", "Config": {}}),
    ({"type": "none", "config": {"anything": "x"}}, {"Type": "none", "Config": {"anything": "x"}}),
])
def test_log_config_comes_back_in_inspect_as_given(client, given, kept):
    ctr = client.containers.create("busybox", "true", log_config=given)
    assert ctr.attrs["HostConfig"]["LogConfig"] == kept
    ctr.remove()


def test_the_daemons_default_driver_and_a_shim_rotating_while_every_service_is_down(fresh_daemon, tmp_path):
    fresh_daemon.extra_args += ["--log-driver", "local", "--log-opt", "max-size=1k", "--log-opt", "max-file=3"]
    daemon = fresh_daemon.start()
    ensure_busybox(daemon)
    client = docker.DockerClient(base_url=daemon.unix_url, version="1.45")
    try:
        other = client.containers.create("busybox", "true", log_config={"type": "json-file"})
        assert other.attrs["HostConfig"]["LogConfig"] == {"Type": "json-file", "Config": {}}
        assert client.info()["LoggingDriver"] == "local"
        # A container whose lines come through a fifo on the host: no service in their way.
        shared = tmp_path / "shared"
        shared.mkdir()
        os.mkfifo(shared / "lines")
        ctr = client.containers.run("busybox", ["sh", "-c", 'while read -r l; do echo "$l"; done < /shared/lines'],
                                    detach=True, volumes={str(shared): {"bind": "/shared", "mode": "rw"}})
        assert ctr.attrs["HostConfig"]["LogConfig"] == {"Type": "local", "Config": {"max-size": "1k", "max-file": "3"}}
        directory = os.path.join(daemon.data_root, "containers", ctr.id, "local-logs")
        with open(shared / "lines", "w") as fifo:
            sent = []

            def send(count: int) -> None:
                for _ in range(count):
                    sent.append(f"{len(sent):03d}-{PAD}")
                    fifo.write(sent[-1] + "\n")
                fifo.flush()
            send(10)
            until(lambda: ctr.logs().endswith(sent[-1].encode() + b"\n"), 20, "the first lines")
            for service in SERVICES:
                daemon.supervisorctl("stop", service)
            try:
                send(20)   # rotated three times or so by the shim alone
                until(lambda: (in_order(files_of(directory, "container.log"), "container.log") or [b""])[-1]
                      == sent[-1].encode() + b"\n", 20, "the shim to log the lines while the services are down")
            finally:
                for service in SERVICES:
                    daemon.supervisorctl("start", service)
            daemon.wait_ready()
            send(10)
            until(lambda: ctr.logs().endswith(sent[-1].encode() + b"\n"), 20, "the lines after the restart")
        until(lambda: sorted(files_of(directory, "container.log")) ==
              ["container.log", "container.log.1.gz", "container.log.2.gz"], 10, "three files, two gzipped")
        kept = in_order(files_of(directory, "container.log"), "container.log")
        want = [line.encode() + b"\n" for line in sent]
        assert kept == want[-len(kept):] and len(kept) < len(want)
        assert client.containers.get(ctr.id).logs() == b"".join(kept)
        client.containers.get(ctr.id).remove(force=True)
        other.remove()
    finally:
        client.close()
