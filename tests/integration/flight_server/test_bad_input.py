"""Malformed input from a raw gRPC client: each case gets INVALID_ARGUMENT with a message that
says what was wrong, and the server keeps serving."""
import grpc
import pyarrow as pa
import pyarrow.flight as fl
import pytest

DO_PUT = "/arrow.flight.protocol.FlightService/DoPut"
GET_INFO = "/arrow.flight.protocol.FlightService/GetFlightInfo"


def varint(n):
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def field(num, data):
    return varint((num << 3) | 2) + varint(len(data)) + data


def descriptor(path):
    return varint(1 << 3) + varint(1) + field(3, path.encode())


def flight_data(header=b"", body=b"", desc=None, meta=b""):
    out = b""
    if desc is not None:
        out += field(1, desc)
    if header:
        out += field(2, header)
    if meta:
        out += field(3, meta)
    if body:
        out += field(1000, body)
    return out


def ipc_parts(buf):
    msg = pa.ipc.read_message(pa.BufferReader(buf))
    return msg.metadata.to_pybytes(), msg.body.to_pybytes() if msg.body is not None else b""


SCHEMA = pa.schema([("x", pa.int64())])
BATCH = pa.record_batch([pa.array(range(100), pa.int64())], schema=SCHEMA)
SCHEMA_HDR, _ = ipc_parts(SCHEMA.serialize())
BATCH_HDR, BATCH_BODY = ipc_parts(BATCH.serialize())


def dictionary_message():
    arr = pa.array(["a", "b", "a"]).dictionary_encode()
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, pa.schema([("d", arr.type)])) as w:
        w.write_batch(pa.record_batch([arr], names=["d"]))
    reader = pa.ipc.MessageReader.open_stream(sink.getvalue())
    reader.read_next_message()  # schema
    m = reader.read_next_message()
    assert "dictionary" in m.type
    return m.metadata.to_pybytes(), m.body.to_pybytes()


def do_put_raw(server, messages):
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as ch:
        call = ch.stream_stream(DO_PUT, request_serializer=None, response_deserializer=None)
        with pytest.raises(grpc.RpcError) as e:
            list(call(iter(messages), timeout=30))
        return e.value


def check_invalid(err, *words):
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, (err.code(), err.details())
    details = err.details()
    assert details, "the status has no message"
    for w in words:
        assert w.lower() in details.lower(), details


def assert_serving(server):
    c = fl.FlightClient(server.uri)
    assert [r.body.to_pybytes() for r in c.do_action(fl.Action("ping", b""))] == [b"pong"]


def test_bad_protobuf(server):
    check_invalid(do_put_raw(server, [b"\x12\xff\xff"]), "FlightData")
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as ch:
        call = ch.unary_stream(GET_INFO, request_serializer=None, response_deserializer=None)
        with pytest.raises(grpc.RpcError) as e:
            list(call(b"\x1a\x05ab", timeout=10))
    check_invalid(e.value, "FlightDescriptor")
    assert_serving(server)


def test_header_not_ipc(server):
    msgs = [flight_data(header=b"this is not a flatbuffer", desc=descriptor("bad1"))]
    check_invalid(do_put_raw(server, msgs))
    assert_serving(server)


def test_body_shorter_than_header(server):
    msgs = [flight_data(header=SCHEMA_HDR, desc=descriptor("bad2")),
            flight_data(header=BATCH_HDR, body=BATCH_BODY[: len(BATCH_BODY) // 2])]
    check_invalid(do_put_raw(server, msgs))
    assert_serving(server)


def test_batch_before_schema(server):
    msgs = [flight_data(header=BATCH_HDR, body=BATCH_BODY, desc=descriptor("bad3"))]
    check_invalid(do_put_raw(server, msgs), "schema")
    assert_serving(server)


def test_second_schema(server):
    msgs = [flight_data(header=SCHEMA_HDR, desc=descriptor("bad4")),
            flight_data(header=BATCH_HDR, body=BATCH_BODY),
            flight_data(header=SCHEMA_HDR)]
    check_invalid(do_put_raw(server, msgs), "schema")
    assert_serving(server)


def test_dictionary_unknown_id(server):
    hdr, body = dictionary_message()
    msgs = [flight_data(header=SCHEMA_HDR, desc=descriptor("bad5")),
            flight_data(header=hdr, body=body)]
    check_invalid(do_put_raw(server, msgs), "dictionary")
    assert_serving(server)


def test_valid_raw_stream_is_accepted(server):
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as ch:
        call = ch.stream_stream(DO_PUT, request_serializer=None, response_deserializer=None)
        out = list(call(iter([flight_data(header=SCHEMA_HDR, desc=descriptor("raw-ok")),
                              flight_data(header=BATCH_HDR, body=BATCH_BODY, meta=b"m")]),
                        timeout=30))
    assert out == [field(1, b"m")]
    got = fl.FlightClient(server.uri).do_get(fl.Ticket(b"raw-ok")).read_all()
    assert got.num_rows == 100
