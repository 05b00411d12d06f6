"""The api's listening sockets: the unix socket (0660, group set before listen) and TCP, TLS."""

from __future__ import annotations

import grp
import os
import socket
import ssl

from services.common.config import Host, Settings, parse_host


def unix_socket(path: str, group: str) -> socket.socket:
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    if os.path.exists(path):
        os.unlink(path)  # dockyardd checked at start that no live daemon answers here
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    # Permissions are set between bind and listen, so there is no moment the socket is open to all.
    os.chmod(path, 0o660)
    try:
        os.chown(path, 0, grp.getgrnam(group).gr_gid)
    except KeyError:
        pass  # no such group on this host: root only
    return sock


def tcp_socket(host: Host) -> socket.socket:
    family = socket.AF_INET6 if ":" in host.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host.host, host.port))
    return sock


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    if not settings.tls:
        return None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(settings.tlscert, settings.tlskey)
    if settings.tlsverify:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(settings.tlscacert)
    return ctx


def open_all(settings: Settings) -> list[tuple[socket.socket, ssl.SSLContext | None]]:
    """Every listening socket the settings ask for; TLS applies to TCP only, as in dockerd."""
    ctx = tls_context(settings)
    out = []
    for text in settings.hosts:
        host = parse_host(text, settings.tls)
        if host.scheme == "unix":
            out.append((unix_socket(host.path, settings.group), None))
        else:
            out.append((tcp_socket(host), ctx))
    return out
