#!/usr/bin/env python3
"""Runs proto/examples/pos_client.py against a stand-in agent that speaks the documented framing."""
import os, pathlib, socket, struct, subprocess, sys, tempfile, threading

root = pathlib.Path(__file__).resolve().parents[2]
gen = tempfile.mkdtemp(prefix="accrue-py-")
subprocess.run(["protoc", "-I", str(root / "proto"), "--python_out", gen,
                "accrue/loyalty/v1/loyalty.proto", "accrue/pos/v1/pos.proto"], check=True)
sys.path[:0] = [gen, str(root / "proto" / "examples")]
from accrue.pos.v1 import pos_pb2  # noqa: E402
import pos_client  # noqa: E402

path = os.path.join(gen, "agent.sock")
server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
server.bind(path)
server.listen(1)
seen = {}

def agent():
    conn, _ = server.accept()
    with conn:
        (n,) = struct.unpack(">I", pos_client.recv_exact(conn, 4))
        req = pos_pb2.Request()
        req.ParseFromString(pos_client.recv_exact(conn, n))
        seen["req"] = req
        resp = pos_pb2.Response(request_id=req.request_id)
        resp.validate.status = pos_pb2.MEMBER_STATUS_ACTIVE
        resp.validate.tier_name = "Gold"
        resp.validate.available_points = 5270
        body = resp.SerializeToString()
        conn.sendall(struct.pack(">I", len(body)) + body)

t = threading.Thread(target=agent, daemon=True)
t.start()
rc = pos_client.main(path, "6001 2345 6789 0123")
t.join(5)
assert rc == 0, rc
req = seen["req"]
assert req.validate.identifier.kind == pos_pb2.IDENTIFIER_KIND_CARD
assert req.validate.identifier.value == "6001 2345 6789 0123"
assert req.till_id == "till-1" and req.request_id
print("1 passed, 0 failed")
