"""A quiet HTTP/1.1 server on 127.0.0.1 for the download tests (no network is needed)."""

from __future__ import annotations

import http.server
import threading

#: how often a serving loop looks for shutdown() (seconds)
POLL_S = 0.02


class LoopbackServer:
    """Serves in a daemon thread once :meth:`start` is called. Subclasses answer each GET in
    :meth:`get` (given the request handler) and release answers they hold back in
    :meth:`unblock`, which :meth:`close` calls first."""

    path = "/"

    def start(self) -> None:
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                outer.get(self)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        # shutdown() waits for the serving loop's next poll: 20 ms, not the default half second
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": POLL_S},
                                       daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{self.path}"

    def get(self, request: http.server.BaseHTTPRequestHandler) -> None:
        """Answer one GET; "not found" unless a subclass serves something."""
        request.send_error(404)

    def unblock(self) -> None:
        """Let go of answers held back (a stalled download); nothing by default."""

    def close(self) -> None:
        self.unblock()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)
