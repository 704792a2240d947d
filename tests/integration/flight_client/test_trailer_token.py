"""Basic auth where the server returns the bearer token only in the Handshake's trailers (as some
Flight servers do): a raw grpcio server, since pyarrow's cannot set Handshake trailers."""
import base64
from concurrent import futures

import grpc
import pytest

SERVICE = "arrow.flight.protocol.FlightService"


def result_bytes(body):
    return bytes([0x0A, len(body)]) + body  # Result { bytes body = 1; }


class Handler(grpc.GenericRpcHandler):
    def __init__(self):
        self.seen = []

    def service(self, details):
        if details.method == f"/{SERVICE}/Handshake":
            def handshake(requests, context):
                for _ in requests:
                    pass
                md = dict(context.invocation_metadata())
                want = "Basic " + base64.b64encode(b"bob:pw").decode()
                if md.get("authorization") == "Basic " + base64.b64encode(b"x:y").decode():
                    return iter(())  # accepted, but no token at all
                if md.get("authorization") != want:
                    context.abort(grpc.StatusCode.UNAUTHENTICATED, "wrong credentials")
                context.set_trailing_metadata([("authorization", "Bearer trailer-token")])
                return iter(())
            return grpc.stream_stream_rpc_method_handler(handshake)
        if details.method == f"/{SERVICE}/DoAction":
            def do_action(request, context):
                md = dict(context.invocation_metadata())
                self.seen.append(md.get("authorization"))
                if md.get("authorization") != "Bearer trailer-token":
                    context.abort(grpc.StatusCode.UNAUTHENTICATED, "no token")
                yield result_bytes(b"authorized")
            return grpc.unary_stream_rpc_method_handler(do_action)
        return None


@pytest.fixture
def raw_server():
    handler = Handler()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), handlers=[handler])
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"grpc://127.0.0.1:{port}", handler
    server.stop(None)


def test_bearer_token_from_trailers(raw_server, driver):
    u, handler = raw_server
    events, _ = driver.run(u, "action", "ping", opts=["--basic", "bob:pw"], check_status="OK")
    assert events == [{"token": "trailer-token"}, {"result": "authorized"}]
    assert handler.seen == ["Bearer trailer-token"]
    _, st = driver.run(u, "action", "ping", opts=["--basic", "bob:nope"])
    assert st["status"] == "UNAUTHENTICATED" and st["message"] == "wrong credentials"


def test_handshake_without_token_is_unauthenticated(raw_server, driver):
    u, _ = raw_server
    _, st = driver.run(u, "action", "ping", opts=["--basic", "x:y"])
    assert st["status"] == "UNAUTHENTICATED"
    assert "no 'authorization: Bearer' header" in st["message"]
