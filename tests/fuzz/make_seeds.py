#!/usr/bin/env python3
"""Writes the seed corpora for fuzz_flight_data, fuzz_json and fuzz_auth_header into
tests/fuzz/corpus/<name>/. FlightData protobufs are hand-encoded (no protobuf dependency)."""
import base64
import os
import struct

import pyarrow as pa

HERE = os.path.dirname(os.path.abspath(__file__))


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def ld(field, payload):
    return varint((field << 3) | 2) + varint(len(payload)) + payload


def vi(field, value):
    return varint(field << 3) + varint(value)


def write(name, seeds):
    d = os.path.join(HERE, "corpus", name)
    os.makedirs(d, exist_ok=True)
    for i, data in enumerate(seeds):
        with open(os.path.join(d, "seed_%02d" % i), "wb") as f:
            f.write(data)


def ipc_messages(batch):
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as w:
        w.write_batch(batch)
    reader = pa.ipc.MessageReader.open_stream(sink.getvalue())
    return [(m.metadata.to_pybytes(), m.body.to_pybytes() if m.body else b"") for m in reader]


def flight_data(header, body, desc=None, app=b""):
    out = b""
    if desc is not None:
        out += ld(1, desc)
    out += ld(2, header)
    if app:
        out += ld(3, app)
    if body:
        out += ld(1000, body)
    return out


def framed(msgs):
    return b"".join(struct.pack("<H", len(m)) + m for m in msgs if len(m) < 65536)


def flight_seeds():
    batches = [
        pa.record_batch({"a": pa.array([1, 2, None], pa.int64()), "s": ["x", None, "zz"]}),
        pa.record_batch({"d": pa.array(["a", "b", "a"]).dictionary_encode(),
                         "l": pa.array([[1], [], None], pa.list_(pa.int32()))}),
        pa.record_batch({"f": pa.array([1.5, None], pa.float64()), "b": [True, False]}),
    ]
    desc = vi(1, 2) + ld(3, b"t")  # FlightDescriptor{type=PATH, path=["t"]}
    seeds = []
    for rb in batches:
        msgs = ipc_messages(rb)
        fds = [flight_data(h, b, desc if i == 0 else None, b"md" if i else b"")
               for i, (h, b) in enumerate(msgs)]
        seeds.append(framed(fds))
        seeds.append(framed(fds[:1]))
    seeds.append(framed([ld(1, desc)]))  # descriptor only
    seeds.append(framed([b""]))
    return seeds


def json_seeds():
    docs = [
        '{"sql": "SELECT 1", "params": [1, 2.5, -3e10, true, false, null]}',
        '{"a": {"b": {"c": ["\\u00e9\\ud83d\\ude00", "\\n\\t\\"\\\\", "\\u0000"]}}}',
        '[]', '{}', '"str"', '123456789012345678901', '-0.0', '[[[[[[]]]]]]',
        '{"table": "t", "mode": "append", "columns": ["x", "y"]}',
    ]
    return [d.encode() for d in docs]


# A test certificate (EC P-256 key, signed by a throwaway test CA; public, no secret).
CERT_B64 = (
    "MIICOzCCASOgAwIBAgIBAzANBgkqhkiG9w0BAQsFADARMQ8wDQYDVQQDDAZ0ZXN0"
    "Y2EwHhcNMjQwMjI5MTIzNDU2WhcNNDkxMjMxMjM1OTU5WjAcMRowGAYDVQQDDBFt"
    "YWxsYXJkLXVuaXQtdGVzdDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABGqNHjuw"
    "7TBi2LC0tAXiPKElwWkCCYkINfLieL2O6yb5Qn4tOGs1Tq5aCPVFx5QK9k6c3WbF"
    "Q5Cz29YlfLCmEVujXjBcMBoGA1UdEQQTMBGCCWxvY2FsaG9zdIcEfwAAATAdBgNV"
    "HQ4EFgQU7kV13bBEM8kotBRSV82BXZAsYgUwHwYDVR0jBBgwFoAUBCE7aqbHLd2t"
    "Wxbn3cJC1nwtefwwDQYJKoZIhvcNAQELBQADggEBAEHazk4FXm3QwFtp0S25vYpn"
    "rEgol8z5/w4i2j+6DmvzGBxgjx9fmzpZspbPC+otkd5pEBkTlG3Tp8cVT5VJ642U"
    "+RU2GcCf/fQJkV/ohXdieH1sp4HESkKwONPql15QshosHLOsoge/U1+T7lrX2IOb"
    "jtsPoTGl/TijNVPzeHL+A1WFAXFcorfYtXrjnBiEYNtLLG5LdQlOl8tMc9ur7Kn+"
    "bkbTOPY7w5GevsHZI+TiJcJmYLnXxu76WBJSt3FnUAdqMMN7Zv/Bp5TcXwQaC8zl"
    "DfhvwI+GKV6CQEkbynkuaX0k+6z2/UMK6foZHDyJAJm9AThOGH2YTGU8hwCHXGI="
)


def auth_seeds():
    basic = base64.b64encode(b"alice:secret").decode()
    headers = ["Basic " + basic, "bearer abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
               "Basic " + base64.b64encode(b":nouser").decode(), "Basic !!!", "Bearer "]
    seeds = [b"\x00" + h.encode() for h in headers]
    basic_proto = ld(2, b"alice") + ld(3, b"secret")
    seeds.append(b"\x01" + vi(1, 1) + ld(2, basic_proto))
    seeds.append(b"\x01" + vi(1, 0))
    seeds.append(b"\x02" + basic_proto)
    seeds.append(b"\x02" + ld(2, b"bob") + vi(7, 5))
    seeds.append(b"\x03" + base64.b64decode(CERT_B64))  # a certificate's DER (validity reader)
    return seeds


def proto_seeds():
    """fuzz_flight_proto: first byte = message kind (0 descriptor, 1 ticket, 2 action,
    3 handshake, 4 FlightInfo, 5 PollInfo, 6 FlightEndpoint), then the protobuf bytes."""
    cmd_desc = vi(1, 2) + ld(2, b'{"table": "t", "mode": "append"}')
    path_desc = vi(1, 1) + ld(3, b"a") + ld(3, b"b")
    ticket = ld(1, b"SELECT 42")
    action = ld(1, b"drop_table") + ld(2, b"t")
    handshake = vi(1, 0) + ld(2, b"payload")
    ts = vi(1, 1700000000) + vi(2, 5)
    endpoint = ld(1, ticket) + ld(2, ld(1, b"grpc://127.0.0.1:8815")) + ld(3, ts) + ld(4, b"m")
    schema = pa.schema([("x", pa.int64())]).serialize().to_pybytes()
    info = (ld(1, schema) + ld(2, cmd_desc) + ld(3, endpoint) + vi(4, 10) + vi(5, 80) +
            vi(6, 1) + ld(7, b"app"))
    poll = ld(1, info) + ld(2, cmd_desc) + bytes([0x19]) + struct.pack("<d", 0.5) + ld(4, ts)
    return [bytes([0]) + cmd_desc, bytes([0]) + path_desc, bytes([1]) + ticket,
            bytes([2]) + action, bytes([3]) + handshake, bytes([4]) + info, bytes([5]) + poll,
            bytes([6]) + endpoint, bytes([4]) + b"\xff\xff\xff", bytes([0]) + ld(3, b"\xc3")]


def main():
    write("flight_proto", proto_seeds())
    write("flight_data", flight_seeds())
    write("json", json_seeds())
    write("auth_header", auth_seeds())


if __name__ == "__main__":
    main()
