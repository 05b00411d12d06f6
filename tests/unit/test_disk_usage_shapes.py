"""GET /system/df's shapes (moby's types.DiskUsage) and the volume usage the supervisor answers."""

from __future__ import annotations

import pytest

from services.api import versions
from services.api.shapes import disk_usage as df
from services.common import errors
from services.supervisor.disk_usage import volume_usage

V145, V141 = versions.resolve("1.45"), versions.resolve("1.41")


def _record(cid: str, image: str) -> dict:
    return {"Id": cid, "Name": "/c", "Image": image, "Config": {"Image": "busybox", "Cmd": ["true"]},
            "Path": "true", "Args": [], "Created": "2024-01-01T00:00:00Z", "HostConfig": {"NetworkMode": "bridge"},
            "NetworkSettings": {"Ports": {}, "Networks": {}}, "Mounts": [],
            "State": {"Status": "created", "Running": False, "Paused": False, "ExitCode": 0,
                      "StartedAt": "0001-01-01T00:00:00Z", "FinishedAt": "0001-01-01T00:00:00Z"}}


def test_parts_follow_type_from_api_1_42_only():
    everything = {"Images", "Containers", "Volumes", "BuildCache"}
    assert df.parts([], V145) == everything
    assert df.parts(["volume"], V141) == everything
    assert df.parts(["volume", "build-cache"], V145) == {"Volumes", "BuildCache"}
    with pytest.raises(errors.BadParameter, match="unknown object type: network"):
        df.parts(["image", "network"], V145)


def test_parts_not_asked_for_are_null_and_layers_size_zero():
    out = df.disk_usage({"Volumes": [{"Name": "v", "Driver": "local", "Mountpoint": "/m", "CreatedAt": "",
                                      "Scope": "local", "Options": {}, "Labels": {},
                                      "UsageData": {"Size": 5, "RefCount": 2}}]}, V145)
    assert out["LayersSize"] == 0 and out["Images"] is None and out["Containers"] is None
    assert out["BuildCache"] is None
    assert out["Volumes"][0]["UsageData"] == {"Size": 5, "RefCount": 2}


def test_container_sizes_on_top_of_their_image():
    records = [_record("a" * 64, "sha256:img"), _record("b" * 64, "sha256:img")]
    rows = df.containers(records, {"a" * 64: 100}, {"sha256:img": 1000}, V145)
    assert (rows[0]["SizeRw"], rows[0]["SizeRootFs"]) == (100, 1100)
    assert (rows[1]["SizeRw"], rows[1]["SizeRootFs"]) == (-1, 1000)   # not measured


def test_a_size_of_zero_is_left_out_as_moby_s_omitempty_does():
    records = [_record("a" * 64, "sha256:img"), _record("b" * 64, "sha256:none")]
    rows = df.with_sizes([{}, {}], records, {"a" * 64: 0, "b" * 64: 0}, df.image_sizes([{"id": "sha256:img",
                                                                                         "size": 1000}]))
    assert rows == [{"SizeRootFs": 1000}, {}]


def test_build_cache_parents_by_version_and_builder_size_before_1_42():
    cache = [{"id": "x", "parent": "p", "description": "d", "in_use": False, "size": 7, "created": "c",
              "last_used": "l", "usage_count": 1}]
    assert df.disk_usage({"BuildCache": cache}, V145)["BuildCache"][0]["Parents"] == ["p"]
    old = df.disk_usage({"BuildCache": cache}, V141)
    assert old["BuildCache"][0]["Parent"] == "p" and old["BuilderSize"] == 7


def test_volume_usage_only_local_volumes_without_options_counted():
    vols = [{"Name": "a", "Driver": "local", "Mountpoint": "/a", "Options": {}},
            {"Name": "t", "Driver": "local", "Mountpoint": "/t", "Options": {"type": "tmpfs"}}]
    out = volume_usage(vols, {"a": ["c1", "c2"]}, lambda path: 42)
    assert out == [{**vols[0], "UsageData": {"Size": 42, "RefCount": 2}}]
