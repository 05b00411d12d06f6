"""The check of an image config's JSON types (services.common.store.image_config), the store
refusing a wrong one, and the readers that never fail on a record stored before the check."""

from __future__ import annotations

import copy
import json
import os
from types import SimpleNamespace

import pytest

from services.api.shapes import legacy, modern
from services.common import errors, layout
from services.common.store import Store, image_config

DIFF = "sha256:" + "ab" * 32


def docker_config() -> dict:
    """A config as Docker writes one, every field it defines set."""
    run = {
        "Hostname": "", "Domainname": "", "User": "app", "AttachStdin": False, "AttachStdout": False,
        "AttachStderr": False, "ExposedPorts": {"80/tcp": {}}, "Tty": False, "OpenStdin": False,
        "StdinOnce": False, "Env": ["PATH=/usr/bin:/bin", "EMPTY=", "JUST_KEY"], "Cmd": ["sh"],
        "Healthcheck": {"Test": ["CMD", "true"], "Interval": 30_000_000_000, "Timeout": 1, "StartPeriod": 0,
                        "StartInterval": 0, "Retries": 3},
        "ArgsEscaped": True, "Image": "sha256:" + "cd" * 32, "Volumes": {"/data": {}}, "WorkingDir": "/srv",
        "Entrypoint": ["/entry"], "NetworkDisabled": False, "MacAddress": "", "OnBuild": ["RUN true"],
        "Labels": {"a": "1"}, "StopSignal": "SIGQUIT", "StopTimeout": 5, "Shell": ["/bin/sh", "-c"],
        "Memory": 0, "MemorySwap": 0, "CpuShares": 0,
    }
    return {
        "architecture": "amd64", "os": "linux", "variant": "v8", "os.version": "", "os.features": ["x"],
        "created": "2024-05-01T10:11:12.123456789Z", "author": "me", "comment": "", "docker_version": "24.0.7",
        "container": "c" * 64, "parent": "", "config": run, "container_config": copy.deepcopy(run),
        "rootfs": {"type": "layers", "diff_ids": [DIFF]},
        "history": [{"created": "2024-05-01T10:11:12Z", "created_by": "/bin/sh -c #(nop) ADD x /",
                     "author": "me", "comment": "c"},
                    {"created": "2024-05-01T10:11:13+02:00", "created_by": "CMD", "empty_layer": True}],
        "unknown": {"kept": [1, "any"]},
    }


def message(config) -> str:
    with pytest.raises(errors.BadParameter) as info:
        image_config.check(config)
    return info.value.message


# ------------------------------------------------------------------ good

def test_docker_and_dockyard_configs_pass():
    image_config.check(docker_config())
    imported = image_config.imported(DIFF, "-", None, "amd64")
    image_config.check(imported)
    image_config.check(image_config.child("sha256:" + "ef" * 32, imported, DIFF, "echo hi"))
    image_config.check(image_config.child("sha256:" + "ef" * 32, imported, None, "/bin/sh -c #(nop) CMD x"))


def test_minimal_config_and_null_everywhere_pass():
    image_config.check({"rootfs": {"type": "layers", "diff_ids": []}})
    image_config.check({"rootfs": {"type": "layers"}})
    config = docker_config()
    for key in ("architecture", "os", "variant", "os.version", "os.features", "created", "author", "comment",
                "docker_version", "container", "parent", "container_config", "history"):
        config[key] = None
    for key in list(config["config"]):
        config["config"][key] = None
    config["rootfs"]["diff_ids"] = None
    image_config.check(config)
    image_config.check({**docker_config(), "config": None})


def test_strslice_and_null_items_read_as_docker_reads_them():
    config = docker_config()
    config["config"].update(Cmd="echo hi", Entrypoint=None, Shell="/bin/sh", OnBuild=[None],
                            Labels={"a": None}, Volumes={"/v": None})
    image_config.check(config)
    run = image_config.run_config(config, "img")
    assert run["Cmd"] == ["echo hi"] and run["Shell"] == ["/bin/sh"] and run["Entrypoint"] is None
    assert run["OnBuild"] == [""] and run["Labels"] == {"a": ""} and run["Volumes"] == {"/v": {}}


# ------------------------------------------------------------------- bad

def with_run(**fields) -> dict:
    config = docker_config()
    config["config"].update(fields)
    return config


WRONG = [
    # the whole thing, and the top level's strings and times
    ([], "it must be a JSON object"),
    ("x", "it must be a JSON object"),
    ({**docker_config(), "architecture": 1}, "architecture must be a string"),
    ({**docker_config(), "os": ["linux"]}, "os must be a string"),
    ({**docker_config(), "variant": False}, "variant must be a string"),
    ({**docker_config(), "os.version": 10}, "os.version must be a string"),
    ({**docker_config(), "author": {}}, "author must be a string"),
    ({**docker_config(), "comment": 1}, "comment must be a string"),
    ({**docker_config(), "docker_version": 24}, "docker_version must be a string"),
    ({**docker_config(), "container": 1}, "container must be a string"),
    ({**docker_config(), "parent": 1}, "parent must be a string"),
    ({**docker_config(), "created": 1700000000}, "created must be a string"),
    ({**docker_config(), "created": "yesterday"}, "created must be an RFC 3339 time"),
    ({**docker_config(), "os.features": "sse4"}, "os.features must be a list of strings"),
    ({**docker_config(), "os.features": [1]}, "os.features must be a list of strings"),
    # the run configs
    ({**docker_config(), "config": "x"}, "config must be an object"),
    ({**docker_config(), "config": []}, "config must be an object"),
    ({**docker_config(), "container_config": "x"}, "container_config must be an object"),
    (with_run(User=0), "config.User must be a string"),
    (with_run(WorkingDir=["/"]), "config.WorkingDir must be a string"),
    (with_run(StopSignal=9), "config.StopSignal must be a string"),
    (with_run(Hostname=1), "config.Hostname must be a string"),
    (with_run(Domainname=1), "config.Domainname must be a string"),
    (with_run(Image=1), "config.Image must be a string"),
    (with_run(MacAddress=1), "config.MacAddress must be a string"),
    (with_run(Env=[1]), "config.Env must be a list of strings"),
    (with_run(Env="A=1"), "config.Env must be a list of strings"),
    (with_run(Env=["=x"]), "config.Env[0] must be KEY=value"),
    (with_run(Env=["A=1", ""]), "config.Env[1] must be KEY=value"),
    (with_run(OnBuild="RUN x"), "config.OnBuild must be a list of strings"),
    (with_run(Shell=[1]), "config.Shell must be a string or a list of strings"),
    (with_run(Cmd=1), "config.Cmd must be a string or a list of strings"),
    (with_run(Cmd=["sh", 1]), "config.Cmd must be a string or a list of strings"),
    (with_run(Entrypoint={"a": 1}), "config.Entrypoint must be a string or a list of strings"),
    (with_run(ExposedPorts=["80/tcp"]), "config.ExposedPorts must be an object of objects"),
    (with_run(ExposedPorts={"80/tcp": "yes"}), "config.ExposedPorts must be an object of objects"),
    (with_run(Volumes={"/data": 1}), "config.Volumes must be an object of objects"),
    (with_run(Labels="x"), "config.Labels must be an object of strings"),
    (with_run(Labels={"a": 1}), "config.Labels must be an object of strings"),
    (with_run(Healthcheck="x"), "config.Healthcheck must be an object"),
    (with_run(Healthcheck={"Test": "CMD true"}), "config.Healthcheck.Test must be a list of strings"),
    (with_run(Healthcheck={"Interval": "30s"}), "config.Healthcheck.Interval must be an integer"),
    (with_run(Healthcheck={"Timeout": 1.5}), "config.Healthcheck.Timeout must be an integer"),
    (with_run(Healthcheck={"StartPeriod": True}), "config.Healthcheck.StartPeriod must be an integer"),
    (with_run(Healthcheck={"StartInterval": "1"}), "config.Healthcheck.StartInterval must be an integer"),
    (with_run(Healthcheck={"Retries": 1 << 63}), "config.Healthcheck.Retries must be an integer"),
    (with_run(StopTimeout="5"), "config.StopTimeout must be an integer"),
    (with_run(Memory=1.0), "config.Memory must be an integer"),
    (with_run(MemorySwap="1"), "config.MemorySwap must be an integer"),
    (with_run(CpuShares=False), "config.CpuShares must be an integer"),
    (with_run(Tty="true"), "config.Tty must be true or false"),
    (with_run(OpenStdin=1), "config.OpenStdin must be true or false"),
    (with_run(StdinOnce=0), "config.StdinOnce must be true or false"),
    (with_run(AttachStdin=1), "config.AttachStdin must be true or false"),
    (with_run(AttachStdout="x"), "config.AttachStdout must be true or false"),
    (with_run(AttachStderr=[]), "config.AttachStderr must be true or false"),
    (with_run(ArgsEscaped="yes"), "config.ArgsEscaped must be true or false"),
    (with_run(NetworkDisabled=1), "config.NetworkDisabled must be true or false"),
    ({**docker_config(), "container_config": {"Env": [1]}}, "container_config.Env must be a list of strings"),
    # rootfs
    ({k: v for k, v in docker_config().items() if k != "rootfs"}, "rootfs must be an object"),
    ({**docker_config(), "rootfs": "x"}, "rootfs must be an object"),
    ({**docker_config(), "rootfs": {"diff_ids": []}}, 'rootfs.type must be "layers"'),
    ({**docker_config(), "rootfs": {"type": "layer", "diff_ids": []}}, 'rootfs.type must be "layers"'),
    ({**docker_config(), "rootfs": {"type": "layers", "diff_ids": "x"}}, "rootfs.diff_ids must be a list"),
    ({**docker_config(), "rootfs": {"type": "layers", "diff_ids": [DIFF[:-1]]}}, "rootfs.diff_ids must be a list"),
    ({**docker_config(), "rootfs": {"type": "layers", "diff_ids": ["sha512:" + "a" * 64]}},
     "rootfs.diff_ids must be a list"),
    ({**docker_config(), "rootfs": {"type": "layers", "diff_ids": [DIFF.upper()]}},
     "rootfs.diff_ids must be a list"),
    # history
    ({**docker_config(), "history": {}}, "history must be a list of objects"),
    ({**docker_config(), "history": ["x"]}, "history[0] must be an object"),
    ({**docker_config(), "history": [{}, {"created": 1}]}, "history[1].created must be a string"),
    ({**docker_config(), "history": [{"created": "not a time"}]}, "history[0].created must be an RFC 3339 time"),
    ({**docker_config(), "history": [{"author": 1}]}, "history[0].author must be a string"),
    ({**docker_config(), "history": [{"created_by": ["sh"]}]}, "history[0].created_by must be a string"),
    ({**docker_config(), "history": [{"comment": {}}]}, "history[0].comment must be a string"),
    ({**docker_config(), "history": [{"empty_layer": "true"}]}, "history[0].empty_layer must be true or false"),
]


@pytest.mark.parametrize("config, field", WRONG, ids=[f"{i}:{field}" for i, (_, field) in enumerate(WRONG)])
def test_wrong_types_are_refused_naming_the_field(config, field):
    text = message(config)
    assert text.startswith("invalid image config: ") and field in text, text


def test_parse_refuses_what_is_not_json():
    for data in (b"{", b"\xff\xfe", b'{"rootfs": {"type": "layers"}, "x": NaN}', b"[" * 100_000):
        with pytest.raises(errors.BadParameter, match="invalid image config"):
            image_config.parse(data)
    assert image_config.parse(json.dumps(docker_config()).encode()) == docker_config()


# -------------------------------------------------------------- readers

def bad_stored() -> dict:
    return {"architecture": 1, "created": 5, "comment": ["x"], "config": "x", "container_config": {"Env": [1],
            "User": "u"}, "rootfs": {"type": "layers", "diff_ids": "x"},
            "history": [{"created": 5, "created_by": "sh", "empty_layer": "no"}, "x"]}


def test_sanitized_drops_wrong_fields_and_keeps_the_rest():
    assert image_config.sanitized("x") == {} and image_config.sanitized([1]) == {}
    clean = image_config.sanitized(bad_stored())
    assert clean == {"container_config": {"User": "u"}, "rootfs": {"type": "layers"}}
    clean = image_config.sanitized({**bad_stored(), "history": [{"created": 5, "created_by": "sh"}, None]})
    assert clean["history"] == [{"created_by": "sh"}, {}]
    assert image_config.sanitized(docker_config()) == docker_config()


def test_run_config_names_the_field_of_the_image():
    with pytest.raises(errors.BadParameter, match=r"image 0123 has an invalid config: config.Env must be"):
        image_config.run_config(with_run(Env=[1]), "0123")
    with pytest.raises(errors.BadParameter, match=r"config.Labels must be an object of strings"):
        image_config.run_config(with_run(Labels="x"), "0123")
    with pytest.raises(errors.BadParameter, match=r"image 0123 has an invalid config: config must be an object"):
        image_config.run_config({"config": "x"}, "0123")
    with pytest.raises(errors.BadParameter, match=r"not a JSON object"):
        image_config.run_config(None, "0123")
    # Only what create reads counts: a wrong history does not stop a container.
    assert image_config.run_config({**docker_config(), "history": {}}, "0123") == docker_config()["config"]
    assert image_config.run_config({"rootfs": {"type": "layers"}}, "0123") == {}


def test_child_of_a_bad_parent_is_a_good_config():
    child = image_config.child("sha256:" + "ef" * 32, bad_stored(), DIFF, "echo hi")
    image_config.check(child)
    assert child["rootfs"]["diff_ids"] == [DIFF] and len(child["history"]) == 1


@pytest.mark.parametrize("raw", [bad_stored(), {"config": "x"}, "x", [], {"rootfs": "x", "history": "x"}])
def test_shapes_never_raise_on_a_stored_config(raw):
    api = SimpleNamespace(at_least=lambda version: False)
    image = {"id": "sha256:" + "12" * 32, "parent": "", "created": 5, "size": 0, "refs": ["a:b"], "digests": [],
             "config": raw, "labels": "x", "last_tag_time": None}
    out = modern.image_inspect(image, api)
    assert out["RootFS"]["Layers"] == [] and out["Config"] is None and out["Architecture"] == ""
    assert modern.image_list([image], True, api)[0]["Labels"] == {}
    assert modern.image_list([image], True, api)[0]["Created"] == 0
    assert legacy.image_inspect(image, api)["config"]["Hostname"] == ""
    assert legacy.image_list([image], True, api)[0]["Created"] == 0
    entry = {"id": "<missing>", "created": None, "created_by": "", "size": 0, "comment": "", "tags": []}
    assert modern.image_history([entry])[0]["Created"] == 0 and legacy.image_history([entry])[0]["Created"] == 0


# ---------------------------------------------------------------- store

@pytest.fixture
def store(tmp_path):
    root = str(tmp_path / "data")
    layout.prepare_data_root(root)
    s = Store(root, "registry")
    yield s
    s.close()


def stored_files(store: Store) -> list[str]:
    out = []
    for sub in ("blobs/sha256", "layers", "tmp/registry"):
        out += [f"{sub}/{n}" for n in os.listdir(os.path.join(store.data_root, sub))]
    return sorted(out)


def test_store_refuses_a_bad_config_and_writes_nothing(store):
    before = stored_files(store)
    for config in ({"rootfs": {"type": "layers", "diff_ids": []}, "config": "x"},
                   {"rootfs": {"type": "layers", "diff_ids": []}, "history": {}}, []):
        with pytest.raises(errors.BadParameter, match="invalid image config"):
            store.create_image(json.dumps(config).encode(), [])
    with pytest.raises(errors.BadParameter, match="invalid image config"):
        store.create_image(b"not json", [])
    assert stored_files(store) == before and store.image_count() == 0
    good = json.dumps({"rootfs": {"type": "layers", "diff_ids": []}, "config": {"Cmd": "sh"}}).encode()
    image_id = store.create_image(good, [])
    assert store.config(image_id) == {"rootfs": {"type": "layers", "diff_ids": []}, "config": {"Cmd": ["sh"]}}


def put_raw(store: Store, image_id: str, config: bytes, created="2024-01-01T00:00:00Z") -> None:
    """A record as an older version, or a crash, may have left it: no check on the way in."""
    store.conn.execute("INSERT INTO images(id, parent, created, size, config) VALUES(?,?,?,?,?)",
                       (image_id, None, created, 0, config))
    store.conn.execute("INSERT INTO refs(ref, image_id, tagged) VALUES(?,?,?)",
                       (f"docker.io/library/bad{image_id[-1]}:latest", image_id, "2024-01-01T00:00:00Z"))


def test_store_reads_a_bad_stored_record_without_failing(store):
    good_config = image_config.imported(DIFF, "-", None, "amd64") | {
        "rootfs": {"type": "layers", "diff_ids": []}, "history": [{"created": "2024-01-01T00:00:00Z"}]}
    good = store.create_image(json.dumps(good_config).encode(), [])
    bad = "sha256:" + "1" * 64
    put_raw(store, bad, json.dumps(bad_stored()).encode())
    put_raw(store, "sha256:" + "2" * 64, b"not json at all", created=7)
    put_raw(store, "sha256:" + "3" * 64, b'"a string"')
    rows = store.list(True)
    assert {r["id"] for r in rows} >= {good, bad} and len(rows) == 4
    for row in rows:
        assert isinstance(row["config"], dict) and isinstance(row["created"], str)
    assert store.record(bad)["config"]["rootfs"] == {"type": "layers"}
    assert store.history(bad) == []   # its history holds a string: read as absent
    half = "sha256:" + "5" * 64
    put_raw(store, half, json.dumps({"history": [{"created": 5, "created_by": "sh", "empty_layer": "no"}]})
            .encode())
    assert [(e["created"], e["created_by"]) for e in store.history(half)] == [("", "sh")]
    assert store.history("sha256:" + "2" * 64) == []
    for image_id, field in ((bad, "config must be an object"), ("sha256:" + "2" * 64, "it is not a JSON object"),
                            ("sha256:" + "3" * 64, "it is not a JSON object")):
        with pytest.raises(errors.BadParameter, match=f"image {image_id[7:19]} has an invalid config: {field}"):
            store.config(image_id)
    env_bad = "sha256:" + "4" * 64
    put_raw(store, env_bad, json.dumps({"config": {"Env": [1], "Labels": "x"}}).encode())
    with pytest.raises(errors.BadParameter, match="config.Env must be a list of strings"):
        store.config(env_bad)
    assert store.record(env_bad)["config"] == {"config": {}}
