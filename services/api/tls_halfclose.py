"""TLS that a hijacked stream (attach, exec start) can half-close, as dockerd's Go TLS can.

A client ends its stdin on such a stream by closing its side for writing: the docker CLI
(Go's tls.Conn.CloseWrite) sends a TLS close_notify, docker-py (an ssl socket's
shutdown(SHUT_WR)) a TCP FIN. dockerd reads either as the end of the input and goes on
writing the output. asyncio's TLS shuts the whole connection down at either (what the app
protocol's eof_received answers "has no effect when using ssl"): `docker run` over
tcp+tls printed nothing, `docker run -i` hung. This protocol asks the app protocol at the
peer's end, as a plain transport does, and keeps the connection open for writing while it
answers True (hijack.Sniffer does once a handler has taken the connection over); closing
the app transport then ends the TLS session as usual.

It overrides private methods of asyncio.sslproto.SSLProtocol (the state machine of
CPython 3.11 and later); where they are not there, connections get stock asyncio TLS.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from asyncio import sslproto
from typing import Callable

SUPPORTED = all(hasattr(sslproto.SSLProtocol, name)
                for name in ("_call_eof_received", "_start_shutdown", "_do_read", "eof_received")) and \
    hasattr(sslproto, "SSLProtocolState") and hasattr(sslproto, "AppProtocolState")

if SUPPORTED:
    _WRAPPED = sslproto.SSLProtocolState.WRAPPED
    _CON_MADE = sslproto.AppProtocolState.STATE_CON_MADE
    _EOF = sslproto.AppProtocolState.STATE_EOF


class HalfClosableTLS(sslproto.SSLProtocol):
    # The peer ended its side and the app protocol kept the connection: nothing more is read.
    _peer_ended = False
    # The stock read path shuts down right after telling the app of a close_notify: once, not.
    _keep_after_eof = False

    def _ask_app(self) -> bool:
        """Tell the app protocol the peer's input ended; whether it keeps the connection."""
        self._app_state = _EOF
        if not self._app_protocol.eof_received():
            return False
        self._peer_ended = True
        return True

    def _call_eof_received(self):
        # The read path's close_notify, while the session runs; stock otherwise (its shutdown).
        if self._state is _WRAPPED and self._app_state is _CON_MADE:
            try:
                self._keep_after_eof = self._ask_app()
            except Exception as exc:  # noqa: BLE001 - as the stock method: the connection fails
                self._fatal_error(exc, "Error calling eof_received()")
            return
        super()._call_eof_received()

    def _start_shutdown(self):
        if self._keep_after_eof:
            self._keep_after_eof = False
            return
        super()._start_shutdown()

    def _do_read(self):
        if self._peer_ended and self._state is _WRAPPED:
            return   # after its end, a read would take the same end for another one
        super()._do_read()

    def eof_received(self):
        # A TCP FIN without close_notify: what came before it first, then ask the app.
        if self._state is _WRAPPED and self._app_state is _CON_MADE and not self._peer_ended:
            self._do_read()
            if self._state is _WRAPPED and self._app_state is _CON_MADE and self._ask_app():
                # No close_notify can come now: at the app's close, do not wait for one.
                self._eof_received = True
                return True   # the socket stays open for writing
        return super().eof_received()


async def create_server(loop: asyncio.AbstractEventLoop, make_protocol: Callable[[], asyncio.Protocol],
                        sock: socket.socket, ctx: ssl.SSLContext | None, backlog: int) -> asyncio.AbstractServer:
    """A server on `sock` of `make_protocol`'s protocols, behind TLS of `ctx` if one is given."""
    if ctx is None:
        return await loop.create_server(make_protocol, sock=sock, backlog=backlog)
    if not SUPPORTED:
        return await loop.create_server(make_protocol, sock=sock, ssl=ctx, backlog=backlog)
    return await loop.create_server(lambda: HalfClosableTLS(loop, make_protocol(), ctx, None, server_side=True),
                                    sock=sock, backlog=backlog)
