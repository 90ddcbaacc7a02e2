"""The ``/metrics`` endpoint: prometheus_client's WSGI app on a threaded server, always
answering in Prometheus' text format.

Prometheus asks for OpenMetrics first, and prometheus_client's OpenMetrics writer (0.26)
escapes the colons of sample names (``vllm:num_requests_waiting`` becomes
``vllm_num_requests_waiting``), so dashboards and routers made for vLLM would find nothing. The
text format keeps the names as registered.
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

TEXT_FORMAT = "text/plain; version=0.0.4"


class QuietHandler(WSGIRequestHandler):
    """No access log line per scrape."""

    def log_message(self, format: str, *args: Any) -> None:
        """Drops the line."""


def text_format_app(registry: CollectorRegistry) -> Callable[..., Iterable[bytes]]:
    """The registry's WSGI app, answering every scrape in the text format."""
    app = make_wsgi_app(registry)

    def text_only(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        return app({**environ, "HTTP_ACCEPT": TEXT_FORMAT}, start_response)

    return text_only


def serve_metrics(
    registry: CollectorRegistry, host: str, port: int, tls: ssl.SSLContext | None
) -> tuple[ThreadingWSGIServer, threading.Thread]:
    """Serves the registry on ``host:port`` (0: any) from a daemon thread."""

    class Server(ThreadingWSGIServer):
        address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

    httpd = make_server(host, port, text_format_app(registry), Server, handler_class=QuietHandler)
    if tls is not None:
        httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True, name="gpuplane-metrics")
    thread.start()
    return httpd, thread
