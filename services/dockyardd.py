"""dockyardd: check the settings, lay out the roots, then become supervisord running the services.

It refuses to start, with one line saying why, rather than start half-way: an exposed
TCP port without TLS, a socket or port another process serves, an unwritable root.
"""

from __future__ import annotations

import argparse
import errno
import os
import socket
import stat
import sys

import services
from services.common import daemon_lock, layout, sockets
from services.common.config import SUPERVISORD_PID_ENV, ConfigError, Settings, parse_host
from services.kernel import page_merging

PROGRAMS = sockets.SERVICES  # supervisord's programs, started in this order
# How long the services of a killed dockyardd may take to stop before a new one refuses.
ORPHAN_GRACE = 10.0


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="dockyardd", description="The Dockyard container engine daemon")
    p.add_argument("-H", "--host", action="append", dest="hosts", metavar="HOST",
                   help="unix:///path or tcp://host:port to listen on (repeatable)")
    p.add_argument("--data-root", help="where images, containers and volumes are kept")
    p.add_argument("--exec-root", help="where sockets and run-time state are kept")
    p.add_argument("--config-file", help="a YAML file of settings (see deploy/dockyard.yaml)")
    p.add_argument("--tlsverify", action="store_true", default=None,
                   help="serve TLS and accept only clients whose certificate --tlscacert signed")
    p.add_argument("--tlscacert", help="CA certificate that client certificates must be signed by")
    p.add_argument("--tlscert", help="the server's TLS certificate")
    p.add_argument("--tlskey", help="the server's TLS key")
    p.add_argument("--runtime", help="the default container runtime: builtin or runc")
    p.add_argument("--cgroup-parent", help="the cgroup containers are placed under")
    p.add_argument("-G", "--group", help="group that may use the unix socket")
    p.add_argument("-b", "--bridge", help="the default bridge network's link name")
    p.add_argument("--bip", help="the default bridge's address and subnet (CIDR)")
    p.add_argument("--fixed-cidr", help="the part of the default bridge's subnet containers get addresses from")
    p.add_argument("--default-address-pool", action="append", dest="default_address_pools", metavar="POOL",
                   help="base=CIDR,size=N: where user-defined networks get subnets (repeatable)")
    p.add_argument("-l", "--log-level", help="debug, info, warn, error or fatal")
    p.add_argument("--log-driver", help="containers' default log driver: json-file, local or none")
    p.add_argument("--log-opt", action="append", dest="log_opts", metavar="KEY=VALUE",
                   help="an option of the default log driver (repeatable)")
    return p.parse_args(argv)


def resolve_settings(args: argparse.Namespace) -> Settings:
    settings = Settings.from_file(args.config_file) if args.config_file else Settings()
    overrides = {k: v for k, v in vars(args).items() if v is not None and k != "config_file"}
    settings.update(overrides, source="command line")
    settings.validate()
    return settings


def preflight(settings: Settings) -> None:
    """Refuse what would fail later or harm another daemon."""
    try:
        sockets.check_room(settings.exec_root)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    for name, path in (("data root", settings.data_root), ("exec root", settings.exec_root)):
        try:
            layout.check_writable(path)
        except OSError as exc:
            raise ConfigError(f"{name} {path} is not writable: {exc.strerror}") from None
    if _answers(os.path.join(settings.exec_root, "supervisord.sock")):
        raise ConfigError(f"another dockyardd is running with exec root {settings.exec_root}")
    _wait_for_orphans(settings.exec_root)
    for text in settings.hosts:
        host = parse_host(text, settings.tls)
        if host.scheme == "unix":
            if os.path.lexists(host.path):
                if _answers(host.path):
                    raise ConfigError(f"another daemon is answering on {host}; stop it first")
                if not _is_socket(host.path):
                    raise ConfigError(f"{host.path} exists and is not a socket")
        else:
            _check_port_free(host)


def _wait_for_orphans(exec_root: str) -> None:
    """The services of a dockyardd that was killed (kill -9) stop by themselves once their
    supervisord is gone (services.common.service.watch_parent): give them a moment to. Each
    holds the services' lock while it lives (services.common.daemon_lock)."""
    left = daemon_lock.wait_free(exec_root, ORPHAN_GRACE)
    if left:
        raise ConfigError(f"services of a dockyardd that was killed are still running (pids "
                          f"{', '.join(map(str, left))}); stop them first")


def _answers(path: str) -> bool:
    if not _is_socket(path):
        return False
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(2)
    try:
        probe.connect(path)
        return True
    except OSError:
        return False
    finally:
        probe.close()


def _is_socket(path: str) -> bool:
    try:
        return stat.S_ISSOCK(os.lstat(path).st_mode)
    except OSError:
        return False


def _check_port_free(host) -> None:
    family = socket.AF_INET6 if ":" in host.host else socket.AF_INET
    probe = socket.socket(family, socket.SOCK_STREAM)
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        probe.bind((host.host, host.port))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(f"cannot listen on {host}: the address is already in use") from None
        raise ConfigError(f"cannot listen on {host}: {exc.strerror}") from None
    finally:
        probe.close()


def supervisord_conf(settings: Settings, runtime_file: str) -> str:
    """supervisord's configuration: one program per service, logs to dockyardd's stdout."""
    root = settings.exec_root
    pythonpath = os.path.dirname(os.path.dirname(os.path.abspath(services.__file__)))
    lines = [
        "[unix_http_server]",
        f"file={root}/supervisord.sock",
        "chmod=0700",
        "",
        "[supervisord]",
        "nodaemon=true",
        "user=root",
        f"logfile={root}/supervisord.log",
        "logfile_maxbytes=10MB",
        "logfile_backups=1",
        f"pidfile={root}/supervisord.pid",
        f"childlogdir={root}",
        "loglevel=" + {"debug": "debug", "warn": "warn", "error": "error", "fatal": "critical"}
        .get(settings.log_level, "info"),
        "",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        "",
        "[supervisorctl]",
        f"serverurl=unix://{root}/supervisord.sock",
        "",
    ]
    for priority, name in enumerate(PROGRAMS, start=1):
        lines += [
            f"[program:{name}]",
            f"command={sys.executable} -m services.{name} --config {runtime_file}",
            f"directory={root}",
            # The pid supervisord will have (dockyardd execs it): a service that outlives it
            # stops (services.common.service.watch_parent).
            f"environment=PYTHONPATH=\"{pythonpath}\",PYTHONUNBUFFERED=\"1\","
            f"{SUPERVISORD_PID_ENV}=\"{os.getpid()}\"",
            f"priority={priority * 10}",
            "autostart=true",
            "autorestart=true",
            "startsecs=1",
            "startretries=1000",
            "stopsignal=TERM",
            "stopwaitsecs=10",
            # Only the service itself is stopped: shims and containers live on.
            "stopasgroup=false",
            "killasgroup=false",
            "redirect_stderr=true",
            "stdout_logfile=/dev/stdout",
            "stdout_logfile_maxbytes=0",
            "",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        settings = resolve_settings(args)
        preflight(settings)
    except ConfigError as exc:
        sys.exit(f"dockyardd: {exc}")
    try:
        layout.prepare_exec_root(settings.exec_root)
        layout.prepare_data_root(settings.data_root)
    except Exception as exc:  # a root that cannot be laid out: one line, not a traceback
        sys.exit(f"dockyardd: cannot prepare {settings.data_root}: {exc}")
    if settings.memory_merge and (why_not := page_merging.turn_on()):
        print(f"dockyardd: {why_not}", file=sys.stderr)
    runtime_file = os.path.join(settings.exec_root, "daemon.json")
    settings.write_runtime_file(runtime_file)
    conf = os.path.join(settings.exec_root, "supervisord.conf")
    with open(conf + ".tmp", "w") as fh:
        fh.write(supervisord_conf(settings, runtime_file))
    os.replace(conf + ".tmp", conf)
    sys.stdout.flush()
    os.execv(sys.executable, [sys.executable, "-m", "services.supervision", "-c", conf])


if __name__ == "__main__":
    main()
