"""The daemon's live web page (``gpuplane serve --http-port``): see :mod:`.app`.

It listens on the gRPC service's host, with its TLS (and client-certificate check) and its
tokens, so a non-loopback page is exactly as protected as the service.
"""

from __future__ import annotations

import logging
import ssl

from gpuplane.daemon.auth import TokenInterceptor, has_tokens
from gpuplane.daemon.config import ServeConfig, host_of
from gpuplane.daemon.engine import Engine
from gpuplane.daemon.tokens import Tokens
from gpuplane.daemon.web.app import WebApp
from gpuplane.daemon.web.http import HttpServer

log = logging.getLogger("gpuplane.daemon")


def ssl_context(config: ServeConfig) -> ssl.SSLContext | None:
    """The server's TLS (the gRPC certificate and key; client certificates when a CA is set)."""
    if not config.tls:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(config.tls_cert), str(config.tls_key))
    if config.tls_client_ca is not None:
        context.load_verify_locations(str(config.tls_client_ca))
        context.verify_mode = ssl.CERT_REQUIRED
    return context


async def start_web(config: ServeConfig, engine: Engine) -> HttpServer | None:
    """Serves the page on ``config.http_port`` (None: no page); returns the running server."""
    if config.http_port is None:
        return None
    tokens = (
        TokenInterceptor(Tokens.load(config.tokens_file, config.admin_token)) if has_tokens(config) else None
    )
    context = ssl_context(config)
    server = HttpServer(WebApp(engine, tokens, secure_cookie=context is not None), context)
    host = host_of(config.listen) or "127.0.0.1"
    try:
        await server.start(host, config.http_port)
    except OSError as e:
        raise ValueError(f"--http-port {config.http_port}: cannot listen on {host}: {e.strerror}") from e
    log.info("web page on %s://%s:%d/", "https" if context else "http", host, server.port)
    return server
