"""Loopback feed server for tests/it/feeds.rs (standard library only).

Serves the files of a directory with ETag / If-None-Match (304), and a few
hostile endpoints:

  /slow        headers, then one byte every second for a minute (stall)
  /huge        an endless body without Content-Length
  /loop        302 to /loop2, which 302s back to /loop
  /_stats      JSON: per path, requests and how many carried If-None-Match

Usage: feed_server.py DIR  -> prints "PORT <n>" on stdout, serves until killed.
Binds 127.0.0.1 only.
"""

import hashlib
import http.server
import json
import os
import sys
import threading
import time

ROOT = os.path.abspath(sys.argv[1])
STATS = {}
LOCK = threading.Lock()


def count(path, conditional):
    with LOCK:
        s = STATS.setdefault(path, {"requests": 0, "if_none_match": 0, "not_modified": 0})
        s["requests"] += 1
        if conditional:
            s["if_none_match"] += 1
        return s


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        inm = self.headers.get("If-None-Match")
        if path == "/_stats":
            with LOCK:
                body = json.dumps(STATS).encode()
            return self.reply(200, body, "application/json")
        stats = count(path, inm is not None)
        if path == "/slow":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", "100000")
            self.end_headers()
            try:
                for _ in range(60):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(1)
            except OSError:
                pass
            return
        if path == "/huge":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Connection", "close")
            self.end_headers()
            line = b"".join(b"%d.huge.example\n" % i for i in range(1000))
            try:
                for _ in range(100000):
                    self.wfile.write(line)
            except OSError:
                pass
            self.close_connection = True
            return
        if path in ("/loop", "/loop2"):
            self.send_response(302)
            self.send_header("Location", "/loop2" if path == "/loop" else "/loop")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        full = os.path.abspath(os.path.join(ROOT, path.lstrip("/")))
        if not full.startswith(ROOT + os.sep) or not os.path.isfile(full):
            return self.reply(404, b"not found", "text/plain")
        with open(full, "rb") as f:
            body = f.read()
        etag = '"%s"' % hashlib.sha256(body).hexdigest()[:16]
        if inm == etag:
            with LOCK:
                stats["not_modified"] += 1
            self.send_response(304)
            self.send_header("ETag", etag)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.reply(200, body, "application/octet-stream", etag)

    def reply(self, code, body, ctype, etag=None):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        if etag:
            self.send_header("ETag", etag)
        self.end_headers()
        self.wfile.write(body)


def main():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    print("PORT %d" % srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
