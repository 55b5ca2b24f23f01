"""A real HTTP gateway on 127.0.0.1 for delivery tests: records every request, drops
duplicates by Idempotency-Key like a real SMS/WeChat bridge, and can be told to fail."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from molar.delivery.channels import verify_signature


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict:
        return json.loads(self.body)

    @property
    def key(self) -> str | None:
        return self.headers.get("Idempotency-Key")


@dataclass
class Gateway:
    secret: str = "gateway-secret"
    requests: list[Received] = field(default_factory=list)
    delivered: dict[str, Received] = field(default_factory=dict)   # one per idempotency key
    fail_next: int = 0
    fail_status: int = 503
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/send"

    def fail(self, times: int, status: int = 503) -> None:
        with self.lock:
            self.fail_next, self.fail_status = times, status

    def start(self) -> Gateway:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server API
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                received = Received(self.path, dict(self.headers.items()), body)
                with gateway.lock:
                    gateway.requests.append(received)
                    if gateway.fail_next > 0:
                        gateway.fail_next -= 1
                        status, answer = gateway.fail_status, {"error": "try later"}
                    elif not verify_signature(body, received.headers, gateway.secret):
                        status, answer = 401, {"error": "bad signature"}
                    elif received.key in gateway.delivered:
                        status, answer = 200, {"duplicate": True}
                    else:
                        gateway.delivered[received.key] = received
                        status, answer = 200, {"accepted": True}
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()
