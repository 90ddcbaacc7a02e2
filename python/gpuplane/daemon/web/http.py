"""A minimal read-only HTTP/1.1 server on asyncio streams, for the daemon's web page.

It runs on the daemon's event loop, so handlers read the engine from the thread that mutates
it. Only ``GET`` and ``HEAD`` are served; one request per connection (``Connection: close``).
Requests are bounded (header size, time to send them) so a slow or hostile client cannot hold
the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import logging
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

log = logging.getLogger("gpuplane.daemon")

MAX_HEADER_BYTES = 16 * 1024
READ_TIMEOUT_S = 10.0
GZIP_MIN_BYTES = 1024


@dataclass(frozen=True)
class Request:
    """A parsed request: method, path, query parameters and headers (names lower-cased)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]

    def cookie(self, name: str) -> str | None:
        """The value of cookie ``name``, if sent."""
        for part in self.headers.get("cookie", "").split(";"):
            key, _, value = part.strip().partition("=")
            if key == name and value:
                return value
        return None


@dataclass(frozen=True)
class Response:
    """A response; ``body`` is sent gzipped when the client accepts it and it is large enough."""

    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Request], Awaitable[Response]]


def parse_head(head: bytes) -> Request:
    """The request of a header block; ``ValueError`` if malformed."""
    lines = head.decode("latin-1").split("\r\n")
    method, target, version = lines[0].split(" ")
    if not version.startswith("HTTP/1."):
        raise ValueError(f"unsupported protocol {version!r}")
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    url = urlsplit(target)
    return Request(method.upper(), url.path or "/", parse_qs(url.query), headers)


def encode(request: Request, response: Response) -> bytes:
    """The bytes of ``response`` to ``request`` (status line, headers, body unless HEAD)."""
    body, headers = response.body, dict(response.headers)
    if len(body) >= GZIP_MIN_BYTES and "gzip" in request.headers.get("accept-encoding", ""):
        body = gzip.compress(body, compresslevel=5)
        headers["Content-Encoding"] = "gzip"
        headers["Vary"] = "Accept-Encoding"
    headers.setdefault("Content-Type", response.content_type)
    headers["Content-Length"] = str(len(body))
    headers["Connection"] = "close"
    headers.setdefault("X-Content-Type-Options", "nosniff")
    status = HTTPStatus(response.status)
    head = f"HTTP/1.1 {status.value} {status.phrase}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    return head.encode("latin-1") + (b"" if request.method == "HEAD" else body)


async def read_request(reader: asyncio.StreamReader) -> Request:
    """Reads one request's header block (the server takes no bodies)."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT_S)
    return parse_head(head[:-4])


class HttpServer:
    """Serves ``handler`` on ``host:port`` (port 0: any), with TLS when ``ssl_context`` is set."""

    def __init__(self, handler: Handler, ssl_context: ssl.SSLContext | None = None):
        self.handler = handler
        self.ssl_context = ssl_context
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        """The bound port."""
        assert self._server is not None, "not started"
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self, host: str, port: int) -> None:
        """Binds and starts accepting."""
        self._server = await asyncio.start_server(
            self._connection, host, port, ssl=self.ssl_context, limit=MAX_HEADER_BYTES
        )

    async def stop(self) -> None:
        """Stops accepting and closes the listening socket."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await read_request(reader)
        except (ValueError, asyncio.LimitOverrunError, asyncio.IncompleteReadError, TimeoutError):
            writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            await self._close(writer)
            return
        except (ConnectionError, ssl.SSLError):
            await self._close(writer)
            return
        writer.write(encode(request, await self._respond(request)))
        await self._close(writer)

    async def _respond(self, request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return Response(405, b"read-only: GET and HEAD only\n", headers={"Allow": "GET, HEAD"})
        try:
            return await self.handler(request)
        except Exception:
            log.exception("web: %s %s failed", request.method, request.path)
            return Response(500, b"internal error; see the daemon's log\n")

    @staticmethod
    async def _close(writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, ssl.SSLError, TimeoutError):
            await asyncio.wait_for(writer.drain(), READ_TIMEOUT_S)
            writer.close()
            await asyncio.wait_for(writer.wait_closed(), READ_TIMEOUT_S)
