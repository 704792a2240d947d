"""Fixtures for testing Mallard's C Flight client (through mallard-client-driver) against a
pyarrow.flight.FlightServerBase written here: a small in-memory store plus test hooks."""
import base64
import json
import os
import pathlib
import subprocess
import threading
import time

import pyarrow as pa
import pyarrow.flight as flight
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]

USER, PASSWORD, TOKEN = "alice", "s3cret:with:colons", "tok-123"

ERRORS = {
    # ticket/command suffix -> exception class pyarrow maps to a gRPC status
    "INVALID_ARGUMENT": pa.ArrowInvalid,
    "NOT_FOUND": KeyError,
    "UNIMPLEMENTED": NotImplementedError,
    "UNAUTHENTICATED": flight.FlightUnauthenticatedError,
    "PERMISSION_DENIED": flight.FlightUnauthorizedError,
    "UNAVAILABLE": flight.FlightUnavailableError,
    "INTERNAL": flight.FlightInternalError,
    "CANCELLED": flight.FlightCancelledError,
    "DEADLINE_EXCEEDED": flight.FlightTimedOutError,
}


def raise_error(spec):
    """spec = 'CODE:message'."""
    code, _, message = spec.partition(":")
    raise ERRORS[code](message)


def make_table(n, offset=0):
    return pa.table({
        "id": pa.array(range(offset, offset + n), pa.int64()),
        "name": pa.array([f"row-{i}" for i in range(offset, offset + n)], pa.string()),
        "score": pa.array([i * 0.5 if i % 7 else None for i in range(offset, offset + n)],
                          pa.float64()),
    })


def big_batch(nbytes):
    """One record batch whose body is a bit more than nbytes."""
    n = nbytes // 8 + 1024
    return pa.record_batch([pa.array(range(n), pa.int64())], names=["v"])


class AuthMiddleware(flight.ServerMiddleware):
    def __init__(self, headers, token=None):
        self.headers = headers
        self.token = token

    def sending_headers(self):
        if self.token:
            return {"authorization": f"Bearer {self.token}"}
        return {}


class AuthFactory(flight.ServerMiddlewareFactory):
    """Basic auth on Handshake issues a bearer token; with require=True every other call needs
    it. Also records each call's request headers for the tests."""

    def __init__(self, server):
        self.server = server

    def start_call(self, info, headers):
        auth = (headers.get("authorization") or [None])[0]
        self.server.seen_headers.append({k: v for k, v in headers.items()})
        if info.method == flight.FlightMethod.HANDSHAKE:
            if auth and auth.lower().startswith("basic "):
                user, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
                if (user, pw) == (USER, PASSWORD):
                    return AuthMiddleware(headers, TOKEN)
                raise flight.FlightUnauthenticatedError("bad user or password")
            if self.server.require_auth:
                raise flight.FlightUnauthenticatedError("handshake needs Basic credentials")
            return AuthMiddleware(headers)
        if self.server.require_auth and auth != f"Bearer {TOKEN}":
            raise flight.FlightUnauthenticatedError("missing or invalid bearer token")
        return AuthMiddleware(headers)


class NoopAuthHandler(flight.ServerAuthHandler):
    """Handshake must be served (pyarrow needs an auth handler for it); auth itself is done by
    the middleware above."""

    def authenticate(self, outgoing, incoming):
        try:
            payload = incoming.read()
        except Exception:
            payload = None
        outgoing.write(payload or b"")

    def is_valid(self, token):
        return ""


class TestServer(flight.FlightServerBase):
    __test__ = False
    def __init__(self, require_auth=False, **kwargs):
        self.require_auth = require_auth
        self.seen_headers = []
        self.tables = {"flights": make_table(10)}
        self.puts = []  # one dict per DoPut: batches, metadata, finished
        self.put_done = threading.Event()
        super().__init__("grpc://127.0.0.1:0", auth_handler=NoopAuthHandler(),
                         middleware={"auth": AuthFactory(self)}, **kwargs)

    # -- control plane ------------------------------------------------------------------------
    def _info(self, name, descriptor):
        table = self.tables[name]
        ep = flight.FlightEndpoint(name.encode(), [f"grpc://127.0.0.1:{self.port}"])
        return flight.FlightInfo(table.schema, descriptor, [ep], table.num_rows, table.nbytes,
                                 ordered=True, app_metadata=b"info-meta")

    def list_flights(self, context, criteria):
        for name in sorted(self.tables):
            if not criteria or name.startswith(criteria.decode()):
                yield self._info(name, flight.FlightDescriptor.for_path(name))

    def _name(self, descriptor):
        if descriptor.descriptor_type == flight.DescriptorType.PATH:
            return "/".join(p.decode() for p in descriptor.path)
        cmd = descriptor.command.decode()
        if cmd.startswith("error:"):
            raise_error(cmd[6:])
        return cmd

    def get_flight_info(self, context, descriptor):
        name = self._name(descriptor)
        if name not in self.tables:
            raise KeyError(f"no flight named {name}")
        return self._info(name, descriptor)

    def get_schema(self, context, descriptor):
        name = self._name(descriptor)
        if name not in self.tables:
            raise KeyError(f"no flight named {name}")
        return flight.SchemaResult(self.tables[name].schema)

    def list_actions(self, context):
        return [("ping", "answers pong"), ("echo", "returns the body"),
                ("multi", "three results"), ("headers", "the request headers as JSON"),
                ("trailer", "adds a response trailer"), ("error", "fails: body CODE:msg"),
                ("sleep", "sleeps body seconds")]

    def do_action(self, context, action):
        t, body = action.type, action.body.to_pybytes() if action.body else b""
        if t == "ping":
            return [b"pong"]
        if t == "echo":
            return [body]
        if t == "multi":
            return [b"one", b"two", b"three"]
        if t == "headers":
            return [json.dumps(self.seen_headers[-1]).encode()]
        if t == "trailer":
            context.add_header("x-extra-header", "h1")
            context.add_trailer("x-extra-trailer", "t1")
            return [b"ok"]
        if t == "error":
            raise_error(body.decode())
        if t == "sleep":
            time.sleep(float(body.decode()))
            return [b"slept"]
        raise KeyError(f"unknown action {t}")

    # -- data plane ---------------------------------------------------------------------------
    def do_get(self, context, ticket):
        t = ticket.ticket.decode()
        if t.startswith("error:"):
            raise_error(t[6:])
        if t == "empty":
            schema = pa.schema([("a", pa.int32())])
            return flight.GeneratorStream(schema, iter(()))
        if t == "meta":
            table = make_table(30)
            return flight.GeneratorStream(
                table.schema,
                ((b, f"m{i}".encode()) for i, b in enumerate(table.to_batches(max_chunksize=10))))
        if t.startswith("big:"):
            batch = big_batch(int(t[4:]))
            return flight.GeneratorStream(batch.schema, iter([batch, batch.slice(0, 5)]))
        if t.startswith("tiny:"):
            n = int(t[5:])
            schema = pa.schema([("i", pa.int64())])
            return flight.GeneratorStream(
                schema, (pa.record_batch([pa.array([i], pa.int64())], schema=schema)
                         for i in range(n)))
        if t == "sleepy":
            schema = pa.schema([("i", pa.int64())])

            def gen():
                self.sleepy_stopped = False
                try:
                    for _ in range(100):  # 10 s unless cancelled
                        if context.is_cancelled():
                            return
                        time.sleep(0.1)
                    yield pa.record_batch([pa.array([1], pa.int64())], schema=schema)
                finally:
                    self.sleepy_stopped = True
            return flight.GeneratorStream(schema, gen())
        if t == "midstream-error":
            table = make_table(20)

            def gen():
                yield table.to_batches(max_chunksize=10)[0]
                raise pa.ArrowInvalid("broke after one batch")
            return flight.GeneratorStream(table.schema, gen())
        if t == "slow":
            schema = pa.schema([("i", pa.int64())])

            def gen():
                self.slow_produced = 0
                try:
                    for i in range(100000):
                        if context.is_cancelled():
                            return
                        time.sleep(0.01)
                        self.slow_produced += 1
                        yield pa.record_batch([pa.array([i] * 100, pa.int64())], schema=schema)
                finally:
                    self.slow_stopped = True
            return flight.GeneratorStream(schema, gen())
        if t not in self.tables:
            raise KeyError(f"no table {t}")
        return flight.RecordBatchStream(self.tables[t])

    def do_put(self, context, descriptor, reader, writer):
        record = {"descriptor": self._name(descriptor), "batches": [], "metadata": [],
                  "finished": False, "cancelled": False, "error": None}
        self.puts.append(record)
        if record["descriptor"] == "reject-early":
            self.put_done.set()
            raise pa.ArrowInvalid("rejected before reading anything")
        try:
            while True:
                try:
                    chunk = reader.read_chunk()
                except StopIteration:
                    break
                if chunk.data is not None:
                    record["batches"].append(chunk.data)
                if chunk.app_metadata is not None:
                    md = chunk.app_metadata.to_pybytes()
                    record["metadata"].append(md)
                    writer.write(pa.py_buffer(b"ack:" + md))
            if context.is_cancelled():
                # A cancelled stream reads like a finished one to the handler.
                record["cancelled"] = True
                return
            if record["descriptor"] == "reject":
                raise pa.ArrowInvalid("this table refuses data")
            record["finished"] = True
            if record["batches"]:
                self.tables[record["descriptor"]] = pa.Table.from_batches(record["batches"])
            else:
                self.tables[record["descriptor"]] = reader.schema.empty_table()
            writer.write(pa.py_buffer(json.dumps(
                {"rows": sum(b.num_rows for b in record["batches"])}).encode()))
        except Exception as e:  # noqa: BLE001 - recorded for the test, then re-raised
            record["error"] = repr(e)
            raise
        finally:
            self.put_done.set()

    def do_exchange(self, context, descriptor, reader, writer):
        mode = self._name(descriptor)
        started = False
        count = 0
        for chunk in reader:
            if chunk.data is not None:
                if not started and mode == "echo":
                    writer.begin(chunk.data.schema)
                    started = True
                count += chunk.data.num_rows
                if mode == "echo":
                    if chunk.app_metadata is not None:
                        writer.write_with_metadata(chunk.data, chunk.app_metadata)
                    else:
                        writer.write_batch(chunk.data)
            elif chunk.app_metadata is not None:
                if mode == "echo":
                    writer.write_metadata(chunk.app_metadata)
        if mode == "count":
            schema = pa.schema([("rows", pa.int64())])
            writer.begin(schema)
            writer.write_batch(pa.record_batch([pa.array([count], pa.int64())], schema=schema))


@pytest.fixture
def server():
    s = TestServer()
    yield s
    s.shutdown()


@pytest.fixture
def auth_server():
    s = TestServer(require_auth=True)
    yield s
    s.shutdown()


@pytest.fixture(scope="session")
def driver_bin(build_dir):
    path = os.environ.get("MALLARD_CLIENT_DRIVER", str(pathlib.Path(build_dir) / "mallard-client-driver"))
    assert os.access(path, os.X_OK), f"client driver not found at {path}: build mallard-client-driver"
    return path


class Driver:
    def __init__(self, path):
        self.path = path

    def run(self, uri, *args, opts=(), stdin=None, timeout=120, check_status=None):
        """Runs the driver; returns (events, status) where events are the JSON lines before the
        final status line."""
        cmd = [self.path, *opts, uri, *args]
        env = dict(os.environ)
        supp = pathlib.Path(__file__).with_name("lsan.supp")
        env.setdefault("LSAN_OPTIONS", f"suppressions={supp}")
        p = subprocess.run(cmd, input=stdin, capture_output=True, timeout=timeout, env=env)
        err = p.stderr.decode(errors="replace")
        for marker in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
            assert marker not in err, f"sanitizer report from {cmd}:\n{err}"
        assert p.returncode in (0, 1), f"driver exited {p.returncode}: {err}"
        lines = [json.loads(l) for l in p.stdout.decode().splitlines() if l.strip()]
        assert lines, f"driver printed nothing; stderr: {p.stderr.decode()}"
        status = lines[-1]
        assert "status" in status, f"last line is not a status: {status}; stderr: {p.stderr.decode()}"
        assert (p.returncode == 0) == (status["status"] == "OK"), (p.returncode, status)
        if check_status is not None:
            assert status["status"] == check_status, (status, p.stderr.decode())
        return lines[:-1], status


@pytest.fixture
def driver(driver_bin):
    return Driver(driver_bin)


def ipc_bytes(batches_or_table, schema=None):
    sink = pa.BufferOutputStream()
    if isinstance(batches_or_table, pa.Table):
        schema = batches_or_table.schema
        batches = batches_or_table.to_batches()
    else:
        batches = batches_or_table
    with pa.ipc.new_stream(sink, schema) as w:
        for b in batches:
            w.write_batch(b)
    return sink.getvalue().to_pybytes()


def read_ipc(path):
    with pa.ipc.open_stream(pa.OSFile(str(path))) as r:
        return r.read_all()
