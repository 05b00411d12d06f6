"""Health checks on the started daemon: a container's probe run in it while it runs, under
both runtimes, its State.Health as Docker keeps it; an image's HEALTHCHECK from a build;
what the docker CLI shows of it (inspect, ps and its health filter); a supervisor killed
while a probe runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess

import pytest

from services.common import container_files
from tests.polling import until

from .builds import ok_build
from .containers import create, ensure_busybox, inspect, remove, start

SECOND = 1_000_000_000


def health(daemon, cid: str) -> dict:
    return inspect(daemon, cid)["State"].get("Health") or {}


def probed(daemon, test, runtime: str = "builtin", **check) -> str:
    check = {"Test": test, "Interval": SECOND // 5, "Timeout": SECOND, "Retries": 1, **check}
    cid = create(daemon, "/v1.45", Cmd=["sleep", "60"], Healthcheck=check, HostConfig={"Runtime": runtime})
    start(daemon, cid)
    return cid


@pytest.mark.parametrize("runtime", ["builtin", "runc"])
def test_a_passing_probe_makes_it_healthy(client, daemon, runtime):
    cid = probed(daemon, ["CMD-SHELL", "echo probe-ran; id -u"], runtime, Interval=SECOND // 5)
    try:
        assert health(daemon, cid)["Status"] in ("starting", "healthy")
        until(lambda: health(daemon, cid)["Status"] == "healthy", 20, "the container to be healthy")
        entry = health(daemon, cid)["Log"][-1]
        assert entry["ExitCode"] == 0 and entry["Output"] == "probe-ran\n0\n"
        listed = daemon.get(f"/v1.45/containers/json?filters=%7B%22health%22%3A%5B%22healthy%22%5D%7D").json()
        assert cid in [c["Id"] for c in listed]
        assert next(c for c in listed if c["Id"] == cid)["Status"].endswith("(healthy)")
        until(lambda: len(health(daemon, cid)["Log"]) == 5, 20, "five probes")
        assert len(health(daemon, cid)["Log"]) == 5   # only the last five are kept
    finally:
        remove(daemon, cid)


def test_failing_probes_make_it_unhealthy_after_retries(client, daemon):
    cid = probed(daemon, ["CMD", "false"], Retries=3)
    try:
        until(lambda: health(daemon, cid).get("FailingStreak", 0) >= 1, 20, "a failed probe")
        assert health(daemon, cid)["Status"] == "starting"
        until(lambda: health(daemon, cid)["Status"] == "unhealthy", 20, "the container to be unhealthy")
        assert health(daemon, cid)["FailingStreak"] >= 3
        assert health(daemon, cid)["Log"][-1]["ExitCode"] == 1
    finally:
        remove(daemon, cid)


def test_a_probe_that_hangs_is_killed_at_its_timeout(client, daemon):
    cid = probed(daemon, ["CMD", "sleep", "30"], Timeout=SECOND // 2)
    try:
        until(lambda: health(daemon, cid)["Log"], 20, "a probe to end")
        entry = health(daemon, cid)["Log"][-1]
        assert entry["ExitCode"] == -1 and entry["Output"] == "Health check exceeded timeout (0.5s)"
        assert health(daemon, cid)["Status"] == "unhealthy"
    finally:
        remove(daemon, cid)


def test_failures_in_the_start_period_do_not_count(client, daemon):
    # Fails until its third probe, all within the start period; then passes.
    test = ["CMD-SHELL", "echo x >> /count; test $(wc -l < /count) -ge 3"]
    cid = probed(daemon, test, StartPeriod=30 * SECOND, StartInterval=SECOND // 5, Interval=60 * SECOND)
    try:
        until(lambda: health(daemon, cid)["Status"] == "healthy", 20, "the container to be healthy")
        assert [e["ExitCode"] for e in health(daemon, cid)["Log"]] == [1, 1, 0]
    finally:
        remove(daemon, cid)


def test_probes_go_on_after_a_supervisor_restart(client, fresh_daemon):
    daemon = fresh_daemon.start()
    from .containers import ensure_busybox
    ensure_busybox(daemon)
    cid = probed(daemon, ["CMD", "true"])
    until(lambda: health(daemon, cid)["Status"] == "healthy", 20, "the container to be healthy")
    old = daemon.pid("supervisor")
    daemon.supervisorctl("restart", "supervisor")
    daemon.wait_new_pid("supervisor", old)
    daemon.wait_ready()
    last = health(daemon, cid)["Log"][-1]["End"]
    until(lambda: health(daemon, cid)["Log"][-1]["End"] > last, 20, "a probe by the new supervisor")
    remove(daemon, cid)


def test_none_and_bad_health_checks(client, daemon):
    cid = create(daemon, "/v1.45", Cmd=["true"], Healthcheck={"Test": ["NONE"]})
    assert inspect(daemon, cid)["Config"]["Healthcheck"] == {"Test": ["NONE"]}
    remove(daemon, cid)
    import json
    r = daemon.request("POST", "/v1.45/containers/create", headers={"Content-Type": "application/json"},
                       body=json.dumps({"Image": "busybox", "Cmd": ["true"], "Healthcheck": {"Test": ["CMD", "true"],
                                                                             "Interval": 10}}).encode())
    assert r.status == 400 and b"Interval in Healthcheck cannot be less than 1ms" in r.body


def test_a_built_images_healthcheck_runs(client, daemon):
    image_id, _ = ok_build(daemon, "FROM busybox\nHEALTHCHECK --interval=1s --timeout=2s --retries=1 "
                                   "CMD [\"sh\", \"-c\", \"echo from-the-image\"]\nCMD [\"sleep\", \"60\"]\n")
    cid = create(daemon, "/v1.45", Image=image_id)
    start(daemon, cid)
    try:
        assert inspect(daemon, cid)["Config"]["Healthcheck"]["Test"] == ["CMD", "sh", "-c", "echo from-the-image"]
        until(lambda: health(daemon, cid).get("Status") == "healthy", 20, "the built image's probe to pass")
        assert health(daemon, cid)["Log"][-1]["Output"] == "from-the-image\n"
    finally:
        remove(daemon, cid)
    # A container may turn an image's check off.
    cid = create(daemon, "/v1.45", Image=image_id, Healthcheck={"Test": ["NONE"]})
    start(daemon, cid)
    try:
        assert "Health" not in inspect(daemon, cid)["State"]
    finally:
        remove(daemon, cid)


@pytest.fixture
def cli(daemon, tmp_path):
    env = dict(os.environ, DOCKER_CONFIG=str(tmp_path))

    def run(*args: str) -> str:
        out = subprocess.run(["docker", "-H", daemon.unix_url, *args], capture_output=True, text=True,
                             timeout=120, env=env)
        assert out.returncode == 0, (args, out.stderr)
        return out.stdout
    return run


def test_docker_cli_sees_one_container_healthy_and_one_unhealthy(client, cli):
    made = []
    try:
        good = cli("run", "-d", "--health-cmd", "true", "--health-interval", "200ms", "--health-retries", "1",
                   "busybox", "top").strip()
        made.append(good)
        bad = cli("run", "-d", "--health-cmd", "exit 3", "--health-interval", "200ms", "--health-retries", "2",
                  "busybox", "top").strip()
        made.append(bad)
        # Probed every 200ms in its start period, though its interval is a minute.
        early = cli("run", "-d", "--health-cmd", "true", "--health-interval", "60s", "--health-start-period",
                    "60s", "--health-start-interval", "200ms", "busybox", "top").strip()
        made.append(early)
        waiting = cli("run", "-d", "--health-cmd", "true", "--health-interval", "60s", "busybox", "top").strip()
        made.append(waiting)
        status = lambda cid: cli("inspect", "-f", "{{.State.Health.Status}}", cid).strip()
        until(lambda: status(good) == "healthy", 20, "the passing container to be healthy")
        until(lambda: status(bad) == "unhealthy", 20, "the failing container to be unhealthy")
        until(lambda: status(early) == "healthy", 20, "a probe of the start interval")
        health = json.loads(cli("inspect", "-f", "{{json .State.Health}}", bad))
        assert health["FailingStreak"] >= 2 and health["Log"][-1]["ExitCode"] == 3
        listed = {line.split(" ", 1)[0]: line.split(" ", 1)[1]
                  for line in cli("ps", "--no-trunc", "--format", "{{.ID}} {{.Status}}").splitlines()}
        assert listed[good].endswith("(healthy)") and listed[bad].endswith("(unhealthy)")
        assert listed[waiting].endswith("(health: starting)")
        by_health = lambda value: cli("ps", "-q", "--no-trunc", "--filter", f"health={value}").split()
        assert good in by_health("healthy") and bad not in by_health("healthy")
        assert bad in by_health("unhealthy") and good not in by_health("unhealthy")
        assert waiting in by_health("starting") and good not in by_health("none")
        plain = cli("run", "-d", "busybox", "top").strip()
        made.append(plain)
        assert plain in by_health("none") and plain not in by_health("starting")
    finally:
        for cid in made:
            try:
                cli("rm", "-f", cid)
            except AssertionError:
                pass


def test_start_interval_is_not_applied_before_api_1_44(client, daemon):
    check = {"Test": ["CMD", "true"], "Interval": 60 * SECOND, "StartPeriod": 60 * SECOND,
             "StartInterval": SECOND // 5}
    old = create(daemon, "/v1.43", Cmd=["true"], Healthcheck=check)
    new = create(daemon, "/v1.44", Cmd=["true"], Healthcheck=check)
    try:
        assert "StartInterval" not in inspect(daemon, old)["Config"]["Healthcheck"]
        assert inspect(daemon, new)["Config"]["Healthcheck"]["StartInterval"] == SECOND // 5
    finally:
        remove(daemon, old)
        remove(daemon, new)


def test_a_supervisor_killed_mid_probe_leaves_the_container_running_and_probing_resumes(client, fresh_daemon):
    daemon = fresh_daemon.start()
    ensure_busybox(daemon)
    # The first probe blocks (reading a fifo nobody writes) until something ends it; every
    # later probe passes at once.
    probe = ["CMD-SHELL", "echo >> /probes; [ $(wc -l < /probes) -ge 2 ] || cat /gate"]
    cid = create(daemon, "/v1.45", Cmd=["sh", "-c", "mkfifo /gate && exec top"],
                 Healthcheck={"Test": probe, "Interval": SECOND // 5, "Timeout": 120 * SECOND, "Retries": 1})
    start(daemon, cid)
    cid = inspect(daemon, cid)["Id"]
    probes = os.path.join(container_files.paths(daemon.data_root, cid)["upper"], "probes")
    until(lambda: os.path.exists(probes), 20, "the first probe to run")
    pid = inspect(daemon, cid)["State"]["Pid"]
    assert health(daemon, cid)["Log"] == []   # it is still running: nothing recorded yet
    old = daemon.pid("supervisor")
    os.kill(old, signal.SIGKILL)
    daemon.wait_new_pid("supervisor", old)
    daemon.wait_ready()
    # The new supervisor probes again; the container ran on throughout.
    until(lambda: health(daemon, cid).get("Status") == "healthy", 30, "a probe by the new supervisor")
    state = inspect(daemon, cid)["State"]
    assert state["Running"] and state["Pid"] == pid
    assert health(daemon, cid)["Log"][-1]["ExitCode"] == 0
    # The probe the killed supervisor was waiting for does not live on in the container.
    blocked = lambda: [p for p in daemon.get(f"/v1.45/containers/{cid}/top?ps_args=-eo%20pid,args").json()["Processes"]
                       if "cat /gate" in " ".join(p)]
    until(lambda: blocked() == [], 30, "the orphaned probe to be killed")
    remove(daemon, cid)
