"""kill, stop and wait as dockerd answers them: a signal named any way Docker takes it (a
number, a name in any case, with or without SIG, real-time ones), Docker's refusals; a
stop's own signal (API 1.42), its StopSignal and StopTimeout; wait's conditions
(not-running, next-exit, removed) and their refusal."""

from __future__ import annotations

import json
import threading
from urllib.parse import quote

import pytest

from ..polling import until
from .containers import ensure_busybox
from .daemon import UnixHTTPConnection

# A shell that tells each signal it catches, and waits for the next one (not sleeping:
# `wait` for a child that never ends returns at each trapped signal).
TELLER = ("trap 'echo got HUP' HUP; trap 'echo got USR1' USR1; trap 'echo got USR2' USR2; "
          "trap 'echo got 35' 35; trap 'echo got 50' 50; trap 'echo got TERM' TERM; tail -f /dev/null & echo ready; "
          "while true; do wait; done")


def api(daemon, method: str, path: str, body=None):
    data = json.dumps(body).encode() if body is not None else None
    return daemon.request(method, path, body=data, headers={"Content-Type": "application/json"})


def create(daemon, cmd: list[str], **config) -> str:
    ensure_busybox(daemon)
    r = api(daemon, "POST", "/v1.45/containers/create", {"Image": "busybox", "Cmd": cmd, **config})
    assert r.status == 201, r.body
    return r.json()["Id"]


def logs(daemon, cid: str) -> str:
    return daemon.get(f"/v1.45/containers/{cid}/logs?stdout=1&stderr=1").body.decode(errors="replace")


def state(daemon, cid: str) -> dict:
    return api(daemon, "GET", f"/v1.45/containers/{cid}/json").json()["State"]


def running_teller(daemon, **config) -> str:
    cid = create(daemon, ["sh", "-c", TELLER], **config)
    assert api(daemon, "POST", f"/v1.45/containers/{cid}/start").status == 204
    until(lambda: "ready" in logs(daemon, cid), 20, "the shell to set its traps")
    return cid


@pytest.fixture
def teller(daemon):
    cid = running_teller(daemon)
    yield cid
    api(daemon, "DELETE", f"/containers/{cid}?force=1")


def test_kill_takes_a_signal_named_any_way_docker_takes_it(daemon, teller):
    for number, (given, caught) in enumerate([("SIGHUP", "HUP"), ("HUP", "HUP"), ("hup", "HUP"), ("sighup", "HUP"),
                                              ("1", "HUP"), ("SIGUSR1", "USR1"), ("usr2", "USR2"), ("10", "USR1"),
                                              ("RTMIN+1", "35"), ("rtmax-14", "50")], 1):
        r = api(daemon, "POST", f"/v1.45/containers/{teller}/kill?signal={quote(given)}")
        assert r.status == 204, (given, r.body)
        until(lambda: logs(daemon, teller).count("got ") == number, 10, f"the shell to catch {given}")
        # (Each line after the 8 bytes of its stream's header.)
        assert logs(daemon, teller).splitlines()[-1][8:] == f"got {caught}", given
    assert state(daemon, teller)["Running"]
    # No signal: SIGKILL (the shell would have caught a TERM).
    assert api(daemon, "POST", f"/v1.45/containers/{teller}/kill").status == 204
    assert state(daemon, teller)["ExitCode"] == 137 and "got TERM" not in logs(daemon, teller)


def test_kill_refusals_in_dockers_words(daemon, teller):
    for given, words in [("SIGNOPE", "invalid signal: SIGNOPE"), ("0", "invalid signal: 0"),
                         ("65", "the linux daemon does not support signal 65"),
                         ("32", "the linux daemon does not support signal 32"),
                         ("-9", "the linux daemon does not support signal -9")]:
        r = api(daemon, "POST", f"/v1.45/containers/{teller}/kill?signal={given}")
        assert r.status == 400 and r.json()["message"] == f"cannot kill container: {teller}: {words}", r.body
    # The signal is read before the container is looked for.
    assert api(daemon, "POST", "/v1.45/containers/no-such-box/kill?signal=NOPE").status == 400
    r = api(daemon, "POST", "/v1.45/containers/no-such-box/kill")
    assert r.status == 404
    assert r.json()["message"] == "cannot kill container: no-such-box: No such container: no-such-box"
    stopped = create(daemon, ["true"])
    try:
        r = api(daemon, "POST", f"/v1.45/containers/{stopped[:12]}/kill?signal=HUP")
        assert r.status == 409, r.body
        assert r.json()["message"] == f"cannot kill container: {stopped[:12]}: container {stopped} is not running"
    finally:
        api(daemon, "DELETE", f"/containers/{stopped}?force=1")


def test_stop_with_a_signal_of_its_own_from_api_1_42(daemon):
    cid = running_teller(daemon)
    try:
        assert api(daemon, "POST", f"/v1.45/containers/{cid}/stop?signal=NOPE").status == 400
        # Before 1.42 the parameter is not read: its StopSignal (TERM, caught), then SIGKILL.
        assert api(daemon, "POST", f"/v1.41/containers/{cid}/stop?signal=HUP&t=1").status == 204
        assert state(daemon, cid)["ExitCode"] == 137
        assert "got TERM" in logs(daemon, cid) and "got HUP" not in logs(daemon, cid)
    finally:
        api(daemon, "DELETE", f"/containers/{cid}?force=1")
    cid = create(daemon, ["sh", "-c", "trap 'echo got USR1; exit 42' USR1; tail -f /dev/null & echo ready; wait"])
    try:
        assert api(daemon, "POST", f"/v1.45/containers/{cid}/start").status == 204
        until(lambda: "ready" in logs(daemon, cid), 20, "the shell to set its trap")
        assert api(daemon, "POST", f"/v1.45/containers/{cid}/stop?signal=SIGUSR1&t=30").status == 204
        assert state(daemon, cid)["ExitCode"] == 42
    finally:
        api(daemon, "DELETE", f"/containers/{cid}?force=1")


def test_stop_uses_the_containers_stop_signal_and_stop_timeout(daemon):
    cid = create(daemon, ["sh", "-c", "trap 'echo got USR2; exit 42' USR2; tail -f /dev/null & echo ready; wait"],
                 StopSignal="SIGUSR2")
    try:
        assert api(daemon, "POST", f"/v1.45/containers/{cid}/start").status == 204
        until(lambda: "ready" in logs(daemon, cid), 20, "the shell to set its trap")
        assert api(daemon, "POST", f"/v1.45/containers/{cid}/stop").status == 204
        assert state(daemon, cid)["ExitCode"] == 42
    finally:
        api(daemon, "DELETE", f"/containers/{cid}?force=1")
    # A StopTimeout of 1: killed a second after the TERM it ignores, not after Docker's 10.
    cid = running_teller(daemon, StopTimeout=1)
    try:
        assert api(daemon, "GET", f"/v1.45/containers/{cid}/json").json()["Config"]["StopTimeout"] == 1
        stopper = threading.Thread(target=api, args=(daemon, "POST", f"/v1.45/containers/{cid}/stop"))
        stopper.start()
        until(lambda: "got TERM" in logs(daemon, cid), 10, "the TERM to be caught")
        until(lambda: not state(daemon, cid)["Running"], 6, "the SIGKILL after its StopTimeout")
        stopper.join()
        assert state(daemon, cid)["ExitCode"] == 137
    finally:
        api(daemon, "DELETE", f"/containers/{cid}?force=1")


class Waiter:
    """A wait whose head has come (dockerd sends it before the container stops) and whose
    body is read in a thread."""

    def __init__(self, daemon, cid: str, query: str = ""):
        self.conn = UnixHTTPConnection(daemon.sock, timeout=60)
        self.conn.request("POST", f"/v1.45/containers/{cid}/wait{query}")
        self.response = self.conn.getresponse()
        self.body: dict | None = None
        self.thread = threading.Thread(target=self._read)
        self.thread.start()

    def _read(self) -> None:
        self.body = json.loads(self.response.read())
        self.conn.close()

    def result(self) -> dict:
        self.thread.join(60)
        assert self.body is not None, "the wait did not end"
        return self.body


def test_wait_conditions(daemon):
    cid = create(daemon, ["sh", "-c", "exit 3"])
    try:
        # not-running: a created container is not running: at once, its exit code 0.
        r = api(daemon, "POST", f"/v1.45/containers/{cid}/wait?condition=not-running")
        assert r.status == 200 and r.json() == {"StatusCode": 0, "Error": None}
        # next-exit: the one after the start that comes after the wait.
        waiter = Waiter(daemon, cid, "?condition=next-exit")
        assert waiter.response.status == 200 and waiter.body is None
        assert api(daemon, "POST", f"/v1.45/containers/{cid}/start").status == 204
        assert waiter.result() == {"StatusCode": 3, "Error": None}
        # removed: not before the container is gone.
        waiter = Waiter(daemon, cid, "?condition=removed")
        until(lambda: state(daemon, cid)["Status"] == "exited", 10, "the exit to be recorded")
        assert waiter.body is None
        assert api(daemon, "DELETE", f"/v1.45/containers/{cid}").status == 204
        assert waiter.result() == {"StatusCode": 3, "Error": None}
    finally:
        api(daemon, "DELETE", f"/containers/{cid}?force=1")


def test_wait_condition_refusal_and_the_versions_before_conditions(daemon):
    cid = create(daemon, ["sh", "-c", "exit 4"])
    try:
        r = api(daemon, "POST", f"/v1.45/containers/{cid}/wait?condition=nope")
        assert r.status == 400 and r.json()["message"] == 'invalid condition: "nope"'
        assert api(daemon, "POST", f"/v1.45/containers/{cid}/start").status == 204
        # API 1.29 had no conditions: the parameter is not read.
        r = api(daemon, "POST", f"/v1.29/containers/{cid}/wait?condition=nope")
        assert r.status == 200 and r.json()["StatusCode"] == 4
    finally:
        api(daemon, "DELETE", f"/containers/{cid}?force=1")
