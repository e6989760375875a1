#!/usr/bin/env python3
"""One node that speaks chaos's HTTP contract for the lock and ids workloads:
a single-threaded server, so its lock is safe and its IDs unique.
Usage: node.py PORT MACHINE [broken]; broken grants every acquire."""
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

EPOCH_MS = 1577836800000  # 2020-01-01T00:00:00Z
state = {"holder": None, "until": 0.0, "fence": 0, "last_ms": 0, "seq": 0}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, status, body):
        b = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)

    def do_GET(self):
        self.answer(200, {})

    def do_POST(self):
        req = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        now = time.monotonic()
        if self.path == "/chaos/lock/acquire":
            broken = len(sys.argv) > 3 and sys.argv[3] == "broken"
            if state["holder"] is not None and now < state["until"] and not broken:
                return self.answer(409, {"error": "held"})
            state["fence"] += 1
            ttl = req["value"]["ttl_ns"] / 1e9
            state["holder"], state["until"] = "t%d" % state["fence"], now + ttl
            return self.answer(200, {"value": {"token": state["holder"], "fence": state["fence"],
                                               "validity_ns": int(ttl * 1e9)}})
        if self.path == "/chaos/lock/release":
            if (state["holder"] != req["value"]["token"] or now >= state["until"]) and len(sys.argv) <= 3:
                return self.answer(409, {"error": "not held"})
            state["holder"] = None
            return self.answer(200, {})
        if self.path == "/chaos/ids/generate":
            ms = int(time.time() * 1000) - EPOCH_MS
            if ms <= state["last_ms"]:
                ms = state["last_ms"]
                state["seq"] += 1
                if state["seq"] > 4095:
                    while int(time.time() * 1000) - EPOCH_MS <= state["last_ms"]:
                        time.sleep(0.0001)
                    ms, state["seq"] = int(time.time() * 1000) - EPOCH_MS, 0
            else:
                state["seq"] = 0
            state["last_ms"] = ms
            return self.answer(200, {"value": (ms << 22) | (int(sys.argv[2]) << 12) | state["seq"]})
        self.answer(404, {})


HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
