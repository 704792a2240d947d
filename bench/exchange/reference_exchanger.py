"""The reference for the exchanger benchmark: the Python prototype's streaming exchanger
(MyStreamingExchanger: each batch answered with an extra BOOLEAN column `processed` = true,
built with pyarrow) served by a pyarrow.flight server's do_exchange. It answers the same
commands as `mallard serve` for this purpose ("processed" and "echo") and the same HTTP Basic
-> bearer handshake (admin/password123), so the benchmark's client code is identical for both.

usage: python bench/exchange/reference_exchanger.py [--host 127.0.0.1] [PORT]   (0 = pick one)
Prints `listening grpc://HOST:PORT`."""
import argparse
import base64
import secrets
import signal
import sys
import threading

import pyarrow as pa
import pyarrow.flight as fl

USER, PASSWORD = "admin", "password123"


class AuthFactory(fl.ServerMiddlewareFactory):
    def __init__(self):
        self.tokens = set()
        self.lock = threading.Lock()

    def start_call(self, info, headers):
        auth = next((v[0] for k, v in headers.items() if k.lower() == "authorization"), None)
        if auth is None:
            raise fl.FlightUnauthenticatedError("no credentials")
        if auth.lower().startswith("basic "):
            user, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
            if (user, pw) != (USER, PASSWORD):
                raise fl.FlightUnauthenticatedError("bad credentials")
            token = secrets.token_urlsafe(32)
            with self.lock:
                self.tokens.add(token)
            return Bearer(token)
        if auth.lower().startswith("bearer ") and auth[7:] in self.tokens:
            return None
        raise fl.FlightUnauthenticatedError("bad credentials")


class Bearer(fl.ServerMiddleware):
    def __init__(self, token):
        self.token = token

    def sending_headers(self):
        return {"authorization": f"Bearer {self.token}"}


class NoopAuthHandler(fl.ServerAuthHandler):
    """Handshake is answered by the middleware's header; nothing else to do here."""

    def authenticate(self, outgoing, incoming):
        pass

    def is_valid(self, token):
        return ""


class MyStreamingExchanger:
    """The prototype's exchanger: appends `processed` = true to every batch."""

    def exchange_batch(self, batch):
        return batch.append_column("processed", pa.array([True] * batch.num_rows, pa.bool_()))

    def output_schema(self, schema):
        return schema.append(pa.field("processed", pa.bool_()))


class ReferenceServer(fl.FlightServerBase):
    def __init__(self, location):
        super().__init__(location, auth_handler=NoopAuthHandler(),
                         middleware={"auth": AuthFactory()})

    def do_exchange(self, context, descriptor, reader, writer):
        name = descriptor.command.decode()
        if name == "processed":
            ex = MyStreamingExchanger()
            writer.begin(ex.output_schema(reader.schema))
            for chunk in reader:
                writer.write_batch(ex.exchange_batch(chunk.data))
        elif name == "echo":
            writer.begin(reader.schema)
            for chunk in reader:
                writer.write_batch(chunk.data)
        else:
            raise fl.FlightServerError(f"unknown exchanger {name!r}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("port", type=int, nargs="?", default=0)
    args = ap.parse_args()
    server = ReferenceServer(f"grpc://{args.host}:{args.port}")
    print(f"listening grpc://{args.host}:{server.port}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    server.serve()
    sys.exit(0)


if __name__ == "__main__":
    main()
