"""Helpers for the exchanger tests: a streaming do_exchange (for inputs over 1 MiB the writer
runs in its own thread, so that output is read while input is still being sent), actions, and
gRPC status checks."""
import json
import threading

import pyarrow as pa
import pyarrow.flight as fl


def command(name, params=None):
    if params is None:
        return name.encode()
    return json.dumps({"exchanger": name, "params": params}).encode()


# Inputs smaller than this go out whole before the answer is read (gRPC's buffers hold them).
SEQUENTIAL_BYTES = 1 << 20


def exchange(c, o, cmd, table_or_batches, schema=None, chunk=None):
    """Sends a table (split into `chunk`-row batches) or a list of batches; returns the answer
    as a Table. Raises the server's error (from the reader, or from the writer)."""
    if isinstance(cmd, str):
        cmd = cmd.encode()
    if isinstance(table_or_batches, pa.Table):
        schema = table_or_batches.schema
        batches = table_or_batches.to_batches(max_chunksize=chunk)
    else:
        batches = table_or_batches
    w, r = c.do_exchange(fl.FlightDescriptor.for_command(cmd), o)
    errors = []

    def write():
        try:
            w.begin(schema)
            for b in batches:
                w.write_batch(b)
            w.done_writing()
        except Exception as e:  # the reader sees the server's status too
            errors.append(e)

    t = None
    if isinstance(batches, list) and sum(b.nbytes for b in batches) < SEQUENTIAL_BYTES:
        # Small input: sent whole before reading. Writing from another thread while the reader
        # ends the call on the server's error is a race inside pyarrow's client, which once
        # aborted the test process ("Fatal Python error: Aborted" in write_batch).
        write()
    else:
        t = threading.Thread(target=write)
        t.start()
    try:
        return r.read_all()
    finally:
        if t is not None:
            t.join()
        try:
            w.close()
        except Exception:
            pass


def action(c, o, name, body=b""):
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
    if isinstance(body, str):
        body = body.encode()
    return [r.body.to_pybytes() for r in c.do_action(fl.Action(name, body), o)]


def register(c, o, name, sql, mode="batch", replace=False, **extra):
    body = {"name": name, "sql": sql, "mode": mode, "replace": replace, **extra}
    return json.loads(action(c, o, "register_exchanger", body)[0])


_WORDS = {
    "INVALID_ARGUMENT": "invalid argument",
    "NOT_FOUND": "not found",
    "ALREADY_EXISTS": "already exists",
}


class expect_status:
    """The block must raise a Flight error with this gRPC status (and these substrings)."""

    def __init__(self, status, *must_contain):
        self.status = status
        self.must_contain = must_contain
        self.message = None

    def __enter__(self):
        return self

    def __exit__(self, et, ev, tb):
        assert ev is not None, f"expected {self.status}, but the call succeeded"
        text = str(ev)
        if self.status == "PERMISSION_DENIED":
            ok = isinstance(ev, fl.FlightUnauthorizedError)
        elif self.status == "CANCELLED":
            ok = isinstance(ev, fl.FlightCancelledError) or "cancel" in text.lower()
        elif self.status == "INTERNAL":
            ok = isinstance(ev, fl.FlightInternalError)
        elif self.status == "INVALID_ARGUMENT_OR_INTERNAL":
            ok = isinstance(ev, fl.FlightInternalError) or "invalid argument" in text
        else:
            ok = f"Flight returned {_WORDS[self.status]} error" in text
        assert ok, f"expected {self.status}, got {type(ev).__name__}: {text}"
        self.message = text
        for s in self.must_contain:
            assert s in text, f"{s!r} not in error message: {text}"
        return True
