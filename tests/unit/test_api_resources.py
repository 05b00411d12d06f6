"""services.api.resources.adapt: what a create's HostConfig or an update's body keeps of the
resource settings at the request's API version (dockerd's router)."""

from __future__ import annotations

from services.api import resources, versions


def adapted(body: dict, version: str, update: bool = False) -> dict:
    body = dict(body)
    resources.adapt(body, versions.resolve(version), update=update)
    return body


def test_kernel_memory_goes_from_1_42_and_kernel_tcp_comes_at_1_40():
    body = {"KernelMemory": 64 << 20, "KernelMemoryTCP": 1 << 20}
    assert adapted(body, "1.45") == {"KernelMemoryTCP": 1 << 20}
    assert adapted(body, "1.41") == body
    assert adapted(body, "1.39") == {"KernelMemory": 64 << 20}


def test_pids_limit_of_none():
    assert adapted({"PidsLimit": -1}, "1.45") == {"PidsLimit": None}         # create: null
    assert adapted({"PidsLimit": 0}, "1.45", update=True) == {"PidsLimit": 0}   # update: none from now on
    assert adapted({"PidsLimit": -5}, "1.45", update=True) == {"PidsLimit": 0}
    assert adapted({"PidsLimit": 10}, "1.39", update=True) == {}               # an update before 1.40: ignored
    assert adapted({"PidsLimit": 10}, "1.39") == {"PidsLimit": 10}


def test_a_value_of_the_wrong_type_is_left_for_the_refusal():
    assert adapted({"KernelMemory": "lots", "PidsLimit": True}, "1.45") == {"KernelMemory": "lots", "PidsLimit": True}
    resources.adapt(None, versions.resolve("1.45"))   # no HostConfig: nothing to do
