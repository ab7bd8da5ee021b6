"""A real HTTP server on a loopback port that receives webhooks, checks their signatures,
and fails on demand (an HTTP 500, or no answer in time); over TLS when given a context."""

from __future__ import annotations

import json
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from service.webhooks.delivery import verify


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool

    @property
    def payload(self) -> dict[str, Any]:
        return json.loads(self.body)


@dataclass
class Receiver:
    # The signing secret of each endpoint path on this server.
    secrets: dict[str, str] = field(default_factory=dict)
    # What to answer, one entry per request: "ok", "500" or "timeout"; then "ok".
    script: list[str] = field(default_factory=list)
    hang_seconds: float = 1.5
    # Paths that always answer only after hang_seconds (a slow receiver), whatever the script.
    slow_paths: set[str] = field(default_factory=set)
    tls: ssl.SSLContext | None = None
    received: list[Received] = field(default_factory=list)

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                verified = verify(receiver.secrets.get(self.path, ""),
                                  headers.get("x-newsletter-timestamp", ""),
                                  body, headers.get("x-newsletter-signature", ""))
                receiver.received.append(Received(self.path, headers, body, verified))
                mode = receiver.script.pop(0) if receiver.script else "ok"
                if mode == "timeout" or self.path in receiver.slow_paths:
                    time.sleep(receiver.hang_seconds)
                status = 500 if mode == "500" else 204
                try:
                    self.send_response(status)
                    self.end_headers()
                    if status == 500:
                        self.wfile.write(b"receiver broke")
                except OSError:  # the client gave up waiting
                    pass

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if self.tls is not None:
            self.server.socket = self.tls.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def url(self, path: str = "/hooks", host: str = "127.0.0.1") -> str:
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://{host}:{self.server.server_address[1]}{path}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
