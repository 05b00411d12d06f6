"""Relaying a service's stream to an HTTP client: progress as Docker's JSON messages, raw bytes.

The response is committed (200) only once the first chunk arrives, so an error the
service finds before it has anything to say still gets its own status code (but where
dockerd streams every error, as its load does: `always_ok`). Later errors travel in the
stream, as Docker's `errorDetail` message. A client that goes away cancels the service's
work.
"""

from __future__ import annotations

import json
from typing import AsyncIterator, Callable

from aiohttp import web

from services.common import errors, wire

# Bytes a reader of a request body hands on at once.
BODY_CHUNK = 1 << 16


async def request_body(request: web.Request) -> AsyncIterator[bytes]:
    async for chunk in request.content.iter_chunked(BODY_CHUNK):
        yield chunk


def progress_bar(current: int, total: int) -> str:
    """Docker's text progress bar: [=====>      ]  1.2MB/3.4MB."""
    def size(n: float) -> str:
        for unit in ("B", "kB", "MB", "GB", "TB"):
            if n < 1000 or unit == "TB":
                return f"{n:.3g}{unit}" if unit != "B" else f"{int(n)}B"
            n /= 1000
        return f"{n}B"
    if total <= 0:
        return size(current)
    width = 50
    filled = min(width, int(width * current / total))
    arrow = ">" if filled < width else ""
    bar = "=" * filled + arrow + " " * (width - filled - len(arrow))
    return f"[{bar}] {size(current):>8}/{size(total)}"


def json_message(chunk: dict, show_id: Callable[[str], str]) -> dict:
    msg: dict = {}
    if chunk.get("stream") is not None:
        msg["stream"] = chunk["stream"]
    if chunk.get("status") is not None:
        status = chunk["status"]
        msg["status"] = show_id(status) if status.startswith("sha256:") else status
    if chunk.get("id"):
        msg["id"] = chunk["id"]
    if chunk.get("current") is not None:
        total = chunk.get("total") or 0
        msg["progressDetail"] = {"current": chunk["current"], **({"total": total} if total else {})}
        msg["progress"] = progress_bar(chunk["current"], total)
    return msg


def error_message(message: str) -> dict:
    return {"errorDetail": {"message": message}, "error": message}


async def _first(stream: wire.ReplyStream):
    try:
        return await stream.__anext__(), False
    except StopAsyncIteration:
        return None, True


async def relay_progress(request: web.Request, stream: wire.ReplyStream, content_type: str,
                         show_id: Callable[[str], str],
                         message: Callable[[dict], dict] | None = None,
                         always_ok: bool = False) -> web.StreamResponse:
    """`message` makes a chunk Docker's JSON message (json_message, by default). `always_ok`:
    an error before the first chunk is in the stream of a 200 too (as dockerd's load)."""
    message = message or (lambda chunk: json_message(chunk, show_id))
    try:
        failed = None
        try:
            first, done = await _first(stream)
        except errors.DockyardError as exc:
            if not always_ok:
                raise
            first, done, failed = None, True, exc
        response = web.StreamResponse(status=200, headers={"Content-Type": content_type})
        await response.prepare(request)
        if failed is not None:
            await _write(response, error_message(failed.message))
        if done:
            return response
        try:
            await _write(response, message(first))
            async for chunk in stream:
                await _write(response, message(chunk))
        except errors.DockyardError as exc:
            await _write(response, error_message(exc.message))
        return response
    finally:
        await stream.aclose()


async def relay_bytes(request: web.Request, stream: wire.ReplyStream, content_type: str,
                      headers: dict | None = None) -> web.StreamResponse:
    """The stream's bytes as the body: raw chunks, or the bytes of labelled raw frames."""
    try:
        first, done = await _first(stream)
        response = web.StreamResponse(status=200, headers={"Content-Type": content_type, **(headers or {})})
        await response.prepare(request)
        if not done:
            await response.write(first[1] if isinstance(first, tuple) else first)
            try:
                async for chunk in stream:
                    await response.write(chunk[1] if isinstance(chunk, tuple) else chunk)
            except errors.DockyardError:
                # Too late for a status: cut the body short so the client sees a broken archive.
                if request.transport is not None:
                    request.transport.close()
        return response
    finally:
        await stream.aclose()


async def _write(response: web.StreamResponse, message: dict) -> None:
    await response.write(json.dumps(message, separators=(",", ":")).encode() + b"\r\n")
