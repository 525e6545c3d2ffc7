"""The HTTP server every local part of the sandbox listens with."""

from __future__ import annotations

from http.server import ThreadingHTTPServer


class LocalHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # The default backlog of 5 resets connections when clients burst (50 approvers clicking at once).
    request_queue_size = 128
