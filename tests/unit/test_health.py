"""Health checks' pure rules: the probe a config gives, Docker's refusals, a probe's effect."""

import pytest

from services.common import errors
from services.supervisor import health

S = health.SECOND


def test_probe_of_forms_and_defaults():
    assert health.probe_of({}) is None
    assert health.probe_of({"Healthcheck": {"Test": ["NONE"]}}) is None
    assert health.probe_of({"Healthcheck": {"Test": []}}) is None
    probe = health.probe_of({"Healthcheck": {"Test": ["CMD-SHELL", "curl -f x || exit 1"], "Retries": 2}})
    assert probe["args"] == ["/bin/sh", "-c", "curl -f x || exit 1"]
    assert (probe["Interval"], probe["Timeout"], probe["StartPeriod"], probe["Retries"]) == (30 * S, 30 * S, 0, 2)
    assert health.probe_of({"Healthcheck": {"Test": ["CMD", "true", "x"]}})["args"] == ["true", "x"]


@pytest.mark.parametrize("check, message", [
    ({"Interval": 10}, "Interval in Healthcheck cannot be less than 1ms"),
    ({"Timeout": 999_999}, "Timeout in Healthcheck cannot be less than 1ms"),
    ({"StartPeriod": -5}, "StartPeriod in Healthcheck cannot be"),
    ({"Retries": -1}, "Retries in Healthcheck cannot be negative"),
    ({"Test": ["SHELL", "x"]}, "unknown type of healthcheck test"),
])
def test_bad_checks_are_refused(check, message):
    with pytest.raises(errors.BadParameter, match=message):
        health.check_config(check)


def entry(code: int) -> dict:
    return {"Start": "s", "End": "e", "ExitCode": code, "Output": ""}


def test_retries_failures_in_a_row_make_it_unhealthy_and_a_pass_heals():
    h = health.starting()
    for _ in range(2):
        h = health.record_probe(h, entry(1), in_start_period=False, retries=3)
    assert (h["Status"], h["FailingStreak"]) == ("starting", 2)
    h = health.record_probe(h, entry(1), False, 3)
    assert (h["Status"], h["FailingStreak"]) == ("unhealthy", 3)
    h = health.record_probe(h, entry(0), False, 3)
    assert (h["Status"], h["FailingStreak"]) == ("healthy", 0)


def test_start_period_failures_do_not_count_until_it_was_healthy():
    h = health.record_probe(health.starting(), entry(1), in_start_period=True, retries=1)
    assert (h["Status"], h["FailingStreak"]) == ("starting", 0)
    h = health.record_probe(h, entry(0), True, 1)
    h = health.record_probe(h, entry(1), True, 1)
    assert h["Status"] == "unhealthy"   # once healthy, a failure counts even in the start period


def test_only_the_last_five_probes_are_kept():
    h = health.starting()
    for code in range(8):
        h = health.record_probe(h, entry(code), False, 100)
    assert [e["ExitCode"] for e in h["Log"]] == [3, 4, 5, 6, 7]


def test_an_exit_leaves_the_health_unhealthy_and_a_start_makes_it_starting():
    from services.supervisor import states
    rec = {"Id": "c" * 64, "State": states.initial()}
    states.apply(rec, "started", pid=10, started_at="2026-12-01T00:00:00Z", probed=True)
    assert rec["State"]["Health"] == {"Status": "starting", "FailingStreak": 0, "Log": []}
    rec["State"]["Health"].update(Status="healthy", Log=[entry(0)])
    states.apply(rec, "exited", exit_code=0, finished_at="2026-12-01T00:00:01Z", oom_killed=False, error="")
    assert rec["State"]["Health"]["Status"] == "unhealthy"
    states.apply(rec, "started", pid=11, started_at="2026-12-01T00:00:02Z", probed=True)
    assert rec["State"]["Health"]["Status"] == "starting" and len(rec["State"]["Health"]["Log"]) == 1
