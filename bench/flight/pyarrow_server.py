"""The pyarrow.flight.FlightServerBase baseline for bench_flight.py: the same in-memory store
(DoPut by path, DoGet by ticket = path, DoExchange echo) as mallard-flight-test-server."""
import sys

import pyarrow.flight as fl


class Store(fl.FlightServerBase):
    def __init__(self, location):
        super().__init__(location)
        self.tables = {}

    def do_put(self, context, descriptor, reader, writer):
        self.tables[descriptor.path[0].decode()] = reader.read_all()

    def do_get(self, context, ticket):
        return fl.RecordBatchStream(self.tables[ticket.ticket.decode()])

    def do_exchange(self, context, descriptor, reader, writer):
        started = False
        for chunk in reader:
            if chunk.data is None:
                continue
            if not started:
                writer.begin(chunk.data.schema)
                started = True
            writer.write_batch(chunk.data)

    def do_action(self, context, action):
        return [b"pong"]


if __name__ == "__main__":
    s = Store("grpc://127.0.0.1:0")
    print(f"listening grpc://127.0.0.1:{s.port}", flush=True)
    s.serve()
