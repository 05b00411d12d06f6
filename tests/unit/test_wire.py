"""The wire's schema against messages written by hand, as the real callers and services send them.

Each declared method has a hand-written example of its parameters (and of its reply or
its chunks, where it has them), taken from its callers in services/api and
services/supervisor and from the services that answer it. Each example goes through the
framing and must fit the schema; a method without an example fails; and an example
made wrong (a wrong type, a missing key, an unexpected key) must not fit.
"""

from __future__ import annotations

import pytest

from services.common import errors, wire

CID = "3f1c0e5a9b7d4c2e8f6a1b3d5c7e9f0a2b4c6d8e0f1a3b5c7d9e1f2a4b6c8d0e"
IMAGE_ID = "sha256:6d5b3c0c4d1f0e2a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a"
NETWORK_ID = "7e2c4a6b8d0f1e3a5c7b9d1f3e5a7c9b1d3f5e7a9c1b3d5f7e9a1c3b5d7f9e1a"
NETWORK = {"Name": "web", "Id": NETWORK_ID, "Created": "2026-12-02T02:00:00.000000000Z", "Scope": "local",
           "Driver": "bridge", "EnableIPv6": False,
           "IPAM": {"Driver": "default", "Options": {}, "Config": [{"Subnet": "10.214.9.0/24",
                                                                    "Gateway": "10.214.9.1"}]},
           "Internal": False, "Attachable": False, "Ingress": False, "ConfigFrom": {"Network": ""},
           "ConfigOnly": False, "Containers": {CID: {"Name": "api", "EndpointID": NETWORK_ID,
                                                     "MacAddress": "02:42:0a:d6:09:02",
                                                     "IPv4Address": "10.214.9.2/24", "IPv6Address": ""}},
           "Options": {}, "Labels": {"tier": "front"}}
NOW = "2026-12-01T22:24:33.044338773Z"
ZERO = "0001-01-01T00:00:00Z"
AUTH = {"username": "alice", "password": "s3cret", "token": ""}
EXEC_ID = "5b0c9e2d4f6a8b1c3e5d7f9a0b2c4d6e8f1a3b5c7d9e0f2a4b6c8d1e3f5a7b9c"
# POST /containers/{id}/exec's body as the api completes it (docker exec -i sh -c 'ls /').
EXEC_CONFIG = {"Cmd": ["sh", "-c", "ls /"], "Env": [], "WorkingDir": "", "User": "", "Privileged": False,
               "Tty": False, "AttachStdin": True, "AttachStdout": True, "AttachStderr": True, "DetachKeys": "",
               "ConsoleSize": None}


def created_container() -> dict:
    """A container record as the supervisor's create makes it: one anonymous volume, one bind."""
    d = f"/var/lib/dockyard/containers/{CID}"
    return {
        "Id": CID, "Created": NOW, "Path": "sh", "Args": ["-c", "echo hi"],
        "State": {"Status": "created", "Running": False, "Paused": False, "Restarting": False,
                  "OOMKilled": False, "Dead": False, "Pid": 0, "ExitCode": 0, "Error": "",
                  "StartedAt": ZERO, "FinishedAt": ZERO},
        "Image": IMAGE_ID,
        "ResolvConfPath": f"{d}/resolv.conf", "HostnamePath": f"{d}/hostname", "HostsPath": f"{d}/hosts",
        "LogPath": f"{d}/{CID}-json.log",
        "Name": "/quirky_turing", "RestartCount": 0, "Driver": "overlay2", "Platform": "linux",
        "Config": {
            "Hostname": CID[:12], "Domainname": "", "User": "", "AttachStdin": False, "AttachStdout": True,
            "AttachStderr": True, "Tty": False, "OpenStdin": False, "StdinOnce": False,
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["sh", "-c", "echo hi"], "Image": "busybox", "Volumes": {"/data": {}}, "WorkingDir": "",
            "Entrypoint": None, "OnBuild": None, "Labels": {"app": "web"}, "StopSignal": "SIGTERM",
            "PortSpecs": None, "Dns": None, "Memory": 0, "MemorySwap": 0, "CpuShares": 0, "VolumesFrom": "",
        },
        "HostConfig": {
            "Memory": 0, "MemorySwap": 0, "CpuShares": 0, "Binds": ["/srv/www:/www:ro"], "VolumesFrom": None,
            "Dns": [], "NetworkMode": "default", "AutoRemove": False, "Privileged": False, "CapAdd": None,
            "CapDrop": None, "ReadonlyRootfs": False, "SecurityOpt": None, "PidsLimit": None,
            "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
            "LogConfig": {"Type": "json-file", "Config": {}}, "CgroupParent": "", "Devices": [],
            "DeviceCgroupRules": [],
        },
        "Mounts": [
            {"Type": "volume", "Name": "9c1d" * 16, "Source": f"/var/lib/dockyard/volumes/{'9c1d' * 16}/_data",
             "Destination": "/data", "Driver": "local", "Mode": "", "RW": True, "Propagation": ""},
            {"Type": "bind", "Source": "/srv/www", "Destination": "/www", "Mode": "ro", "RW": False,
             "Propagation": "rprivate"},
        ],
        "Dockyard": {"anonymous_volumes": ["9c1d" * 16], "cgroup": f"/dockyard/{CID}", "shim_pid": 0,
                     "shim_start": 0, "pid_start": 0},
    }


def exited_container() -> dict:
    """The same container after a start, a client's stop and an exit."""
    rec = created_container()
    rec["State"].update({"Status": "exited", "Pid": 0, "ExitCode": 137, "StartedAt": NOW, "FinishedAt": NOW})
    rec["Dockyard"].update({"shim_pid": 31337, "shim_start": 889911, "pid_start": 889913,
                            "manually_stopped": True, "restart_delay": 0, "exits": 1})
    return rec


IMAGE_RECORD = {
    "id": IMAGE_ID, "parent": "", "created": NOW, "size": 1_234_567,
    "refs": ["busybox:latest"], "digests": ["busybox@sha256:" + "ab" * 32],
    "config": {"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"], "Labels": None},
               "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "cd" * 32]}},
    "last_tag_time": NOW,
}
IMAGE_ROW = {**{k: v for k, v in IMAGE_RECORD.items() if k != "config"}, "last_tag_time": None,
             "labels": {"maintainer": "dockyard"}}
EXIT_RECORD = {"exit_code": 0, "finished_at": NOW, "oom_killed": False, "error": ""}

# name -> {"params": ..., "reply": ...} for unary methods, {"params": ..., "chunks": [...]}
# for streaming ones (a chunk is a dict, raw bytes, or a (dict, bytes) labelled raw frame).
SAMPLES = {
    "system.ping": {"params": {}, "reply": {"service": "registry", "pid": 4242}},
    "system.stats": {"params": {}, "reply": {"service": "supervisor", "pid": 4243, "fds": 31, "threads": 3,
                                            "tasks": 7}},
    "system.info": {"params": {}, "reply": {
        "id": "Z3QF:4XJM:QW6B", "name": "builder-07", "containers": 3, "containers_running": 1,
        "containers_paused": 0, "containers_stopped": 2, "images": 5, "memory_limit": True,
        "swap_limit": False, "cpu_shares": True, "pids_limit": True, "oom_kill_disable": True,
        "cgroup_version": "1", "kernel_version": "6.1.0-18-amd64", "operating_system": "Debian GNU/Linux 12 (bookworm)",
        "os_version": "12", "architecture": "x86_64", "ncpu": 2, "mem_total": 4_112_539_648,
        "data_root": "/var/lib/dockyard", "system_time": "2026-12-01T22:24:33.044338+00:00",
        "security_options": ["name=seccomp,profile=builtin"], "backing_filesystem": "extfs"}},
    "image.list": {"params": {"all": False}, "reply": {"images": [IMAGE_ROW]}},
    "image.inspect": {"params": {"name": "busybox:latest"}, "reply": IMAGE_RECORD},
    "image.history": {"params": {"name": "busybox"}, "reply": {"entries": [
        {"id": IMAGE_ID, "created": NOW, "created_by": '/bin/sh -c #(nop)  CMD ["sh"]', "size": 0,
         "comment": "", "tags": ["busybox:latest"]},
        {"id": "<missing>", "created": NOW, "created_by": "/bin/sh -c #(nop) ADD file:abc in / ",
         "size": 4_261_550, "comment": "", "tags": []}]}},
    "image.tag": {"params": {"name": "busybox", "repo": "localhost:5000/busybox", "tag": None, "force": True},
                  "reply": {"ref": "localhost:5000/busybox:latest"}},
    "image.remove": {"params": {"name": "busybox", "force": False, "prune": True},
                     "reply": {"untagged": ["busybox:latest"], "deleted": [IMAGE_ID]}},
    "image.prune": {"params": {"dangling": True, "until": 1_764_628_000.0, "label": ["env=test"],
                               "label_not": []},
                    "reply": {"removed": [{"untagged": "old:1"}, {"deleted": IMAGE_ID}], "space_reclaimed": 4096}},
    "image.import": {"params": {"repo": "imported", "tag": None, "message": None, "changes": [],
                                "force_tag": True, "source": "-"},
                     "chunks": [{"status": IMAGE_ID, "image": IMAGE_ID}]},
    "image.import_url": {"params": {"repo": None, "tag": None, "message": "from the web", "changes": [],
                                    "force_tag": True, "source": "http://127.0.0.1:8000/rootfs.tar",
                                    "url": "http://127.0.0.1:8000/rootfs.tar"},
                         "chunks": [{"status": "Downloading", "current": 512, "total": 2048},
                                    {"status": IMAGE_ID, "image": IMAGE_ID}]},
    "image.insert": {"params": {"name": "busybox", "url": "http://127.0.0.1:8000/motd", "path": "/etc/motd"},
                     "chunks": [{"status": "Downloading", "current": 10, "total": 10},
                                {"status": IMAGE_ID, "image": IMAGE_ID}]},
    "image.save": {"params": {"names": ["busybox:latest", "alpine"]}, "chunks": [b"manifest.json\0" + b"\0" * 500]},
    "auth.login": {"params": {"username": "alice", "password": "s3cret", "email": "",
                              "serveraddress": "https://index.docker.io/v1/"},
                   "reply": {"status": "Login Succeeded"}},
    "image.search": {"params": {"term": "busy", "limit": 25, "auth": None}, "reply": {"results": [
        {"name": "busybox", "description": "Busybox base image.", "star_count": 0, "is_official": False,
         "is_automated": False}]}},
    "auth.get": {"params": {}, "reply": {"username": "alice", "email": ""}},
    "image.pull": {"params": {"image": "127.0.0.1:5000/busybox:latest", "auth": AUTH}, "chunks": [
        {"status": "Pulling from busybox", "id": "latest"},
        {"status": "Pulling fs layer", "id": "cd" * 6},
        {"status": "Status: Downloaded newer image for 127.0.0.1:5000/busybox:latest", "image": IMAGE_ID}]},
    "image.push": {"params": {"name": "127.0.0.1:5000/busybox", "tag": "latest", "auth": None}, "chunks": [
        {"status": "The push refers to repository [127.0.0.1:5000/busybox]"},
        {"status": "Pushed", "id": "cd" * 6},
        {"status": "latest: digest: sha256:" + "ab" * 32 + " size: 527"}]},
    "image.load": {"params": {"quiet": False}, "chunks": [{"stream": "Loaded image: busybox:latest\n"}]},
    "container.create": {"params": {
        "config": {"Image": "busybox", "Cmd": ["sh", "-c", "echo hi"], "Tty": False, "Labels": {"app": "web"}},
        "host_config": {"Binds": ["/srv/www:/www:ro"], "RestartPolicy": {"Name": "no"}},
        "networking_config": None, "name": "web"},
        "reply": {"id": CID, "warnings": []}},
    "container.list": {"params": {"all": True, "limit": -1, "since": None, "before": None,
                                  "filters": {"status": ["exited"], "label": ["app=web"]}},
                       "reply": {"containers": [exited_container(), created_container()]}},
    "container.summaries": {"params": {"all": False, "limit": 2, "since": None, "before": None, "filters": None},
                            "reply": {"rows": [{"before": b'{"Id":"' + CID.encode() + b'","Status":"Up ',
                                                "after": b'"}', "since": 1700000000.0}]}},
    "container.prune": {"params": {"until": None, "label": [], "label_not": ["keep"]},
                        "reply": {"deleted": [CID], "space_reclaimed": 0}},
    "container.inspect": {"params": {"id": "quirky_turing"}, "reply": exited_container()},
    "container.start": {"params": {"id": CID[:12]}, "reply": {}},
    "container.stop": {"params": {"id": CID, "timeout": 3, "signal": "SIGUSR1"}, "reply": {}},
    "container.restart": {"params": {"id": CID, "timeout": None}, "reply": {}},
    "container.kill": {"params": {"id": CID, "signal": "SIGHUP"}, "reply": {}},
    "container.wait": {"params": {"id": CID, "condition": "next-exit", "exits": 1},
                       "reply": {"exit_code": 137, "error": ""}},
    "container.started": {"params": {"id": CID}, "reply": {"pid": 889913}},
    "container.remove": {"params": {"id": CID, "force": True, "volumes": False}, "reply": {}},
    "container.pause": {"params": {"id": CID}, "reply": {}},
    "container.unpause": {"params": {"id": "web"}, "reply": {}},
    "container.rename": {"params": {"id": CID, "name": "api2"}, "reply": {}},
    "container.update": {"params": {"id": CID, "update": {"Memory": 300 << 20, "RestartPolicy": {"Name": "always"}}},
                         "reply": {"warnings": ["OOM killer is disabled for the container, but no memory limit "
                                                "is set, this can result in the system running out of resources."]}},
    "container.unlink": {"params": {"name": "/web/db"}, "reply": {}},
    "container.changes": {"params": {"id": CID}, "reply": {"changes": [{"path": "/tmp", "kind": 0},
                                                                         {"path": "/tmp/x", "kind": 1}]}},
    "container.export": {"params": {"id": CID}, "chunks": [b"bin/\0" + b"\0" * 507]},
    "container.logs": {"params": {"id": CID, "stdout": True, "stderr": False, "since_ns": 0,
                                  "until_ns": 0, "tail": -1, "timestamps": True, "details": False},
                       "chunks": [({"fd": 1, "sizes": [34]}, NOW.encode() + b" hi\n"),
                                  ({"fd": 2, "sizes": [36]}, NOW.encode() + b" oops\n")]},
    "container.commit": {"params": {"id": CID, "repo": "snap", "tag": None, "comment": "a snapshot",
                                    "author": None, "config": {"Cmd": ["sh"]},
                                    "changes": ["EXPOSE 8000", 'CMD ["bash"]']},
                         "reply": {"id": IMAGE_ID}},
    "image.commit": {"params": {"parent": IMAGE_ID, "container": CID, "created_by": "sh -c echo hi",
                                "comment": "a snapshot", "author": "", "config": {"Cmd": ["sh"]},
                                "container_config": created_container()["Config"], "repo": "snap", "tag": None},
                     "reply": {"id": IMAGE_ID}},
    "build.run": {"params": {"dockerfile": "sub/Dockerfile", "tags": ["app:1"], "quiet": False, "nocache": False,
                             "cachefrom": [], "pull": False, "rm": True, "forcerm": False,
                             "buildargs": {"WHO": "alice", "HTTP_PROXY": None}, "labels": {"l": "v"},
                             "target": "final", "platform": None,
                             "limits": {"memory": 0, "memswap": 0, "cpushares": 512, "cpusetcpus": "0-1",
                                        "cpuperiod": 0, "cpuquota": 0, "shmsize": 0, "networkmode": "none",
                                        "extrahosts": ["db:10.0.0.2"]},
                             "remote": None, "auth": {"localhost:5000": AUTH}},
                  "chunks": [{"stream": "Step 1/2 : FROM busybox\n"}, {"image": IMAGE_ID},
                             {"error": "The command '/bin/sh -c false' returned a non-zero code: 1", "code": 1}]},
    "image.usage": {"params": {}, "reply": {"layers_size": 2097152, "shared": {IMAGE_ID: 1048576}}},
    "build.usage": {"params": {}, "reply": {"records": [{
        "id": IMAGE_ID, "parent": "", "description": "COPY file:ab12 in / ", "in_use": True, "size": 4096,
        "created": NOW, "last_used": NOW, "usage_count": 3}]}},
    "build.prune": {"params": {"all": False, "until": None, "keep_storage": 0},
                    "reply": {"deleted": [IMAGE_ID], "space_reclaimed": 4096}},
    "build.configure": {"params": {"config": {"Cmd": ["sh"], "Env": None}, "changes": ["ENV A=1", "USER nobody"]},
                        "reply": {"config": {"Cmd": ["sh"], "Env": ["A=1"], "User": "nobody"}}},
    "image.step": {"params": {"parent": "", "created_by": "/bin/sh -c #(nop) COPY file:ab12 in / ",
                              "config": {"Cmd": ["sh"]}, "container_config": {"Cmd": ["/bin/sh", "-c", "#(nop) x"]},
                              "layer": True, "author": ""},
                   "reply": {"id": IMAGE_ID}},
    "container.build_step": {"params": {"config": {"Image": IMAGE_ID, "Cmd": ["/bin/sh", "-c", "make"]},
                                        "host_config": {"NetworkMode": "default"}, "keep": False,
                                        "commit": {"config": {"Cmd": ["sh"]}, "author": "",
                                                   "container_config": {"Cmd": ["/bin/sh", "-c", "make"]},
                                                   "created_by": "/bin/sh -c make"}},
                             "chunks": [{"container": CID}, ({"fd": 1}, b"built\n"),
                                        {"exit_code": 0, "image": IMAGE_ID}]},
    "network.create": {"params": {"config": {"Name": "web", "Driver": "bridge", "Internal": False,
                                             "IPAM": {"Config": [{"Subnet": "10.214.9.0/24"}]},
                                             "Labels": {"tier": "front"}, "Options": {}}},
                       "reply": {"id": NETWORK_ID, "warning": ""}},
    "network.list": {"params": {"filters": {"driver": ["bridge"], "label_not": ["tier"]}},
                     "reply": {"networks": [NETWORK]}},
    "network.inspect": {"params": {"id": "web"}, "reply": NETWORK},
    "network.remove": {"params": {"id": "web"}, "reply": {}},
    "network.connect": {"params": {"id": "web", "container": CID, "endpoint_config": {"Aliases": ["api"]}},
                        "reply": {}},
    "network.disconnect": {"params": {"id": "web", "container": CID, "force": False}, "reply": {}},
    "network.prune": {"params": {"filters": {"until": ["1764633600"]}}, "reply": {"deleted": ["web"]}},
    "shim.probe": {"params": {"pid": 889913, "args": ["/bin/sh", "-c", "true"], "timeout": 30.0},
                   "reply": {"exit_code": 0, "output": "", "timed_out": False}},
    "shim.state": {"params": {}, "reply": {"pid": 889913, "running": False, "started_at": NOW, "exit": EXIT_RECORD}},
    "shim.wait": {"params": {"pid": 889913}, "reply": EXIT_RECORD},
    "shim.kill": {"params": {"pid": 889913, "signal": 15}, "reply": {}},
    "shim.resize": {"params": {"pid": 889913, "height": 40, "width": 120}, "reply": {}},
    "shim.logs": {"params": {"pid": 889913, "stdout": True, "stderr": True, "since_ns": 1764633600 * 10 ** 9,
                             "until_ns": 0, "tail": 100, "timestamps": False, "details": True},
                  "chunks": [({"fd": 1, "sizes": [3, 3, 3]}, b" 1\n 2\n 3\n"), ({"fd": 2, "sizes": [6]}, b" oops\n")]},
    "shim.attach": {"params": {"pid": 889913, "stdin": True, "stdout": True, "stderr": True, "logs": False,
                               "stream": True},
                    "chunks": [({"fd": 1}, b"hi\n"), ({"fd": 0}, b"\x1b[1;32m$ \x1b[0m")]},
    "exec.create": {"params": {"container": "quirky_turing", "config": EXEC_CONFIG}, "reply": {"id": EXEC_ID}},
    "exec.start": {"params": {"id": EXEC_ID}, "reply": {"container": CID, "pid": 889913, "config": EXEC_CONFIG}},
    "exec.inspect": {"params": {"id": EXEC_ID}, "reply": {
        "ID": EXEC_ID, "Running": False, "ExitCode": 0, "Pid": 889950, "CanRemove": False, "ContainerID": CID,
        "DetachKeys": "", "OpenStdin": True, "OpenStdout": True, "OpenStderr": True,
        "ProcessConfig": {"tty": False, "entrypoint": "sh", "arguments": ["-c", "ls /"], "privileged": False,
                          "user": ""}}},
    "shim.exec": {"params": {"pid": 889913, "exec_id": EXEC_ID, "config": EXEC_CONFIG, "detach": False},
                  "chunks": [{"pid": 889950}, ({"fd": 1}, b"bin\netc\n"), ({"fd": 2}, b"oops\n"),
                             {"exit_code": 0}]},
    "shim.exec_state": {"params": {"pid": 889913, "exec_id": EXEC_ID},
                        "reply": {"known": True, "running": False, "pid": 889950, "exit_code": 0}},
    "shim.exec_resize": {"params": {"pid": 889913, "exec_id": EXEC_ID, "height": 40, "width": 120},
                         "reply": {}},
    "shim.exec_wait": {"params": {"pid": 889913, "exec_id": EXEC_ID},
                       "reply": {"known": True, "running": False, "pid": 889950, "exit_code": 137}},
}


# docker top, docker stats (services/supervisor/usage.py).
SAMPLES.update({
    "container.top": {"params": {"id": CID[:12], "ps_args": "-ef"}, "reply": {
        "titles": ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"],
        "processes": [["root", "889913", "889900", "0", "03:46", "?", "00:00:00", "sleep 300"]]}},
    "container.stats": {"params": {"id": CID}, "reply": {"running": True, "stats": {
        "read": NOW, "preread": ZERO, "pids_stats": {"current": 1}, "num_procs": 0, "storage_stats": {},
        "cpu_stats": {"cpu_usage": {"total_usage": 23_000_000, "usage_in_kernelmode": 10_000_000,
                                    "usage_in_usermode": 10_000_000},
                      "system_cpu_usage": 9_100_000_000_000, "online_cpus": 2,
                      "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}},
        "memory_stats": {"usage": 540_672, "limit": 4_112_539_648, "stats": {"cache": 0}},
        "name": "/quirky_turing", "id": CID}}},
})


# docker cp (services/supervisor/archives.py).
PATH_STAT = {"name": "data.txt", "size": 38, "mode": 0o644, "mtime": "2026-12-01T22:24:33.044338773Z",
             "linkTarget": ""}
SAMPLES.update({
    "container.archive_stat": {"params": {"id": "quirky_turing", "path": "/vol1/data.txt"},
                               "reply": {"stat": PATH_STAT}},
    "container.archive_get": {"params": {"id": CID[:12], "path": "/vol1/."},
                              "chunks": [{"stat": dict(PATH_STAT, name=".", mode=(1 << 31) | 0o755)},
                                         ({}, b"./\0\0\0"), ({}, b"\0" * 512)]},
    "container.archive_put": {"params": {"id": CID, "path": "/vol1", "no_overwrite_dir_non_dir": True,
                                         "copy_uid_gid": False}, "reply": {}},
})


# Volumes (services/supervisor/volumes.py): a tmpfs-backed one, as docker volume create makes it.
VOLUME = {"Name": "cache", "Driver": "local", "Mountpoint": "/var/lib/dockyard/volumes/cache/_data",
          "CreatedAt": "2026-12-01T22:24:33Z", "Scope": "local",
          "Options": {"type": "tmpfs", "device": "tmpfs", "o": "size=64m"}, "Labels": {"tier": "front"},
          "UsageData": None}
SAMPLES.update({
    "volume.create": {"params": {"config": {"Name": "cache", "Driver": "local", "Labels": {"tier": "front"},
                                            "DriverOpts": {"type": "tmpfs", "device": "tmpfs", "o": "size=64m"}}},
                      "reply": VOLUME},
    "volume.list": {"params": {"filters": {"dangling": ["true"], "label_not": ["tier"]}},
                    "reply": {"volumes": [VOLUME], "warnings": []}},
    "volume.inspect": {"params": {"name": "cache"}, "reply": VOLUME},
    "volume.remove": {"params": {"name": "cache", "force": False}, "reply": {}},
    "volume.prune": {"params": {"filters": {"all": ["true"], "label": ["tier=front"]}},
                     "reply": {"deleted": ["cache"], "space_reclaimed": 4096}},
    "volume.usage": {"params": {}, "reply": {"volumes": [{**VOLUME, "UsageData": {"Size": 10_920_104, "RefCount": 2}}]}},
    "container.sizes": {"params": {}, "reply": {"sizes": {CID: 50_176, "f" * 64: -1}}},
})

EVENT = {"status": "die", "id": CID, "from": "busybox", "Type": "container", "Action": "die",
         "Actor": {"ID": CID, "Attributes": {"name": "web", "image": "busybox", "exitCode": "3"}},
         "scope": "local", "time": 1764627873, "timeNano": 1764627873123456789}
SAMPLES.update({
    "event.record": {"params": {"type": "image", "action": "tag", "actor": "sha256:" + "a" * 64,
                                "attributes": {"name": "app:v1"}}, "reply": {}},
    "event.stream": {"params": {"since_ns": 1764627873000000000, "until_ns": None,
                                "filters": {"type": ["container"], "event": ["die"]}},
                     "chunks": [EVENT]},
})


def test_every_declared_method_has_a_hand_written_sample():
    assert set(SAMPLES) == set(wire.METHODS)


def _round_trip(header: dict, raw: bytes | None = None) -> tuple[dict, bytes | None]:
    parts = wire.frames(header, raw)
    assert len(parts) == (1 if raw is None else 2)
    return wire.unpack(parts[0]), (parts[1] if raw is not None else None)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_sample_round_trips_and_fits_the_schema(name):
    m, sample = wire.method(name), SAMPLES[name]
    request = {"t": "req", "id": 7, "method": name, "params": sample["params"]}
    decoded, _ = _round_trip(request)
    assert decoded == request
    wire.check(m.params, decoded["params"], name)
    if m.chunk is None:
        assert "chunks" not in sample, f"{name} is unary: its sample has a reply"
        decoded, _ = _round_trip({"t": "res", "id": 7, "result": sample["reply"]})
        assert decoded["result"] == sample["reply"]
        wire.check(m.reply, decoded["result"], f"{name} reply")
        return
    assert sample["chunks"] and "reply" not in sample, f"{name} streams: its sample has chunks"
    for chunk in sample["chunks"]:
        if isinstance(chunk, bytes):
            assert m.chunk is bytes
            decoded, raw = _round_trip({"t": "chunk", "id": 7}, chunk)
            assert raw == chunk and "value" not in decoded
            continue
        meta, data = chunk if isinstance(chunk, tuple) else (chunk, None)
        decoded, raw = _round_trip({"t": "chunk", "id": 7, "value": meta}, data)
        assert decoded["value"] == meta and raw == data
        wire.check(m.chunk, decoded["value"], f"{name} chunk")


# ------------------------------------------------------------- wrong samples

def _spec_of(spec, key):
    sub = spec[key]
    return sub.spec if isinstance(sub, wire.Opt) else sub


def _wrong(spec):
    """A value of another type than `spec` wants."""
    return 12345 if spec is str else "12345"


def _messages(name):
    """(where, spec, hand-written map) of a sample: its params, and its reply or map chunks."""
    m, sample = wire.method(name), SAMPLES[name]
    yield "params", m.params, sample["params"]
    if m.chunk is None:
        yield "reply", m.reply, sample["reply"]
    else:
        for chunk in sample["chunks"]:
            if not isinstance(chunk, bytes):
                yield "chunk", m.chunk, chunk[0] if isinstance(chunk, tuple) else chunk


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_samples_made_wrong_do_not_fit(name):
    for where, spec, good in _messages(name):
        with pytest.raises(errors.BadParameter, match="unexpected key 'zzz'"):
            wire.check(spec, {**good, "zzz": 1}, f"{name} {where}")
        for key in good:
            if _spec_of(spec, key) is wire.ANY:
                continue
            bad = {**good, key: _wrong(_spec_of(spec, key))}
            with pytest.raises(errors.BadParameter, match=f"{key}: expected"):
                wire.check(spec, bad, f"{name} {where}")
            if not isinstance(spec[key], wire.Opt):
                missing = {k: v for k, v in good.items() if k != key}
                with pytest.raises(errors.BadParameter, match=f"missing key '{key}'"):
                    wire.check(spec, missing, f"{name} {where}")


@pytest.mark.parametrize("name, where, bad, message", [
    ("container.list", "params", {"all": True, "limit": -1, "filters": {"status": "exited"}},
     "filters.status: expected a list"),
    ("container.list", "params", {"all": True, "limit": -1, "filters": {"colour": ["red"]}},
     "unexpected key 'colour'"),
    ("container.list", "params", {"all": 1, "limit": -1}, "all: expected bool"),
    ("container.wait", "params", {"id": CID, "exits": True}, "exits: expected int, got bool"),
    ("container.logs", "params", {**SAMPLES["container.logs"]["params"], "since_ns": 0.5}, "since_ns: expected int"),
    ("image.search", "params", {"term": "x", "limit": 1, "auth": {"username": "a", "password": "b"}},
     "missing key 'token'"),
    ("image.prune", "reply", {"removed": [{"untagged": 5}], "space_reclaimed": 0}, "untagged: expected"),
    ("shim.wait", "reply", {**EXIT_RECORD, "oom_killed": 0}, "oom_killed: expected bool"),
    ("container.inspect", "reply", {**created_container(), "Mounts": [{"Type": "bind"}]}, "missing key"),
    ("container.inspect", "reply", {**created_container(), "Config": ["Image"]}, "Config: expected a map"),
])
def test_hand_written_wrong_messages_do_not_fit(name, where, bad, message):
    m = wire.method(name)
    spec = m.params if where == "params" else m.reply
    with pytest.raises(errors.BadParameter, match=message):
        wire.check(spec, bad, name)


@pytest.mark.parametrize("name", sorted(wire.METHODS))
def test_every_method_names_a_service(name):
    m = wire.METHODS[name]
    assert m.service == "*" or m.service in wire.SERVER_KINDS
    noun, _, verb = name.partition(".")
    assert noun and verb


def test_check_rejects_wrong_shapes():
    spec = {"a": int, "b": wire.Opt(str), "c": [str], "d": wire.Opt(wire.MapOf(int))}
    wire.check(spec, {"a": 1, "c": [], "d": {"x": 1}}, "x")
    for bad in ({"a": "1", "c": []}, {"a": True, "c": []}, {"c": []}, {"a": 1, "c": [1]},
                {"a": 1, "c": [], "zzz": 1}, [1], {"a": 1, "c": [], "d": {"x": "1"}},
                {"a": 1, "c": [], "d": [1]}, {"a": 1, "c": [], "d": {1: 1}}):
        with pytest.raises(errors.BadParameter):
            wire.check(spec, bad, "x")


def test_unpack_rejects_garbage():
    for junk in (b"\xc1", wire.pack([1, 2]), wire.pack({"id": 1})):
        with pytest.raises(errors.BadParameter):
            wire.unpack(junk)
