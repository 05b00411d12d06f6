"""Health checks on the started daemon: a container's probe run in it while it runs, under
both runtimes, its State.Health as Docker keeps it; an image's HEALTHCHECK from a build."""

from __future__ import annotations

import pytest

from tests.polling import until

from .builds import ok_build
from .containers import create, inspect, remove, start

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
