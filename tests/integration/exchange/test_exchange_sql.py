"""SQL exchangers registered at run time, on the flights data, checked against DuckDB computing
the same thing locally: mode batch (per batch, while input still arrives) and stream_end (once,
on the whole input), both with bound params; registration checks and errors."""
import json

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from xchg_helpers import action, command, exchange, expect_status, register


def test_batch_mode_with_params(client, flights):
    c, o = client
    sql = ("SELECT origin, destination, delay, distance, delay * $factor AS scaled "
           "FROM input WHERE delay > $threshold AND origin <> $skip")
    assert register(c, o, "late_flights", sql, "batch") == {"registered": "late_flights"}
    params = {"threshold": 30, "factor": 1.5, "skip": "SFO"}
    out = exchange(c, o, command("late_flights", params), flights, chunk=20_000)
    mask = pc.and_(pc.greater(flights["delay"], 30), pc.not_equal(flights["origin"], "SFO"))
    exp = flights.filter(mask)
    assert out.num_rows == exp.num_rows > 0
    assert out.schema.names == ["origin", "destination", "delay", "distance", "scaled"]
    assert out.column("delay").to_pylist() == exp.column("delay").to_pylist()  # order kept
    assert out.column("origin").to_pylist() == exp.column("origin").to_pylist()
    assert out.column("scaled").to_pylist() == [d * 1.5 for d in exp.column("delay").to_pylist()]
    # The same exchanger, other params: a param is a value, never SQL text.
    out2 = exchange(c, o, command("late_flights", {"threshold": 600, "factor": 1,
                                                   "skip": "x' OR '1'='1"}), flights, chunk=50_000)
    assert out2.num_rows == pc.sum(pc.greater(flights["delay"], 600)).as_py()


def test_batch_mode_runs_per_batch(client, flights):
    """In batch mode an aggregate sees one batch at a time: one answer row per input batch."""
    c, o = client
    register(c, o, "per_batch_count", "SELECT count(*) AS n, sum(distance)::BIGINT AS d FROM input")
    out = exchange(c, o, "per_batch_count", flights, chunk=30_000)
    sizes = [b.num_rows for b in flights.to_batches(max_chunksize=30_000)]
    assert out.column("n").to_pylist() == sizes
    assert sum(out.column("d").to_pylist()) == pc.sum(flights["distance"]).as_py()


def test_stream_end_with_params(client, flights):
    c, o = client
    sql = ("SELECT origin, count(*) AS n, avg(delay) AS avg_delay, max(distance) AS max_dist "
           "FROM input WHERE distance >= $min_dist GROUP BY origin ORDER BY n DESC, origin")
    register(c, o, "by_origin", sql, "stream_end")
    out = exchange(c, o, command("by_origin", {"min_dist": 500}), flights, chunk=10_000)
    con = duckdb.connect()
    con.register("input", flights)
    exp = con.execute(sql.replace("$min_dist", "?"), [500]).arrow()
    if hasattr(exp, "read_all"):
        exp = exp.read_all()
    assert out.num_rows == exp.num_rows > 10
    assert out.column("origin").to_pylist() == exp.column("origin").to_pylist()
    assert out.column("n").to_pylist() == exp.column("n").to_pylist()
    for a, b in zip(out.column("avg_delay").to_pylist(), exp.column("avg_delay").to_pylist()):
        assert abs(a - b) < 1e-9 * max(1, abs(b))


def test_stream_end_sort_of_whole_input(client, flights_small):
    c, o = client
    register(c, o, "top_delays", "SELECT delay, distance FROM input ORDER BY delay DESC, "
             "distance DESC LIMIT $k", "stream_end")
    out = exchange(c, o, command("top_delays", {"k": 25}), flights_small, chunk=7_000)
    exp = flights_small.sort_by([("delay", "descending"), ("distance", "descending")]).slice(0, 25)
    assert out.column("delay").to_pylist() == exp.column("delay").to_pylist()
    assert out.column("distance").to_pylist() == exp.column("distance").to_pylist()


def test_registration_is_checked_at_once(client):
    c, o = client
    with expect_status("INVALID_ARGUMENT", "syntax"):
        register(c, o, "broken", "SELEC origin FROM input")
    with expect_status("INVALID_ARGUMENT", "nosuchcolumn"):
        register(c, o, "broken", "SELECT nosuchcolumn FROM input",
                 input_schema={"columns": {"origin": "VARCHAR", "delay": "BIGINT"}})
    assert register(c, o, "typed", "SELECT origin, delay + 1 AS d1 FROM input",
                    input_schema={"columns": {"origin": "VARCHAR", "delay": "BIGINT"}}) == \
        {"registered": "typed"}
    with expect_status("ALREADY_EXISTS", "typed"):
        register(c, o, "typed", "SELECT 1 FROM input")
    assert register(c, o, "typed", "SELECT origin FROM input", replace=True) == \
        {"registered": "typed"}
    with expect_status("ALREADY_EXISTS"):
        register(c, o, "echo", "SELECT 1 FROM input")
    with expect_status("INVALID_ARGUMENT"):
        register(c, o, "echo", "SELECT 1 FROM input", replace=True)
    with expect_status("INVALID_ARGUMENT", "mode"):
        register(c, o, "m", "SELECT 1 FROM input", mode="sometimes")
    with expect_status("INVALID_ARGUMENT"):
        action(c, o, "register_exchanger", b"{not json")
    with expect_status("INVALID_ARGUMENT", '"name" must be a string'):
        action(c, o, "register_exchanger", json.dumps({"name": 5, "sql": "SELECT 1"}).encode())
    with expect_status("INVALID_ARGUMENT", '"sql" is missing'):
        action(c, o, "register_exchanger", json.dumps({"name": "nosql"}).encode())
    names = {e["name"] for e in json.loads(action(c, o, "list_exchangers")[0])}
    assert "typed" in names and "broken" not in names and "m" not in names
    assert json.loads(action(c, o, "unregister_exchanger", "typed")[0]) == \
        {"unregistered": "typed"}
    with expect_status("NOT_FOUND"):
        action(c, o, "unregister_exchanger", "typed")


def test_query_not_fitting_input_and_missing_params(client, flights_small):
    c, o = client
    register(c, o, "needs_origin", "SELECT origin FROM input WHERE delay > $t")
    with expect_status("INVALID_ARGUMENT", "origin"):
        exchange(c, o, command("needs_origin", {"t": 1}), flights_small.slice(0, 100))
    register(c, o, "needs_t", "SELECT delay FROM input WHERE delay > $t")
    with expect_status("INVALID_ARGUMENT", "$t"):
        exchange(c, o, "needs_t", flights_small.slice(0, 100))
    # An integer beyond 64 bits would be rounded as a double: refused, with what to do instead.
    with expect_status("INVALID_ARGUMENT", "beyond 64 bits"):
        exchange(c, o, command("needs_t", {"t": 18446744073709551000}),
                 flights_small.slice(0, 100))
    low = exchange(c, o, command("needs_t", {"t": -9223372036854775808}),
                   flights_small.slice(0, 100))
    assert low.num_rows == 100  # INT64_MIN still binds exactly


def test_sql_failing_on_some_batch(client, flights_small):
    c, o = client
    register(c, o, "picky", "SELECT CASE WHEN distance > 4000 THEN error('too far: ' || "
             "distance) ELSE distance END AS distance FROM input")
    # Sorted by distance, the failing rows come in the last batches only.
    t = flights_small.sort_by("distance")
    with expect_status("INVALID_ARGUMENT_OR_INTERNAL", "too far"):
        exchange(c, o, "picky", t, chunk=20_000)
    # The server keeps serving, and the same exchanger works on data it accepts.
    ok = t.filter(pc.less_equal(t["distance"], 4000))
    assert exchange(c, o, "picky", ok, chunk=50_000).num_rows == ok.num_rows


def test_output_schema_differs_from_input(client, flights):
    c, o = client
    register(c, o, "reshape", "SELECT upper(origin) || '-' || upper(destination) AS route, "
             "CAST(delay AS DOUBLE) / 60 AS delay_h, date::DATE AS day FROM input")
    out = exchange(c, o, "reshape", flights.slice(0, 1000))
    assert out.schema.names == ["route", "delay_h", "day"]
    assert out.schema.field("delay_h").type == pa.float64()
    assert out.schema.field("day").type == pa.date32()
    assert out.column("route")[0].as_py() == (flights["origin"][0].as_py().upper() + "-" +
                                              flights["destination"][0].as_py().upper())


def test_nulls_are_seen_in_both_modes(client, flights_small):
    """A plan made on the empty `input` must not be reused on the data (DuckDB would fold
    `x IS NULL` to false from the empty table's statistics)."""
    c, o = client
    t = flights_small.slice(0, 3000)
    delay = [None if i % 5 == 0 else v for i, v in enumerate(t.column("delay").to_pylist())]
    t = t.set_column(0, "delay", pa.array(delay, pa.int16()))
    for mode in ("batch", "stream_end"):
        register(c, o, f"null_count_{mode}", "SELECT count(*) FILTER (WHERE delay IS NULL) AS n, "
                 "count(*) FILTER (WHERE delay IS NOT NULL) AS nn FROM input", mode)
        out = exchange(c, o, f"null_count_{mode}", t, chunk=1000)
        assert sum(out.column("n").to_pylist()) == 600
        assert sum(out.column("nn").to_pylist()) == 2400
