"""What a service process loads and reads at start: only what it uses (a heavy module that
serves rare requests loads with the first of them), and its one argument."""

from __future__ import annotations

import subprocess
import sys

import pytest

from services.common import service


def _loaded(code: str, modules: tuple[str, ...]) -> list[str]:
    """Which of `modules` are loaded after `code` runs in a new interpreter."""
    program = f"import sys; {code}; print(sorted(m for m in {modules!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True).stdout
    return eval(out)


@pytest.mark.parametrize("name", ["registry", "builder"])
def test_services_that_seldom_fetch_do_not_load_an_http_client(name):
    """aiohttp's client comes with the first pull, push, search, login or download."""
    assert _loaded(f"import services.{name}.__main__", ("aiohttp", "yarl", "multidict")) == []


def test_links_load_no_netlink_library():
    """Links pack their few rtnetlink messages themselves (services.kernel.rtnetlink)."""
    assert _loaded("import services.kernel.links", ("pyroute2",)) == []


def test_a_service_takes_its_config_file():
    assert service._config_path("api", ["--config", "/run/x/daemon.json"]) == "/run/x/daemon.json"
    assert service._config_path("api", ["--config=/run/x/daemon.json"]) == "/run/x/daemon.json"


@pytest.mark.parametrize("args", [[], ["--config"], ["/run/x/daemon.json"], ["--config", "a", "b"], ["--conf", "a"]])
def test_a_service_refuses_other_arguments_saying_how(args):
    with pytest.raises(SystemExit, match=r"usage: python -m services.api --config DAEMON_JSON"):
        service._config_path("api", args)
