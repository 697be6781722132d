#!/usr/bin/env python3
"""A webhook receiver for demos and lab tests: answers every POST with 200
(or 503 to the first --fail-first ones) and appends it to --out as one JSON
line {"path", "headers", "body"}, flushed at once so a reader sees it.

usage: webhook-sink.py --listen HOST:PORT --out FILE [--fail-first N]
Runs until killed; it sends nothing anywhere.
"""
import argparse
import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--listen", required=True, help="HOST:PORT to listen on")
    ap.add_argument("--out", required=True, help="file to append requests to")
    ap.add_argument("--fail-first", type=int, default=0, help="answer 503 to this many requests first")
    a = ap.parse_args()
    host, _, port = a.listen.rpartition(":")
    if not host or not port.isdigit():
        print(f"webhook-sink: --listen {a.listen!r}: expected HOST:PORT", file=sys.stderr)
        return 2
    state = {"refused": 0}
    out = open(a.out, "a", encoding="utf-8")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (the stdlib's name)
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n).decode("utf-8", "replace")
            if state["refused"] < a.fail_first:
                state["refused"] += 1
                self.send_response(503)
            else:
                rec = {"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body}
                out.write(json.dumps(rec) + "\n")
                out.flush()
                self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer((host.strip("[]"), int(port)), Handler)
    print(f"webhook-sink: listening on {a.listen}, writing {a.out}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
