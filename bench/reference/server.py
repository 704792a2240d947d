"""The reference server for Mallard's service benchmark: the Python prototype's way of serving
DuckDB over Arrow Flight with pyarrow.flight and duckdb.

DoGet runs the ticket's SQL and returns the whole result as one Arrow table; DoPut reads the whole
stream into a table and then inserts it. Two servers in one process (like `mallard serve`), each
with its own in-memory DuckDB database; ports from the command line (0 = pick one); each prints
`listening grpc://HOST:PORT`. HTTP Basic handshake with admin/password123 answered with a bearer
token, so the same pyarrow client code talks to both.

usage: python bench/reference/server.py [--host 127.0.0.1] PORT [PORT ...]
"""
import argparse
import base64
import json
import os
import secrets
import signal
import sys
import threading

import duckdb
import pyarrow as pa
import pyarrow.flight as fl

USER, PASSWORD = "admin", "password123"


class BasicAuthMiddlewareFactory(fl.ServerMiddlewareFactory):
    """Basic credentials -> a bearer token (in the response headers); bearer tokens afterwards."""

    def __init__(self):
        self.tokens = set()
        self.lock = threading.Lock()

    def start_call(self, info, headers):
        auth = None
        for k, v in headers.items():
            if k.lower() == "authorization":
                auth = v[0]
        if auth is None:
            raise fl.FlightUnauthenticatedError("no credentials")
        if auth.lower().startswith("basic "):
            user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            if (user, password) != (USER, PASSWORD):
                raise fl.FlightUnauthenticatedError("bad credentials")
            token = secrets.token_urlsafe(32)
            with self.lock:
                self.tokens.add(token)
            return BearerMiddleware(token)
        if auth.lower().startswith("bearer "):
            with self.lock:
                ok = auth[7:] in self.tokens
            if not ok:
                raise fl.FlightUnauthenticatedError("bad token")
            return None
        raise fl.FlightUnauthenticatedError("bad credentials")


class BearerMiddleware(fl.ServerMiddleware):
    def __init__(self, token):
        self.token = token

    def sending_headers(self):
        return {"authorization": "Bearer " + self.token}


class PassHandshake(fl.ServerAuthHandler):
    """Handshake answers OK; the middleware above already checked the Basic header."""

    def authenticate(self, outgoing, incoming):
        pass

    def is_valid(self, token):
        return ""


class ReferenceServer(fl.FlightServerBase):
    def __init__(self, location):
        super().__init__(location, auth_handler=PassHandshake(),
                         middleware={"auth": BasicAuthMiddlewareFactory()})
        self.db = duckdb.connect(":memory:")
        self.lock = threading.Lock()

    def _cursor(self):
        with self.lock:
            return self.db.cursor()

    def do_get(self, context, ticket):
        sql = ticket.ticket.decode()
        table = self._cursor().execute(sql).fetch_arrow_table()
        return fl.RecordBatchStream(table)

    def do_put(self, context, descriptor, reader, writer):
        if descriptor.descriptor_type == fl.DescriptorType.PATH:
            name, mode = descriptor.path[-1].decode(), "create_or_append"
        else:
            cmd = json.loads(descriptor.command)
            name, mode = cmd["table"], cmd.get("mode", "create_or_append")
        data = reader.read_all()  # the whole stream in memory, then insert
        cur = self._cursor()
        quoted = '"' + name.replace('"', '""') + '"'
        cur.register("incoming", data)
        if mode == "replace":
            cur.execute(f"CREATE OR REPLACE TABLE {quoted} AS SELECT * FROM incoming")
        elif mode == "create":
            cur.execute(f"CREATE TABLE {quoted} AS SELECT * FROM incoming")
        else:
            exists = cur.execute(
                "SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [name]
            ).fetchone()[0]
            if exists:
                cur.execute(f"INSERT INTO {quoted} SELECT * FROM incoming")
            else:
                cur.execute(f"CREATE TABLE {quoted} AS SELECT * FROM incoming")
        cur.unregister("incoming")
        writer.write(pa.py_buffer(json.dumps({"rows": data.num_rows}).encode()))

    def do_action(self, context, action):
        if action.type == "ping":
            yield fl.Result(pa.py_buffer(b'{"ok": true, "version": "reference"}'))
        elif action.type == "execute":
            self._cursor().execute(action.body.to_pybytes().decode())
            yield fl.Result(pa.py_buffer(b'{"rows_changed": 0}'))
        elif action.type == "drop_table":
            name = action.body.to_pybytes().decode()
            self._cursor().execute('DROP TABLE IF EXISTS "' + name.replace('"', '""') + '"')
            yield fl.Result(pa.py_buffer(b'{"dropped": true}'))
        else:
            raise fl.FlightServerError("unknown action " + action.type)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("ports", nargs="+", type=int)
    args = ap.parse_args()
    servers = []
    for port in args.ports:
        s = ReferenceServer(f"grpc://{args.host}:{port}")
        servers.append(s)
        print(f"listening grpc://{args.host}:{s.port}", flush=True)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    threads = [threading.Thread(target=s.serve, daemon=True) for s in servers]
    for t in threads:
        t.start()
    done.wait()
    # pyarrow's shutdown waits for every client to go away; do not hang the benchmark on it.
    stopper = threading.Thread(target=lambda: [s.shutdown() for s in servers], daemon=True)
    stopper.start()
    stopper.join(5)
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
