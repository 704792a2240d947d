"""Every RPC is behind auth (a loop over all of them, so a handler added later cannot skip it
unnoticed), and hostile `authorization` headers never crash the server."""
import base64
import json

import grpc
import pyarrow as pa
import pyarrow.flight as flight
import pytest

from conftest import PASSWORDS, RPCS, login, raw_call

pytestmark = pytest.mark.timeout(120)

# A request body for each RPC that a real handler would act on.
REQUESTS = {
    "Handshake": b"",
    "ListFlights": b"",
    "GetFlightInfo": b"\x08\x02\x12\x08SELECT 1",        # FlightDescriptor CMD
    "PollFlightInfo": b"\x08\x02\x12\x08SELECT 1",
    "GetSchema": b"\x08\x02\x12\x08SELECT 1",
    "DoGet": b"\x0a\x08SELECT 1",                         # Ticket
    "DoPut": b"\x0a\x07\x08\x01\x1a\x03xyz",              # FlightData with a PATH descriptor
    "DoExchange": b"\x0a\x06\x08\x02\x12\x02no",
    "DoAction": b"\x0a\x04ping",                          # Action type=ping
    "ListActions": b"",
}


def b64(s):
    return base64.b64encode(s).decode()


def test_every_rpc_without_credentials(shared_server):
    assert set(REQUESTS) == set(RPCS)
    details = set()
    for rpc in RPCS:
        code, d = raw_call(shared_server.target(), rpc, [], request=REQUESTS[rpc])
        assert code == grpc.StatusCode.UNAUTHENTICATED, (rpc, code, d)
        details.add(d)
    assert len(details) == 1, details


def test_every_rpc_with_garbage_credentials(shared_server):
    for md in ([("authorization", "Basic !!!")], [("authorization", "Bearer nope")],
               [("authorization", "garbage")], [("auth-token-bin", b"\x00\x01\x02")]):
        for rpc in RPCS:
            code, d = raw_call(shared_server.target(), rpc, md, request=REQUESTS[rpc])
            assert code == grpc.StatusCode.UNAUTHENTICATED, (rpc, md, code, d)


def test_handshake_without_anything(shared_server):
    # no header, no message; and a message that is not a BasicAuth
    assert raw_call(shared_server.target(), "Handshake", [])[0] == grpc.StatusCode.UNAUTHENTICATED
    for body in (b"\x12\x05hello", b"\xff\xff\xff", b"\x12\x02\x12\x00"):
        code, _ = raw_call(shared_server.target(), "Handshake", [], request=body)
        assert code == grpc.StatusCode.UNAUTHENTICATED, body


def test_pyarrow_client_without_credentials(shared_server):
    c = shared_server.client()
    calls = [
        lambda: list(c.list_flights()),
        lambda: c.get_flight_info(flight.FlightDescriptor.for_command(b"SELECT 1")),
        lambda: c.get_schema(flight.FlightDescriptor.for_command(b"SELECT 1")),
        lambda: c.do_get(flight.Ticket(b"SELECT 1")).read_all(),
        lambda: list(c.do_action(flight.Action("ping", b""))),
        lambda: list(c.list_actions()),
    ]
    for call in calls:
        # pyarrow 21's get_schema raises a plain OSError for every Flight error
        with pytest.raises((flight.FlightUnauthenticatedError, OSError)) as ei:
            call()
        assert "unauthenticated" in str(ei.value).lower()
    table = pa.table({"x": [1, 2]})
    with pytest.raises(flight.FlightUnauthenticatedError):
        w, _ = c.do_put(flight.FlightDescriptor.for_path("nope"), table.schema)
        w.write_table(table)
        w.close()
    with pytest.raises(flight.FlightUnauthenticatedError):
        w, r = c.do_exchange(flight.FlightDescriptor.for_command(b"echo"))
        w.begin(table.schema)
        w.write_table(table)
        w.done_writing()
        r.read_all()


HOSTILE = [
    "Basic " + "A" * 100000,                      # huge
    "Bearer " + "a" * 100000,
    "Basic " + "@@@@",                            # not base64
    "Basic " + b64(b"alicealice-pw"),             # missing colon
    "Basic " + b64(b":alice-pw"),                 # empty user
    "Basic " + b64(b"ali\x00ce:alice-pw"),        # NUL in the user
    "Basic " + b64(b"alice:alice-pw\x00"),        # NUL in the password
    "Basic " + b64(b"alice:alice-pw") + "====",   # bad padding
    "Basic " + base64.urlsafe_b64encode(b"\xfb\xff:\xfe").decode(),  # URL alphabet
    "Basic",
    "Bearer",
    "Basic  ",
    "Negotiate abc",
    "Basic " + b64(("x" * 5000 + ":pw").encode()),  # over-long user
    "Basic " + b64(b"alice:" + b"p" * 5000),         # over-long password
]


def test_hostile_headers(shared_server):
    ok = {grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.RESOURCE_EXHAUSTED}
    for h in HOSTILE:
        for rpc in ("Handshake", "DoAction"):
            code, d = raw_call(shared_server.target(), rpc, [("authorization", h)],
                               request=REQUESTS[rpc])
            assert code in ok, (h[:40], rpc, code, d)
    # several authorization headers (ambiguous) are refused even if one is right
    good = "Basic " + b64(b"alice:alice-pw")
    code, _ = raw_call(shared_server.target(), "DoAction",
                       [("authorization", "Bearer junk"), ("authorization", good)],
                       request=REQUESTS["DoAction"])
    assert code == grpc.StatusCode.UNAUTHENTICATED
    # binary header with arbitrary bytes, including NUL
    for v in (b"\x00" * 10, b"\xff" * 300, b"a\x00b", b"x" * 100000):
        code, _ = raw_call(shared_server.target(), "DoAction", [("auth-token-bin", v)],
                           request=REQUESTS["DoAction"])
        assert code in ok
    # thousands of headers
    md = [(f"x-junk-{i}", "v" * 20) for i in range(5000)] + [("authorization", "Bearer x")]
    code, _ = raw_call(shared_server.target(), "DoAction", md, request=REQUESTS["DoAction"])
    assert code in ok | {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNAVAILABLE}
    # thousands of authorization headers
    md = [("authorization", "Bearer x%d" % i) for i in range(3000)]
    code, _ = raw_call(shared_server.target(), "Handshake", md)
    assert code in ok | {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNAVAILABLE}
    # the server is still fine
    client, opts, _ = login(shared_server, "alice", PASSWORDS["alice"])
    res = list(client.do_action(flight.Action("ping", b""), options=opts))
    assert json.loads(res[0].body.to_pybytes())["ok"] is True
    assert shared_server.proc.poll() is None


def test_unknown_methods_answer_unimplemented_at_once(shared_server):
    """A method that is not Flight's gets UNIMPLEMENTED straight away (not silence until the
    client's deadline); the standard health check answers SERVING without credentials."""
    import time

    channel = grpc.insecure_channel(shared_server.target())
    try:
        for method in ("/arrow.flight.protocol.FlightService/NoSuchMethod",
                       "/other.Service/Method", "/grpc.health.v1.Health/Watch"):
            call = channel.unary_unary(method, request_serializer=None,
                                       response_deserializer=None)
            t0 = time.monotonic()
            with pytest.raises(grpc.RpcError) as ei:
                call(b"\x0a\x00", timeout=20)
            assert ei.value.code() == grpc.StatusCode.UNIMPLEMENTED, method
            assert method in ei.value.details() and "Flight" in ei.value.details()
            assert time.monotonic() - t0 < 5, method
        check = channel.unary_unary("/grpc.health.v1.Health/Check", request_serializer=None,
                                    response_deserializer=None)
        assert check(b"", timeout=20) == b"\x08\x01"  # HealthCheckResponse{status: SERVING}
        assert check(b"\x0a\x00", timeout=20) == b"\x08\x01"
    finally:
        channel.close()
    # and the Flight service is unaffected
    client, opts, _ = login(shared_server, "alice", PASSWORDS["alice"])
    assert client.do_get(flight.Ticket(b"SELECT 7 AS x"), options=opts).read_all() \
        .column("x").to_pylist() == [7]


def test_silent_handshakes_cannot_take_every_slot(serve, users_file):
    """Handshakes without credentials that never send them: at most 32 wait at once (each for
    10 s at most); more answer RESOURCE_EXHAUSTED at once, and a real login still gets in while
    they wait (256 of them took every call slot before)."""
    import threading
    import time

    with serve("--users", users_file, "--max-calls", "64") as s:
        stop = threading.Event()

        def never_send():
            stop.wait(30)
            return
            yield

        channels, waiting = [], []
        try:
            for _ in range(40):
                ch = grpc.insecure_channel(s.target())
                channels.append(ch)
                hs = ch.stream_stream("/arrow.flight.protocol.FlightService/Handshake",
                                      request_serializer=None, response_deserializer=None)
                waiting.append(hs(never_send()))
            time.sleep(1.0)
            refused = [c for c in waiting if c.done()]
            assert len(refused) == 8, len(refused)
            for c in refused:
                assert c.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                assert "waiting for their credentials" in c.details()
            client, opts, _ = login(s, "alice", PASSWORDS["alice"])
            results = list(client.do_action(flight.Action("ping", b""), options=opts))
            assert json.loads(results[0].body.to_pybytes())["ok"] is True
        finally:
            stop.set()
            for ch in channels:
                ch.close()
