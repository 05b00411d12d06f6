"""The messages outside the RPC transport (start channel, exit record, zygote, annotations) and the typed container record."""

from __future__ import annotations

import json
import sys

import pytest

from services.common import errors, wire
from services.common.wire import schema

from .test_wire import CID, NOW, created_container, exited_container

# ------------------------------------------------------------- start channel

# The lines a shim writes on its start channel, as launch.become and Shim._tell_starter do.
STARTED_LINE = b'{"pid": 889913, "started_at": "%s", "shim_pid": 889911}\n' % NOW.encode()
FAILED_LINE = b'{"error": "exec: \\"nosuch\\": executable file not found in $PATH", "exit_code": 127}\n'
EXIT_LINE = b'{"exit_code": 137, "finished_at": "%s", "oom_killed": true, "error": ""}\n' % NOW.encode()


def test_start_reports_encode_as_one_json_line_and_decode_back():
    for line in (STARTED_LINE, FAILED_LINE):
        report = wire.decode_report(line)
        assert wire.encode_report(report) == line
        assert wire.decode_report(line.decode()) == report   # a str line reads the same
    assert wire.decode_report(STARTED_LINE) == {"pid": 889913, "started_at": NOW, "shim_pid": 889911}
    assert wire.decode_report(FAILED_LINE)["exit_code"] == 127


@pytest.mark.parametrize("line, message", [
    (b"", "closed before a line came"),
    (b"not json\n", "not a JSON line"),
    (b"\xff\xfe\n", "not a JSON line"),
    (b"[1, 2]\n", "expected a map"),
    (b'{"pid": 1, "started_at": "x"}\n', "missing key 'shim_pid'"),
    (b'{"pid": "1", "started_at": "x", "shim_pid": 2}\n', "pid: expected int"),
    (b'{"pid": 1, "started_at": "x", "shim_pid": 2, "extra": 0}\n', "unexpected key 'extra'"),
    (b'{"error": "no", "exit_code": 1, "pid": 2}\n', "unexpected key 'pid'"),
    (b'{"error": "no"}\n', "missing key 'exit_code'"),
    (b'{"error": "no", "exit_code": true}\n', "exit_code: expected int"),
    (EXIT_LINE, "unexpected key"),   # an exit record is not a start report
])
def test_bad_start_reports_are_refused(line, message):
    with pytest.raises(errors.BadParameter, match=message):
        wire.decode_report(line)


def test_a_start_report_of_a_wrong_shape_is_not_sent():
    for bad in ({"pid": 1, "started_at": NOW}, {"pid": 1.5, "started_at": NOW, "shim_pid": 2},
                {"error": "no", "exit_code": "127"}, {}):
        with pytest.raises(errors.BadParameter):
            wire.encode_report(bad)


def test_exit_records_encode_and_decode():
    record = wire.decode_exit(EXIT_LINE)
    assert record == {"exit_code": 137, "finished_at": NOW, "oom_killed": True, "error": ""}
    assert wire.encode_exit(record) == EXIT_LINE
    assert wire.exit_record(137, NOW, True) == record
    wire.check(wire.EXIT, wire.exit_record(0, NOW, 0, ""), "exit")   # a falsy int becomes False
    for bad in (b"", b"{}", STARTED_LINE, EXIT_LINE.replace(b"true", b'"yes"'),
                EXIT_LINE.replace(b"137", b"137.5"), b'{"exit_code": 0, "finished_at": "x", "error": ""}'):
        with pytest.raises(errors.BadParameter):
            wire.decode_exit(bad)
    with pytest.raises(errors.BadParameter, match="missing key 'error'"):
        wire.encode_exit({"exit_code": 0, "finished_at": NOW, "oom_killed": False})


def test_after_the_report_come_the_serving_notice_and_the_exit_record():
    assert wire.encode_serving() == b'{"serving": true}\n'
    assert wire.decode_notice(wire.encode_serving()) == {"serving": True}
    assert wire.decode_notice(EXIT_LINE) == wire.decode_exit(EXIT_LINE)
    for bad in (b"", b'{"serving": 1}\n', b'{"serving": true, "pid": 1}\n', STARTED_LINE, FAILED_LINE):
        with pytest.raises(errors.BadParameter):
            wire.decode_notice(bad)


def test_the_exit_file_is_written_and_read_through_the_schema(tmp_path):
    from services.common import container_files
    path = str(tmp_path / "exit.json")
    record = wire.exit_record(3, NOW, False, "")
    container_files.write_exit(path, record)
    assert json.loads(open(path).read()) == record
    assert container_files.read_exit(path) == record
    with open(path, "w") as fh:
        fh.write('{"exit_code": "3"}')
    assert container_files.read_exit(path) is None   # not an exit record: as if none was written
    assert container_files.read_exit(str(tmp_path / "none.json")) is None


def test_the_shim_launcher_loads_no_transport():
    """The shim reads the schema before its container runs; msgpack and ZeroMQ come later."""
    import subprocess
    code = ("import sys, services.shim.launch, services.shim.zygote; "
            "print(sorted(m for m in ('zmq', 'msgpack', 'asyncio', 'services.common.wire.client') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_serving_shim_module_brings_its_transport():
    """What the zygote loads once for every shim (services.shim.shim) holds the transport: a
    shim loading ZeroMQ and msgpack itself, after its container started, made a container's
    exit wait 30 ms for the shim's loop."""
    import subprocess
    code = ("import sys, services.shim.shim; "
            "print(sorted(m for m in ('zmq', 'msgpack', 'asyncio', 'services.common.wire.server') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['asyncio', 'msgpack', 'services.common.wire.server', 'zmq']"


# ----------------------------------------------------------------- the zygote

def test_zygote_requests():
    line = wire.encode_zygote_request(CID)
    assert line == b'{"id": "%s"}\n' % CID.encode()
    assert wire.decode_zygote_request(line) == CID
    for bad in (b"", b"{}\n", b'{"id": 5}\n', b'{"id": "x", "more": 1}\n', b"garbage\n", b'"x"\n'):
        with pytest.raises(errors.BadParameter):
            wire.decode_zygote_request(bad)
    with pytest.raises(errors.BadParameter):
        wire.encode_zygote_request(None)
    assert wire.ZYGOTE_READY == "ready"


# -------------------------------------------------------------- annotations

def test_annotation_keys_are_declared_once():
    keys = [wire.ANNOTATION_LOWERDIR, wire.ANNOTATION_UPPERDIR, wire.ANNOTATION_WORKDIR,
            wire.ANNOTATION_LOG_PATH, wire.ANNOTATION_OPEN_STDIN, wire.ANNOTATION_STDIN_ONCE,
            wire.ANNOTATION_USER, wire.ANNOTATION_RUNTIME]
    assert len(set(keys)) == 8 and all(k.startswith("org.dockyard.") for k in keys)
    # the ports, the log's settings, GroupAdd, the volumes to fill and the shared /dev/shm: optional
    optional = {wire.ANNOTATION_PORTS, schema.ANNOTATION_LOG, schema.ANNOTATION_GROUP_ADD, schema.ANNOTATION_COPY_UP,
                schema.ANNOTATION_SHM_OF}
    assert set(wire.ANNOTATIONS) == set(keys) | optional
    assert all(k.startswith(schema.ANNOTATION_PREFIX) for k in wire.ANNOTATIONS)
    notes = {k: "x" for k in keys} | {wire.ANNOTATION_OPEN_STDIN: wire.ANNOTATION_TRUE,
                                        wire.ANNOTATION_STDIN_ONCE: wire.ANNOTATION_FALSE}
    wire.check(wire.ANNOTATIONS, notes, "annotations")
    with pytest.raises(errors.BadParameter, match="missing key 'org.dockyard.log-path'"):
        wire.check(wire.ANNOTATIONS, {k: v for k, v in notes.items() if k != wire.ANNOTATION_LOG_PATH}, "a")
    with pytest.raises(errors.BadParameter, match="open-stdin: expected str"):
        wire.check(wire.ANNOTATIONS, {**notes, wire.ANNOTATION_OPEN_STDIN: True}, "a")


# ------------------------------------------------------- the container record

def test_a_record_as_create_makes_it_fits():
    wire.check(wire.CONTAINER, created_container(), "container")
    wire.check(wire.CONTAINER, exited_container(), "container")


def test_a_record_of_a_wrong_shape_does_not_fit():
    rec = created_container()
    rec["State"]["Pid"] = "889913"
    with pytest.raises(errors.BadParameter, match=r"State\.Pid: expected int, got str"):
        wire.check(wire.CONTAINER, rec, "container")
    rec = created_container()
    rec["State"]["Pid"] = True
    with pytest.raises(errors.BadParameter, match=r"State\.Pid: expected int, got bool"):
        wire.check(wire.CONTAINER, rec, "container")
    rec = created_container()
    del rec["Dockyard"]["cgroup"]
    with pytest.raises(errors.BadParameter, match="missing key 'cgroup'"):
        wire.check(wire.CONTAINER, rec, "container")
    rec = created_container()
    rec["Dockyard"]["exits"] = "1"
    with pytest.raises(errors.BadParameter, match=r"Dockyard\.exits: expected int"):
        wire.check(wire.CONTAINER, rec, "container")
    rec = created_container()
    rec["NetworkSettings"] = ["bridge"]
    with pytest.raises(errors.BadParameter, match="NetworkSettings: expected"):
        wire.check(wire.CONTAINER, rec, "container")
    rec = created_container()
    rec["Networks"] = {}
    with pytest.raises(errors.BadParameter, match="unexpected key 'Networks'"):
        wire.check(wire.CONTAINER, rec, "container")
    rec = created_container()
    rec["HostConfig"] = {1: "x"}
    with pytest.raises(errors.BadParameter, match="HostConfig: expected string keys"):
        wire.check(wire.CONTAINER, rec, "container")


def test_inspect_and_list_carry_the_typed_record():
    assert wire.method("container.inspect").reply is wire.CONTAINER
    assert wire.method("container.list").reply == {"containers": [wire.CONTAINER]}
    rec = created_container()
    rec["State"]["Pid"] = "1"
    with pytest.raises(errors.BadParameter, match=r"reply\.containers\[1\]\.State\.Pid"):
        wire.check(wire.method("container.list").reply, {"containers": [exited_container(), rec]},
                   "container.list reply")
