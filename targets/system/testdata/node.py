#!/usr/bin/env python3
"""One node that speaks chaos's HTTP contract for the lock and ids workloads:
a single-threaded server, so its lock is safe and its IDs unique.
Usage: node.py PORT MACHINE [broken|CONTROL_PORT]; broken grants every
acquire; a control port serves chaos's clock contract (PUT /clock?offset=D,
and CHAOS_CLOCK_OFFSET at start), and the node's IDs then read the moved clock."""
import json
import os
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

EPOCH_MS = 1577836800000  # 2020-01-01T00:00:00Z
state = {"holder": None, "until": 0.0, "fence": 0, "last_ms": 0, "seq": 0}
UNITS = {"ns": 1e-9, "us": 1e-6, "\u00b5s": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def go_duration(s):
    """Seconds in a Go duration such as -1.5s, 500ms or 1m30s."""
    sign = -1 if s.startswith("-") else 1
    parts = re.findall(r"([0-9.]+)([a-z\u00b5]+)", s.lstrip("+-"))
    return sign * sum(float(n) * UNITS[u] for n, u in parts)


offset = [go_duration(os.environ.get("CHAOS_CLOCK_OFFSET", "0s"))]


def now_ms():
    return int((time.time() + offset[0]) * 1000)


class Control(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_PUT(self):
        q = self.path.split("offset=", 1)
        offset[0] = go_duration(q[1].replace("%C2%B5", "\u00b5")) if len(q) == 2 else 0.0
        self.send_response(200)
        self.end_headers()


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
            broken = len(sys.argv) > 3 and sys.argv[3] == "broken"
            if (state["holder"] != req["value"]["token"] or now >= state["until"]) and not broken:
                return self.answer(409, {"error": "not held"})
            state["holder"] = None
            return self.answer(200, {})
        if self.path == "/chaos/ids/generate":
            ms = now_ms() - EPOCH_MS
            if ms <= state["last_ms"]:
                ms = state["last_ms"]
                state["seq"] += 1
                if state["seq"] > 4095:
                    while now_ms() - EPOCH_MS <= state["last_ms"]:
                        time.sleep(0.0001)
                    ms, state["seq"] = now_ms() - EPOCH_MS, 0
            else:
                state["seq"] = 0
            state["last_ms"] = ms
            return self.answer(200, {"value": (ms << 22) | (int(sys.argv[2]) << 12) | state["seq"]})
        self.answer(404, {})


if len(sys.argv) > 3 and sys.argv[3].isdigit():
    control = HTTPServer(("127.0.0.1", int(sys.argv[3])), Control)
    threading.Thread(target=control.serve_forever, daemon=True).start()
HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
