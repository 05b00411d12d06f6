"""A create body's mounts read as Docker reads them: Binds, Mounts, Tmpfs and Config.Volumes as
mount points, and Docker's refusals, in its words."""

from __future__ import annotations

import pytest

from services.common import errors
from services.supervisor.spec import mount_specs


def test_binds_of_a_host_path_and_of_a_volume():
    bind = mount_specs.bind("/srv/data:/data:ro,rshared")
    assert {k: bind[k] for k in ("Type", "Source", "Destination", "Mode", "RW", "Propagation")} == \
        {"Type": "bind", "Source": "/srv/data", "Destination": "/data", "Mode": "ro,rshared", "RW": False,
         "Propagation": "rshared"}
    assert mount_specs.bind("/srv:/x")["Propagation"] == "rprivate" and mount_specs.bind("/srv:/x")["RW"]
    volume = mount_specs.bind("cache:/var/cache:nocopy")
    assert (volume["Type"], volume["Name"], volume["Driver"], volume["Mode"], volume["Propagation"]) == \
        ("volume", "cache", "local", "nocopy", "")
    assert volume["Spec"]["VolumeOptions"] == {"NoCopy": True}
    assert mount_specs.bind("cache:/c")["Mode"] == "z"   # as Docker marks a local volume
    anonymous = mount_specs.bind("/only/a/destination")
    assert (anonymous["Type"], anonymous["Name"]) == ("volume", None)
    assert mount_specs.bind("cache:/c", "other")["Driver"] == "other"


@pytest.mark.parametrize("raw, words", [
    ("/src:/dst:bogus", "invalid mode: bogus"),
    ("/src:/dst:ro,rw", "invalid mode: ro,rw"),
    ("/src:rw", "invalid volume specification: '/src:rw'"),
    ("a:b:c:d", "invalid volume specification"),
    (":/x", "invalid volume specification"),
    ("/src:relative", "mount path must be absolute"),
    ("/src:/", "destination can't be '/'"),
    ("vol:/x:rslave", "field BindOptions must not be specified"),
    ("/src:/x:nocopy", "field VolumeOptions must not be specified"),
    ("bad/name:/x", "invalid characters for a local volume name"),
])
def test_bad_binds(raw, words):
    with pytest.raises(errors.BadParameter) as exc:
        mount_specs.bind(raw)
    assert words in exc.value.message


@pytest.mark.parametrize("mount, words", [
    ({"Type": "bind", "Target": "/x"}, 'invalid mount config for type "bind": field Source must not be empty'),
    ({"Type": "bind", "Source": "rel", "Target": "/x"}, "mount path must be absolute"),
    ({"Type": "bind", "Source": "/s", "Target": "/x", "BindOptions": {"Propagation": "sideways"}},
     "invalid propagation mode: sideways"),
    ({"Type": "bind", "Source": "/s", "Target": "/x",
      "BindOptions": {"ReadOnlyNonRecursive": True, "ReadOnlyForceRecursive": True}}, "mount options conflict"),
    ({"Type": "volume", "Target": "/x", "ReadOnly": True}, "must not set ReadOnly mode when using anonymous"),
    ({"Type": "volume", "Target": "/x", "VolumeOptions": {"Subpath": "a"}}, "must not set Subpath"),
    ({"Type": "volume", "Source": "v", "Target": "/x", "VolumeOptions": {"Subpath": "a/../../b"}},
     "subpath must be a relative path within the volume"),
    ({"Type": "volume", "Source": "v", "Target": "/x", "VolumeOptions": {"Subpath": "/abs"}},
     "subpath must be a relative path within the volume"),
    ({"Type": "tmpfs", "Source": "x", "Target": "/x"}, "field Source must not be specified"),
    ({"Type": "tmpfs", "Target": "/x", "BindOptions": {}}, "field BindOptions must not be specified"),
    ({"Type": "npipe", "Source": "x", "Target": "/x"}, "mount type unknown"),
    ({"Type": "bind", "Source": "/s", "Target": ""}, "field Target must not be empty"),
])
def test_bad_mounts(mount, words):
    with pytest.raises(errors.BadParameter) as exc:
        mount_specs.check_mount(mount)
    assert words in exc.value.message


def test_tmpfs_options_merge_as_dockers():
    merged = mount_specs.merged_tmpfs_options(mount_specs.TMPFS_DEFAULTS + "rw,exec,size=3m,size=4m".split(","))
    assert merged == ["nosuid", "nodev", "rprivate", "rw", "exec", "size=4m"]
    assert mount_specs.merged_tmpfs_options(["noexec", "defaults", ""]) == ["noexec"]
    with pytest.raises(errors.BadParameter, match="Invalid tmpfs option 'bogus=1'"):
        mount_specs.merged_tmpfs_options(["bogus=1"])
    with pytest.raises(errors.BadParameter, match="Invalid tmpfs option 'notaflag'"):
        mount_specs.merged_tmpfs_options(["notaflag"])


def test_tmpfs_options_of_a_mount():
    assert mount_specs.tmpfs_data({"SizeBytes": 3 << 20, "Mode": 0o1770}, True) == ["ro", "mode=1770", "size=3m"]
    assert mount_specs.tmpfs_data({"SizeBytes": 1000}, False) == ["size=1000"]
    assert mount_specs.tmpfs_data({"SizeBytes": 2 << 30}, False) == ["size=2g"]
    assert mount_specs.tmpfs_data(None, False) == []


def test_points_one_per_destination():
    host = {"Binds": ["/a:/one"], "Mounts": [{"Type": "tmpfs", "Target": "/two"}]}
    inherited = [{"Type": "volume", "Name": "v", "Source": "/v", "Destination": "/one", "RW": True}]
    points = mount_specs.points({"Volumes": {"/one": {}, "/three": {}, "/two": {}}}, host, inherited)
    assert [(p["Destination"], p["Type"]) for p in points] == [("/one", "bind"), ("/two", "tmpfs"),
                                                                ("/three", "volume")]
    for host in ({"Binds": ["/a:/x", "/b:/x/"]}, {"Binds": ["/a:/x"], "Mounts": [{"Type": "tmpfs", "Target": "/x"}]},
                 {"Binds": ["/a:/x"], "Tmpfs": {"/x": ""}}):
        with pytest.raises(errors.BadParameter, match="Duplicate mount point: /x"):
            mount_specs.points({}, host)
    # An anonymous volume where a tmpfs is: the tmpfs wins, as in Docker.
    assert mount_specs.points({"Volumes": {"/t": {}}}, {"Tmpfs": {"/t": ""}}) == []


@pytest.mark.parametrize("path, local", [("a", True), ("a/b/..", True), ("./a", True), ("", False), ("..", False),
                                         ("a/../..", False), ("/a", False)])
def test_local_paths_as_go_reads_them(path, local):
    assert mount_specs.local_path(path) is local


MOUNTINFO = """\
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
40 27 0:50 / /srv/shared rw,relatime shared:7 - tmpfs t rw
41 27 0:51 / /srv/slave rw,relatime master:7 - tmpfs t rw
42 27 0:52 / /srv/with\\040space rw,relatime shared:9 - tmpfs t rw
"""


def test_shared_and_slave_propagation_are_warned_of_as_the_host_gives_them():
    def warned(raw: str) -> str:
        found = mount_specs.warnings([mount_specs.bind(raw)], MOUNTINFO)
        return found[0] if found else ""
    assert "propagation is one way" in warned("/srv/shared/dir:/m:rshared")
    assert "not a shared mount" in warned("/srv/slave:/m:rshared") and "mounted on /srv/slave" in warned(
        "/srv/slave:/m:rshared")
    assert "not a shared or slave mount" in warned("/home/x:/m:rslave") and "mounted on /" in warned(
        "/home/x:/m:rslave")
    assert warned("/srv/slave/x:/m:rslave") == warned("/srv/shared:/m:slave") == ""
    assert warned("/srv/with space/x:/m:rshared").startswith("/m: rshared")
    assert warned("/home/x:/m") == warned("vol:/m") == ""
