#!/usr/bin/env python3
"""Validate a loyalty card at the local Accrue agent: the smallest useful POS integration.

Generate the Python bindings once (Debian: protobuf-compiler, python3-protobuf):
    protoc -I proto --python_out=. proto/accrue/loyalty/v1/loyalty.proto proto/accrue/pos/v1/pos.proto
Then:  python3 pos_client.py /run/accrue/agent.sock 6001234567890123
"""
import socket, struct, sys, uuid
from accrue.pos.v1 import pos_pb2

def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("agent closed the connection")
        data += chunk
    return data

def call(sock, request):
    body = request.SerializeToString()
    sock.sendall(struct.pack(">I", len(body)) + body)        # 4-byte big-endian length, then body
    (length,) = struct.unpack(">I", recv_exact(sock, 4))
    response = pos_pb2.Response()
    response.ParseFromString(recv_exact(sock, length))
    return response

def main(path, card):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(2.0)
        sock.connect(path)
        req = pos_pb2.Request(request_id=str(uuid.uuid4()), till_id="till-1", deadline_ms=500)
        req.validate.identifier.kind = pos_pb2.IDENTIFIER_KIND_CARD
        req.validate.identifier.value = card
        req.validate.identifier.entry_mode = pos_pb2.ENTRY_MODE_SCANNED
        resp = call(sock, req)
        if resp.HasField("error"):
            print("error:", resp.error.message, "(retry)" if resp.error.retryable else "")
            return 1
        v = resp.validate
        print(pos_pb2.MemberStatus.Name(v.status), v.tier_name, v.available_points, "points")
        return 0

if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
