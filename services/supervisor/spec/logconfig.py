"""HostConfig.LogConfig at create: the daemon's log driver and options filled in, then checked
as Docker checks them (services.common.logdrivers), a 400 with Docker's message if refused."""

from __future__ import annotations

from services.common import errors, logdrivers

DEFAULT = {"Type": logdrivers.JSON_FILE, "Config": {}}


def log_config(given: dict | None, default: dict) -> dict:
    try:
        return logdrivers.merged(given, default)
    except logdrivers.LogConfigError as exc:
        raise errors.BadParameter(str(exc)) from None


def log_path(paths: dict, config: dict) -> str:
    """The record's LogPath: the json-file log's; none for the other drivers (Docker keeps the
    local driver's files out of the API)."""
    return paths["log"] if config["Type"] == logdrivers.JSON_FILE else ""
