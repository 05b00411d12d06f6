"""docker top and docker stats: the cgroup readers on trees of files (v1, v2), ps's output
filtered by the cgroup's pids, and the api's sequence of samples (stream, one-shot)."""

from __future__ import annotations

import asyncio
import os

import pytest

from services.api import usage as api_usage
from services.common import errors
from services.kernel.cgroups import V1, V2
from services.kernel.cgroups import usage as readers
from services.supervisor import usage as sup_usage

PATH = "dockyard/abc"


def _files(root, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as fh:
            fh.write(text)


@pytest.fixture
def v1(tmp_path):
    d = lambda c, n: f"{c}/{PATH}/{n}"   # noqa: E731
    _files(tmp_path, {
        d("cpuacct", "cpuacct.usage"): "23000000\n",
        d("cpuacct", "cpuacct.stat"): f"user {readers.CLK_TCK}\nsystem {readers.CLK_TCK * 2}\n",
        d("cpuacct", "cpuacct.usage_percpu"): "20000000 3000000 \n",
        d("cpu", "cpu.stat"): "nr_periods 10\nnr_throttled 2\nthrottled_time 5000\n",
        d("memory", "memory.usage_in_bytes"): "540672\n",
        d("memory", "memory.limit_in_bytes"): "9223372036854771712\n",
        d("memory", "memory.max_usage_in_bytes"): "1000000\n",
        d("memory", "memory.failcnt"): "0\n",
        d("memory", "memory.stat"): "cache 4096\nrss 536576\ntotal_cache 4096\n",
        d("pids", "pids.current"): "3\n",
        d("pids", "pids.max"): "max\n",
        d("blkio", "blkio.io_service_bytes_recursive"): "",
        d("blkio", "blkio.throttle.io_service_bytes"): "8:0 Read 4096\n8:0 Write 8192\n8:0 Total 12288\nTotal 12288\n",
        d("blkio", "blkio.throttle.io_serviced"): "8:0 Read 1\n8:0 Write 2\nTotal 3\n",
    })
    return V1(PATH, root=str(tmp_path))


@pytest.fixture
def v2(tmp_path):
    d = lambda n: f"{PATH}/{n}"   # noqa: E731
    _files(tmp_path, {
        "cgroup.controllers": "cpu memory pids io\n",
        d("cpu.stat"): "usage_usec 23000\nuser_usec 13000\nsystem_usec 10000\nnr_periods 4\n"
                       "nr_throttled 1\nthrottled_usec 7\n",
        d("memory.current"): "540672\n",
        d("memory.max"): "max\n",
        d("memory.stat"): "anon 500000\nfile 40672\ninactive_file 4096\n",
        d("pids.current"): "2\n",
        d("pids.max"): "100\n",
        d("io.stat"): "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n",
    })
    return V2(PATH, root=str(tmp_path))


def test_v1_readers(v1):
    cpu = readers.cpu_stats(v1, 9_000, 2)
    assert cpu == {"cpu_usage": {"total_usage": 23_000_000, "usage_in_kernelmode": 2_000_000_000,
                                 "usage_in_usermode": 1_000_000_000, "percpu_usage": [20_000_000, 3_000_000]},
                   "system_cpu_usage": 9_000, "online_cpus": 2,
                   "throttling_data": {"periods": 10, "throttled_periods": 2, "throttled_time": 5000}}
    mem = readers.memory_stats(v1, 4_000_000_000)
    assert mem == {"usage": 540672, "max_usage": 1_000_000, "failcnt": 0, "limit": 4_000_000_000,
                   "stats": {"cache": 4096, "rss": 536576, "total_cache": 4096}}
    assert readers.pids_stats(v1) == {"current": 3}
    blkio = readers.blkio_stats(v1)
    assert blkio["io_service_bytes_recursive"] == [
        {"major": 8, "minor": 0, "op": "Read", "value": 4096}, {"major": 8, "minor": 0, "op": "Write", "value": 8192},
        {"major": 8, "minor": 0, "op": "Total", "value": 12288}]
    assert [e["value"] for e in blkio["io_serviced_recursive"]] == [1, 2]
    assert blkio["io_queue_recursive"] is None and set(blkio) == set(readers.BLKIO_KEYS)


def test_v2_readers(v2):
    cpu = readers.cpu_stats(v2, 9_000, 4)
    assert cpu["cpu_usage"] == {"total_usage": 23_000_000, "usage_in_kernelmode": 10_000_000,
                                "usage_in_usermode": 13_000_000}
    assert cpu["throttling_data"] == {"periods": 4, "throttled_periods": 1, "throttled_time": 7000}
    mem = readers.memory_stats(v2, 4_000_000_000)
    assert mem == {"usage": 540672, "limit": 4_000_000_000,
                   "stats": {"anon": 500000, "file": 40672, "inactive_file": 4096}}
    assert readers.pids_stats(v2) == {"current": 2, "limit": 100}
    blkio = readers.blkio_stats(v2)
    assert blkio["io_service_bytes_recursive"] == [
        {"major": 8, "minor": 0, "op": "read", "value": 4096}, {"major": 8, "minor": 0, "op": "write", "value": 8192}]
    assert blkio["io_serviced_recursive"][1]["value"] == 2 and blkio["sectors_recursive"] is None


def test_a_cgroup_gone_reads_zeros(tmp_path):
    cg = V2("dockyard/gone", root=str(tmp_path))
    assert readers.memory_stats(cg, 100)["usage"] == 0
    assert readers.cpu_stats(cg, 0, 1)["cpu_usage"]["total_usage"] == 0
    assert readers.blkio_stats(cg)["io_service_bytes_recursive"] is None


def test_v2_memory_limit_set_is_kept(v2, tmp_path):
    _files(tmp_path, {f"{PATH}/memory.max": "67108864\n"})
    assert readers.memory_stats(v2, 4_000_000_000)["limit"] == 67108864


def test_system_cpu_usage_sums_seven_fields_in_ns():
    text = "cpu  100 1 50 1000 10 0 5 7 0 0\ncpu0 50 0 25 500 5 0 2 0 0 0\nintr 1\n"
    assert readers.system_cpu_usage(text) == 1166 * 1_000_000_000 // readers.CLK_TCK


def test_networks_skip_lo():
    text = ("Inter-|   Receive                                                |  Transmit\n"
            " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo"
            " colls carrier compressed\n"
            "    lo:     100       1    0    0    0     0          0         0      100       1    0    0    0"
            "     0       0          0\n"
            "  eth0:    5338      36    1    2    0     0          0         0      648       8    3    4    0"
            "     0       0          0\n")
    assert readers.networks(text) == {"eth0": {"rx_bytes": 5338, "rx_packets": 36, "rx_errors": 1, "rx_dropped": 2,
                                               "tx_bytes": 648, "tx_packets": 8, "tx_errors": 3, "tx_dropped": 4}}


PS_EF = """UID          PID    PPID  C STIME TTY          TIME CMD
root           1       0  0 Dec01 ?        00:02:31 /sbin/init
root        4242    4240  0 03:46 ?        00:00:00 sleep 300
root        4250    4242  0 03:46 pts/0    00:00:00 sh -c echo  two  spaces
"""


def test_parse_ps_keeps_the_cgroups_rows_and_the_commands_spaces():
    titles, processes = sup_usage.parse_ps(PS_EF, [4242, 4250, 9999])
    assert titles == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    assert processes == [["root", "4242", "4240", "0", "03:46", "?", "00:00:00", "sleep 300"],
                         ["root", "4250", "4242", "0", "03:46", "pts/0", "00:00:00", "sh -c echo two spaces"]]


def test_parse_ps_without_a_pid_column():
    with pytest.raises(errors.ServerError, match="Couldn't find PID field"):
        sup_usage.parse_ps("UID CMD\nroot sleep\n", [1])


def test_run_ps_on_this_host():
    pid = os.getpid()
    titles, processes = sup_usage.parse_ps(sup_usage.run_ps("aux", [pid]), [pid])
    assert "PID" in titles and [row[titles.index("PID")] for row in processes] == [str(pid)]
    with pytest.raises(errors.BadParameter, match="^ps: "):
        sup_usage.run_ps("-zzz", [pid])


def test_zero_stats_of_a_stopped_container():
    z = sup_usage.zero_stats({"Id": "abc", "Name": "/web"})
    assert z["name"] == "/web" and z["id"] == "abc" and z["read"] == "0001-01-01T00:00:00Z"
    assert z["cpu_stats"]["cpu_usage"]["total_usage"] == 0 and "networks" not in z


# ------------------------------------------------------------- the api's samples

def _sampler(n_running: int):
    """container.stats replies: n_running samples (read "t0", "t1"...), then the zeros object."""
    calls = []

    async def take():
        i = len(calls)
        calls.append(i)
        if i >= n_running:
            return {"running": False, "stats": {"read": "zero", "cpu_stats": {}, "precpu_stats": {}}}
        return {"running": True, "stats": {"read": f"t{i}", "preread": "Z", "cpu_stats": {"n": i},
                                           "precpu_stats": {"n": None}}}
    return take, calls


async def _no_sleep(_):
    pass


def _run(take, stream, one_shot):
    async def go():
        return [s async for s in api_usage.samples(take, stream, one_shot, sleep=_no_sleep)]
    return asyncio.run(go())


def test_one_shot_sends_the_first_sample_with_zero_precpu():
    take, calls = _sampler(5)
    assert _run(take, False, True) == [{"read": "t0", "preread": "Z", "cpu_stats": {"n": 0},
                                        "precpu_stats": {"n": None}}]
    assert len(calls) == 1


def test_no_stream_sends_the_second_sample_with_the_first_as_precpu():
    take, calls = _sampler(5)
    assert _run(take, False, False) == [{"read": "t1", "preread": "t0", "cpu_stats": {"n": 1},
                                         "precpu_stats": {"n": 0}}]
    assert len(calls) == 2


def test_stream_sends_each_sample_until_the_container_stops():
    take, _ = _sampler(3)
    out = _run(take, True, False)
    assert [o["read"] for o in out] == ["t0", "t1", "t2", "zero"]
    assert [o["precpu_stats"] for o in out[:3]] == [{"n": None}, {"n": 0}, {"n": 1}]


def test_a_stopped_container_gets_the_zeros_object_once():
    for stream, one_shot in ((True, False), (False, False), (False, True)):
        take, calls = _sampler(0)
        assert [o["read"] for o in _run(take, stream, one_shot)] == ["zero"] and len(calls) == 1


# ------------------------------------------------------------- the api's routes

class _Supervisor:
    """container.top/container.stats with canned replies, checked against the wire schema."""

    def __init__(self, running: int = 3):
        self.calls: list[tuple[str, dict]] = []
        self.running = running

    async def call(self, name, params=None, **kw):
        from services.common import wire
        wire.check(wire.method(name).params, params, name)
        self.calls.append((name, params))
        if name == "container.top":
            if params["id"] == "stopped":
                raise errors.Conflict("Container stopped is not running")
            return {"titles": ["PID", "CMD"], "processes": [["7", "sleep 300"]]}
        i = sum(1 for n, _ in self.calls if n == "container.stats") - 1
        if i >= self.running:
            return {"running": False, "stats": sup_usage.zero_stats({"Id": "c", "Name": "/web"})}
        return {"running": True, "stats": {"read": f"t{i}", "preread": "Z", "cpu_stats": {"n": i},
                                           "precpu_stats": {}, "name": "/web", "id": "c"}}

    def close(self):
        pass


def _with_api(tmp_path, monkeypatch, body, supervisor):
    from aiohttp.test_utils import TestClient, TestServer

    from services.api.app import make_app
    from services.common.config import Settings
    monkeypatch.setattr(api_usage, "INTERVAL", 0.0)

    async def main():
        async with TestClient(TestServer(make_app(Settings(exec_root=str(tmp_path)), supervisor))) as client:
            await body(client)
    asyncio.run(main())


def test_top_route(tmp_path, monkeypatch):
    sup = _Supervisor()

    async def body(client):
        resp = await client.get("/v1.45/containers/web/top?ps_args=aux")
        assert resp.status == 200 and await resp.json() == {"Titles": ["PID", "CMD"], "Processes": [["7", "sleep 300"]]}
        resp = await client.get("/containers/web/top")
        assert resp.status == 200
        resp = await client.get("/containers/stopped/top")
        assert resp.status == 409 and "is not running" in (await resp.json())["message"]
    _with_api(tmp_path, monkeypatch, body, sup)
    assert [p["ps_args"] for n, p in sup.calls if n == "container.top"] == ["aux", "-ef", "-ef"]
    # Docker's `top` event, for each top that answered.
    assert [(p["type"], p["action"], p["actor"]) for n, p in sup.calls if n == "event.record"] == [
        ("container", "top", "web")] * 2


def test_stats_route_params(tmp_path, monkeypatch):
    async def body(client):
        resp = await client.get("/containers/web/stats?stream=false&one-shot=true")
        assert resp.status == 200 and (await resp.json())["read"] == "t0"
        resp = await client.get("/containers/web/stats?stream=0")
        got = await resp.json()
        assert got["read"] == "t2" and got["preread"] == "t1" and got["precpu_stats"] == {"n": 1}
        resp = await client.get("/containers/web/stats?stream=true&one-shot=true")
        assert resp.status == 400
    _with_api(tmp_path, monkeypatch, body, _Supervisor(running=10))


def test_stats_route_streams_json_lines_until_the_container_stops(tmp_path, monkeypatch):
    async def body(client):
        resp = await client.get("/containers/web/stats")
        assert resp.status == 200 and resp.headers["Content-Type"] == "application/json"
        lines = (await resp.read()).decode().splitlines()
        import json
        reads = [json.loads(line)["read"] for line in lines]
        assert reads == ["t0", "t1", "t2", "0001-01-01T00:00:00Z"]
    _with_api(tmp_path, monkeypatch, body, _Supervisor(running=3))
