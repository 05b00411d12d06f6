"""Volumes without a daemon: names and the local driver's options checked in Docker's words,
the list and prune filters, the store's records and directories (made whole, taken out
whole, reconciled at start), mount(8) options as the kernel gets them, and the api's
reading of a create body and of a prune's filters."""

from __future__ import annotations

import json
import os

import pytest

from services.api import volumes as api
from services.common import db, errors
from services.kernel import mounting
from services.kernel.fake import RecordingSyscalls
from services.kernel.syscalls import MNT_DETACH, MS_BIND, MS_NOEXEC, MS_RDONLY, MS_REC, MS_REMOUNT, MS_SHARED
from services.supervisor import volume_store
from services.supervisor.volume_store import ANONYMOUS_LABEL, VolumeStore
from services.supervisor.volumes import matches, prunable

# ------------------------------------------------------------------ names and options


@pytest.mark.parametrize("name", ["ab", "a1", "my-vol_1.2", "9" * 64, "A.b"])
def test_good_names(name):
    volume_store.check_name(name)


@pytest.mark.parametrize("name, words", [
    ("a", "create a: volume name is too short, names should be at least two alphanumeric characters"),
    ("-ab", 'create -ab: "-ab" includes invalid characters for a local volume name, only '
            '"[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed'),
    ("..", "includes invalid characters"),
    (".hidden", "includes invalid characters"),
    ("a/b", "includes invalid characters"),
    ("a/../../etc", "includes invalid characters"),
    ("ab\x00", "includes invalid characters"),
    ("é1", "includes invalid characters"),
    ("v" * 256, "volume name is too long"),
])
def test_bad_names_are_refused(name, words):
    with pytest.raises(errors.BadParameter) as exc:
        volume_store.check_name(name)
    assert words in exc.value.message


@pytest.mark.parametrize("options", [
    None, {}, {"type": "tmpfs", "device": "tmpfs"}, {"type": "tmpfs", "device": "tmpfs", "o": "size=1m"},
    {"type": "none", "device": "/srv", "o": "bind"}, {"size": "0"},
])
def test_options_the_local_driver_takes(options):
    volume_store.check_options("v1", options)


@pytest.mark.parametrize("options, words", [
    ({"colour": "red"}, 'create v1: invalid option: "colour"'),
    ({"type": "tmpfs"}, 'create v1: missing required option: "device"'),
    ({"device": "tmpfs"}, 'create v1: missing required option: "type"'),
    ({"o": "size=1m"}, 'missing required option: "device"'),
    ({"o": "size=1m", "device": "tmpfs"}, 'missing required option: "type"'),
    ({"size": "1g"}, "create v1: quota size requested but no quota support"),
    ({"size": "big"}, "create v1: invalid size: 'big'"),
])
def test_options_the_local_driver_refuses(options, words):
    with pytest.raises(errors.BadParameter) as exc:
        volume_store.check_options("v1", options)
    assert exc.value.message == words if words.startswith("create") else words in exc.value.message


def test_sizes_read_as_go_units_reads_them():
    assert [volume_store.ram_in_bytes(t) for t in ("512", "64k", "1.5MiB", "2 GB", "1t", "0")] == \
        [512, 65536, 1572864, 2 << 30, 1 << 40, 0]
    for bad in ("", "-1", "1x", "1.2.3", "k"):
        with pytest.raises(errors.BadParameter):
            volume_store.ram_in_bytes(bad)


def test_a_driver_other_than_local_is_a_plugin_not_found():
    volume_store.check_driver("v1", None)
    volume_store.check_driver("v1", "local")
    with pytest.raises(errors.NotFound) as exc:
        volume_store.check_driver("v1", "nfs-plugin")
    assert exc.value.message == 'create v1: error looking up volume plugin nfs-plugin: plugin "nfs-plugin" not found'


# ------------------------------------------------------------------ filters


def vol(name: str, labels: dict | None = None, options: dict | None = None, driver: str = "local") -> dict:
    return {"Name": name, "Driver": driver, "Labels": labels or {}, "Options": options or {}}


def test_list_filters():
    refs = {"used": ["c1"]}
    used, idle = vol("used", {"tier": "db"}), vol("idle-one")
    assert matches(used, {}, refs) and matches(used, {"name": None}, refs)
    assert matches(idle, {"name": ["idle"]}, refs) and not matches(used, {"name": ["idle"]}, refs)
    assert matches(idle, {"name": ["^i.*one$"]}, refs) and not matches(idle, {"name": ["^one"]}, refs)
    assert matches(idle, {"name": ["[bad"]}, refs) is False   # a bad regexp matches nothing (as Go's)
    assert matches(used, {"label": ["tier"]}, refs) and matches(used, {"label": ["tier=db"]}, refs)
    assert not matches(used, {"label": ["tier=web"]}, refs) and not matches(idle, {"label": ["tier"]}, refs)
    assert matches(used, {"driver": ["local"]}, refs) and not matches(used, {"driver": ["nfs"]}, refs)
    assert matches(idle, {"dangling": ["true"]}, refs) and not matches(used, {"dangling": ["1"]}, refs)
    assert matches(used, {"dangling": ["false"]}, refs) and not matches(idle, {"dangling": ["0"]}, refs)
    with pytest.raises(errors.BadParameter):
        matches(idle, {"dangling": ["maybe"]}, refs)


def test_prune_takes_unused_anonymous_volumes_unless_all():
    refs = {"busy": ["c1"]}
    anonymous = vol("a" * 64, {ANONYMOUS_LABEL: "", "team": "x"})
    named = vol("named", {"team": "x"})
    busy = vol("busy", {ANONYMOUS_LABEL: ""})
    tmpfs = vol("tmpfs", {ANONYMOUS_LABEL: ""}, {"type": "tmpfs", "device": "tmpfs"})
    assert prunable(anonymous, {}, refs) and not prunable(named, {}, refs)
    assert prunable(named, {"all": ["true"]}, refs) and not prunable(named, {"all": ["false"]}, refs)
    assert not prunable(busy, {"all": ["true"]}, refs)
    assert not prunable(tmpfs, {"all": ["true"]}, refs)   # options: never pruned (as Docker)
    assert prunable(anonymous, {"label": ["team=x"]}, refs) and not prunable(anonymous, {"label": ["team=y"]}, refs)
    assert not prunable(anonymous, {"label_not": ["team"]}, refs)
    assert prunable(named, {"all": ["true"], "label_not": ["team=y"]}, refs)


def test_references_name_every_container_of_a_volume_once():
    recs = [{"Id": "c1", "Mounts": [{"Type": "volume", "Name": "v"}, {"Type": "volume", "Name": "v"}]},
            {"Id": "c2", "Mounts": [{"Type": "bind", "Source": "/x"}, {"Type": "volume", "Name": "v"}]},
            {"Id": "c3", "Mounts": None}]
    assert volume_store.references(recs) == {"v": ["c1", "c2"]}


# ------------------------------------------------------------------ the store


@pytest.fixture
def store(tmp_path):
    for sub in ("volumes", "tmp/supervisor"):
        os.makedirs(tmp_path / sub)
    conn = db.connect(str(tmp_path))
    yield VolumeStore(conn, str(tmp_path), str(tmp_path / "tmp/supervisor"))
    conn.close()


def test_a_volume_is_made_whole_and_answered_again(store, tmp_path):
    made, new = store.ensure("data", labels={"a": "b"}, options={"type": "tmpfs", "device": "tmpfs"})
    assert new and made["Name"] == "data" and made["Labels"] == {"a": "b"} and made["Scope"] == "local"
    assert made["Mountpoint"] == str(tmp_path / "volumes/data/_data") and os.path.isdir(made["Mountpoint"])
    assert made["Options"] == {"type": "tmpfs", "device": "tmpfs"} and made["Driver"] == "local"
    assert os.listdir(tmp_path / "tmp/supervisor") == []   # nothing left in staging
    again, new = store.ensure("data", labels={"other": "x"})
    assert not new and again == made
    anonymous, _ = store.ensure(None)
    assert len(anonymous["Name"]) == 64 and anonymous["Labels"] == {ANONYMOUS_LABEL: ""}
    assert [v["Name"] for v in store.all()] == sorted(["data", anonymous["Name"]])


def test_a_bad_volume_makes_nothing(store, tmp_path):
    for name, kw in (("x", {}), ("ok1", {"options": {"bogus": "1"}}), ("ok2", {"driver": "nfs"})):
        with pytest.raises(errors.DockyardError):
            store.ensure(name, **kw)
    assert os.listdir(tmp_path / "volumes") == [] and store.all() == []
    assert os.listdir(tmp_path / "tmp/supervisor") == []


def test_taking_out_a_volume(store, tmp_path):
    made, _ = store.ensure("data")
    with open(os.path.join(made["Mountpoint"], "f"), "w") as fh:
        fh.write("x")
    doomed = store.take_out("data")
    assert doomed.startswith(str(tmp_path / "tmp/supervisor")) and os.path.exists(os.path.join(doomed, "v/_data/f"))
    assert store.get("data") is None and not os.path.exists(tmp_path / "volumes/data")
    with pytest.raises(errors.NotFound) as exc:
        store.find("data")
    assert exc.value.message == "get data: no such volume"
    # A symlink where a volume's directory should be is removed, never followed.
    store.ensure("linked")
    target = tmp_path / "elsewhere"
    target.mkdir()
    (target / "keep").write_text("keep")
    os.rename(tmp_path / "volumes/linked", tmp_path / "moved")
    os.symlink(target, tmp_path / "volumes/linked")
    assert store.take_out("linked") is None and (target / "keep").exists()


def test_reconcile_finishes_removals_and_takes_stray_directories(store, tmp_path):
    store.ensure("gone")
    os.rename(tmp_path / "volumes/gone", tmp_path / "tmp/supervisor/gone")   # a removal cut short
    store.ensure("used")
    os.rename(tmp_path / "volumes/used", tmp_path / "tmp/supervisor/used")   # taken away by hand
    os.makedirs(tmp_path / "volumes/stray/_data")                           # a create cut short
    os.makedirs(tmp_path / "volumes/-bad/_data")                            # not a volume's name
    os.makedirs(tmp_path / "volumes/nodata")                                # not a volume's directory
    store.reconcile({"used"})
    assert [v["Name"] for v in store.all()] == ["stray", "used"]
    assert os.path.isdir(tmp_path / "volumes/used/_data")                   # a container uses it: made again
    assert store.get("stray")["Labels"] == {} and store.get("stray")["CreatedAt"].endswith("Z")


def test_records_made_before_the_volumes_migration_read_with_docker_s_shape(tmp_path):
    conn = db.connect(str(tmp_path))
    conn.execute("INSERT INTO volumes(name, created) VALUES('old', '2026-01-02T03:04:05.123456789Z')")
    v = VolumeStore(conn, str(tmp_path), str(tmp_path)).get("old")
    assert v["CreatedAt"] == "2026-01-02T03:04:05Z" and v["Options"] == {} and v["Labels"] == {}
    assert json.loads(conn.execute("SELECT labels FROM volumes").fetchone()[0]) == {}
    conn.close()


# ------------------------------------------------------------------ mount(8) options


def test_options_read_into_flags_and_data():
    assert mounting.parse("size=64m,uid=1000") == (0, "size=64m,uid=1000")
    assert mounting.parse("bind,ro") == (MS_BIND | MS_RDONLY, "")
    assert mounting.parse("rbind,rshared") == (MS_BIND | MS_REC | MS_SHARED | MS_REC, "")
    assert mounting.parse("noexec,exec") == (0, "") and mounting.parse("exec,noexec") == (MS_NOEXEC, "")
    assert mounting.parse("") == (0, "") and mounting.parse("defaults") == (0, "")


def test_mounts_made_as_moby_makes_them():
    kernel = RecordingSyscalls()
    mounting.mount("tmpfs", "/v/_data", "tmpfs", "size=2m", kernel)
    mounting.mount("/srv", "/w/_data", "none", "bind,ro", kernel)
    mounting.mount("/srv", "/x/_data", "none", "rbind,rshared", kernel)
    assert [c.args for c in kernel.calls] == [
        ("tmpfs", "/v/_data", "tmpfs", 0, "size=2m"),
        ("/srv", "/w/_data", "none", MS_BIND | MS_RDONLY, None),
        (None, "/w/_data", None, MS_BIND | MS_RDONLY | MS_REMOUNT, None),   # a bind is made read-only after
        ("/srv", "/x/_data", "none", MS_BIND | MS_REC, None),
        (None, "/x/_data", None, MS_SHARED | MS_REC, None),                  # its propagation after
    ]


def test_a_refused_mount_is_said_in_moby_s_words():
    kernel = RecordingSyscalls()
    kernel.fail("mount", FileNotFoundError(2, "mount: No such file or directory"))
    with pytest.raises(mounting.MountError) as exc:
        mounting.mount("/nope", "/v/_data", "none", "bind", kernel)
    assert str(exc.value) == "mount /nope:/v/_data, flags: 0x1000: no such file or directory"
    kernel.fail("umount2", OSError(22, "not mounted"))
    mounting.unmount("/v/_data", kernel)   # nothing mounted there: fine
    kernel.fail("umount2", PermissionError(1, "umount"))
    with pytest.raises(mounting.MountError) as exc:
        mounting.unmount("/v/_data", kernel)
    assert str(exc.value) == f"umount /v/_data, flags: {MNT_DETACH:#x}: operation not permitted"


def test_mount_points_from_mountinfo():
    info = ("22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
            "40 22 0:50 / /data/volumes/a\\040b/_data rw - tmpfs tmpfs rw,size=1024k\n"
            "41 22 0:51 / /data/volumes/ab/_data/sub rw - tmpfs tmpfs rw\n"
            "42 22 0:52 / /data/volumes/abc/_data rw - tmpfs tmpfs rw\n")
    assert mounting.mount_points(info)[1] == "/data/volumes/a b/_data"
    assert mounting.mounted_at_or_below("/data/volumes/a b", info) == ["/data/volumes/a b/_data"]
    assert mounting.mounted_at_or_below("/data/volumes/ab", info) == ["/data/volumes/ab/_data/sub"]
    assert mounting.mounted_at_or_below("/data/volumes/ab/_data/", info) == ["/data/volumes/ab/_data/sub"]


# ------------------------------------------------------------------ the api


def test_create_bodies():
    assert api.create_config(None) == {}
    assert api.create_config({"Name": "v1", "Driver": None, "DriverOpts": {"type": "tmpfs"}, "Other": 1}) == \
        {"Name": "v1", "DriverOpts": {"type": "tmpfs"}}
    for body, words in (([], "must be a JSON object"), ({"Name": 1}, "Name must be a string"),
                        ({"Labels": {"a": 1}}, "Labels must be an object of strings"),
                        ({"DriverOpts": []}, "DriverOpts must be an object of strings")):
        with pytest.raises(errors.BadParameter) as exc:
            api.create_config(body)
        assert words in exc.value.message
    with pytest.raises(errors.Unavailable):
        api.create_config({"ClusterVolumeSpec": {}})


def test_prune_filters_by_version():
    assert api.prune_filters(None, anonymous_only=True) == {}
    assert api.prune_filters(None, anonymous_only=False) == {"all": ["true"]}
    assert api.prune_filters('{"all":["1"],"label!":["a"]}', True) == {"all": ["true"], "label_not": ["a"]}
    assert api.prune_filters('{"all":{"False":true}}', True) == {"all": ["false"]}
    for raw, words in (('{"all":["maybe"]}', "invalid filter 'all': strconv.ParseBool: parsing \"maybe\""),
                       ('{"all":["true","false"]}', "invalid filter 'all=[true false]': only one value"),
                       ('{"dangling":["true"]}', "invalid filter 'dangling'")):
        with pytest.raises(errors.BadParameter) as exc:
            api.prune_filters(raw, True)
        assert words in exc.value.message
    # Before API 1.42 every unused volume is taken: an `all=false` asked for as well is two values.
    with pytest.raises(errors.BadParameter):
        api.prune_filters('{"all":["false"]}', False)
