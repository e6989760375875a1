#!/usr/bin/env python3
"""A chaos client command for the register workload, in plain Python 3.

chaos starts one such process per worker and node. The first line it reads
is init, which names the node and its address; the process answers it once
it is ready:

    {"id":1,"f":"init","workload":"register","node":"n2","addr":"127.0.0.1:41327","client":"c2","nodes":["n1","n2","n3"],"process":0}
    {"id":1,"type":"ok"}

Then it reads one invocation per line, for example

    {"id":8,"workload":"register","f":"cas","key":"r1","value":[3,4],"process":2,"node":"n2","addr":"127.0.0.1:41327","client":"c2"}

performs it against the node at "addr" (the address chaos routes through its
fault layer), and answers with one completion per line on stdout:

    {"id":8,"type":"ok"}                        it happened
    {"id":8,"type":"fail","error":"..."}        it certainly did not happen
    {"id":8,"type":"info","error":"..."}        it may or may not have happened

A read answers {"id":..,"type":"ok","value":5} (null when the key is unset).
This client speaks the example stores' HTTP API; a client for your system
speaks your system's protocol instead. It exits when stdin ends.
"""
import http.client
import json
import socket
import sys

TIMEOUT = 0.9  # below chaos's default 1 s op timeout, so we answer first


class Node:
    def __init__(self, addr):
        self.host, port = addr.rsplit(":", 1)
        self.port = int(port)
        self.conn = None

    def post(self, path, body):
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=TIMEOUT)
        try:
            self.conn.request("POST", path, body=json.dumps(body),
                              headers={"Content-Type": "application/json"})
            resp = self.conn.getresponse()
            return resp.status, resp.read()
        except BaseException:
            self.conn.close()
            self.conn = None
            raise


def perform(nodes, inv):
    node = nodes.setdefault(inv["addr"], Node(inv["addr"]))
    body = {"key": inv.get("key"), "value": inv.get("value")}
    try:
        status, data = node.post("/chaos/register/" + inv["f"], body)
    except ConnectionRefusedError as e:
        return {"type": "fail", "error": "refused: %s" % e}
    except (socket.timeout, OSError, http.client.HTTPException) as e:
        return {"type": "info", "error": "%s: %s" % (type(e).__name__, e)}
    text = data.decode("utf-8", "replace").strip()
    if status == 200:
        value = json.loads(text).get("value") if text else None
        return {"type": "ok", "value": value}
    if status == 409:
        return {"type": "fail", "error": text}
    return {"type": "info", "error": "HTTP %d: %s" % (status, text)}


def main():
    nodes = {}
    for line in sys.stdin:
        if not line.strip():
            continue
        inv = json.loads(line)
        if inv["f"] == "init":
            out = {"type": "ok"}
        else:
            out = perform(nodes, inv)
        out["id"] = inv["id"]
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
