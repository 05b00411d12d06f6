"""A shim's log lines: the zygote sets up logging once for every shim it forks, and each
shim's lines name its pid and its container."""

from __future__ import annotations

import io
import logging

from services.shim import launch


def test_a_shim_names_its_container_in_its_log_lines(monkeypatch):
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    root = logging.getLogger()
    kept = root.handlers[:], root.level
    try:
        launch.prepare_logging()                 # the zygote, once
        launch.name_log_lines("0123456789ab" + "f" * 52)   # each shim, in become()
        logging.getLogger("shim").warning("the log cannot be written")
        line = stream.getvalue()
        assert "dockyard-shim[" in line and " 0123456789ab WARNING: the log cannot be written" in line
    finally:
        root.handlers[:] = kept[0]
        root.setLevel(kept[1])
