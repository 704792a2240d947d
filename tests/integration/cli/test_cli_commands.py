"""The client subcommands end to end against real servers: results, formats, errors, exit codes."""
import csv
import io
import json
import os
import signal
import subprocess
import time
import struct

import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest

CLIENT_COMMANDS = ["query", "shell", "get", "put", "transfer", "exchange", "tables", "actions",
                   "exchangers", "register", "unregister", "execute", "drop", "ping", "demo",
                   "bench"]


def out(r):
    return r.stdout.decode()


def err(r):
    return r.stderr.decode()


def one_line_error(r):
    lines = [ln for ln in err(r).splitlines() if ln.strip()]
    assert len(lines) == 1, err(r)
    return lines[0]


def count(cli, uri, table):
    r = cli("query", f"SELECT count(*) AS n FROM {table}", "-s", uri, "--format", "csv")
    assert r.returncode == 0, err(r)
    return int(out(r).splitlines()[1])


@pytest.mark.parametrize("cmd", CLIENT_COMMANDS)
def test_help(cli, cmd):
    r = cli(cmd, "--help")
    assert r.returncode == 0
    assert out(r).startswith("usage: mallard " + cmd)
    assert "exit codes" in out(r)


@pytest.mark.parametrize("args", [
    ["query"], ["query", "SELECT 1", "--bogus"], ["query", "SELECT 1", "--format", "xml"],
    ["get", "SELECT 1"], ["put", "x.parquet"], ["transfer", "SELECT 1", "--table", "t"],
    ["put", "x.parquet", "--table", "t", "--mode", "upsert"], ["exchange", "processed"],
    ["demo", "--rows", "many"], ["bench", "--repeat", "0"], ["ping", "--timeout", "soon"],
    ["query", "SELECT 1", "--password", "x"], ["ping", "--mode", "batch"],
    ["execute", "SELECT 1", "--json"], ["register", "x"], ["register", "x", "SELECT 1", "--mode",
                                                              "sometimes"], ["drop"],
])
def test_bad_arguments_exit_2(cli, args):
    r = cli(*args)
    assert r.returncode == 2, (args, err(r))
    assert one_line_error(r).startswith("mallard")


def test_unreachable_server_exit_3(cli):
    r = cli("ping", "-s", "grpc://127.0.0.1:1", "--timeout", "5")
    assert r.returncode == 3
    assert "127.0.0.1:1" in one_line_error(r)


def test_server_that_never_answers_exit_3(cli):
    """A listener that accepts connections and never answers: with --timeout the login gave up
    as DEADLINE_EXCEEDED, exit 1 ("mallard login: ..."); it is a server that did not answer,
    exit 3, as without --timeout."""
    import socket
    with socket.socket() as lst:
        lst.bind(("127.0.0.1", 0))
        lst.listen()
        port = lst.getsockname()[1]
        r = cli("ping", "-s", f"grpc://127.0.0.1:{port}", "--timeout", "2")
    assert r.returncode == 3, err(r)
    assert one_line_error(r) == (f"mallard: cannot connect to grpc://127.0.0.1:{port}: no answer "
                                 "to the login within 2 s")


def test_wrong_credentials_exit_1(cli, servers):
    r = cli("ping", "-s", servers[0], password="wrong")
    assert r.returncode == 1
    assert "UNAUTHENTICATED" in one_line_error(r)


def test_no_password_off_terminal_is_usage_error(cli, servers):
    r = cli("ping", "-s", servers[0], password=None)
    assert r.returncode == 2
    assert "MALLARD_PASSWORD" in one_line_error(r)


def test_query_error_exit_1_with_duckdb_message(cli, servers):
    r = cli("query", "SELEC 1", "-s", servers[0])
    assert r.returncode == 1
    line = one_line_error(r)
    assert "INVALID_ARGUMENT" in line and "syntax error" in line
    r = cli("query", "SELECT * FROM no_such_table_xyz", "-s", servers[0])
    assert r.returncode == 1
    assert "no_such_table_xyz" in one_line_error(r)


def test_ping_actions_exchangers(cli, servers):
    r = cli("ping", "-s", servers[0])
    assert r.returncode == 0, err(r)
    r = cli("actions", "-s", servers[0])
    assert r.returncode == 0
    for a in ["ping", "execute", "list_tables", "register_exchanger"]:
        assert a in out(r)
    r = cli("exchangers", "-s", servers[0])
    assert r.returncode == 0
    assert "processed" in out(r) and "echo" in out(r)


SQL = "SELECT i AS id, 'n' || i AS name, i / 4 AS q, NULL::INTEGER AS z FROM range(5000) t(i)"


def test_query_csv(cli, servers):
    r = cli("query", SQL, "-s", servers[0], "--format", "csv")
    assert r.returncode == 0, err(r)
    rows = list(csv.DictReader(io.StringIO(out(r))))
    assert len(rows) == 5000
    assert rows[7] == {"id": "7", "name": "n7", "q": "1.75", "z": ""}


def test_query_json(cli, servers):
    r = cli("query", SQL, "-s", servers[0], "--format", "json")
    assert r.returncode == 0, err(r)
    rows = [json.loads(ln) for ln in out(r).splitlines() if ln.strip()]
    assert len(rows) == 5000
    assert rows[7] == {"id": 7, "name": "n7", "q": 1.75, "z": None}


def test_query_arrow_stdout(cli, servers):
    r = cli("query", SQL, "-s", servers[0], "--format", "arrow")
    assert r.returncode == 0, err(r)
    t = ipc.open_stream(pa.BufferReader(r.stdout)).read_all()
    assert t.num_rows == 5000
    assert t.column_names == ["id", "name", "q", "z"]
    assert t.column("name")[9].as_py() == "n9"


def test_query_table_format(cli, servers):
    r = cli("query", "SELECT 42 AS answer, 'hi' AS word", "-s", servers[0], "--format", "table")
    assert r.returncode == 0, err(r)
    assert "answer" in out(r) and "42" in out(r) and "1 row" in out(r)


def table_rows(text):
    """The cells of a box-drawn table, one list per line between the vertical bars."""
    return [[c.strip() for c in ln.split("\u2502")[1:-1]] for ln in text.splitlines()
            if ln.startswith("\u2502")]


def test_query_table_format_every_type(cli, servers):
    # Nested and zoned types print as DuckDB writes them; wide characters take two columns, so
    # every line of the table is equally wide on a terminal.
    sql = ("SELECT [1, 2] AS l, {'k': 1, 'v': 'a'} AS s, MAP {'a': 1} AS m, "
           "TIMESTAMPTZ '2024-01-01 10:00:00+00' AS tz, '日本語' AS wide, "
           "'a' || chr(10) || 'b' AS nl, repeat('x', 60) AS long, NULL::INT AS n")
    r = cli("query", sql, "-s", servers[0], "--format", "table")
    assert r.returncode == 0, err(r)
    rows = table_rows(out(r))
    assert rows[0] == ["l", "s", "m", "tz", "wide", "nl", "long", "n"]
    assert rows[1] == ["list", "struct", "map", "timestamptz", "varchar", "varchar", "varchar",
                       "int32"]
    assert rows[2][:6] == ["[1, 2]", "{'k': 1, 'v': a}", "{a=1}", "2024-01-01 10:00:00+00",
                           "日本語", "a b"]
    assert rows[2][6] == "x" * 47 + "\u2026" and rows[2][7] == "NULL"

    def columns(line):
        return sum(2 if "\u4e00" <= ch <= "\u9fff" else 1 for ch in line)

    widths = {columns(ln) for ln in out(r).splitlines()[:5]}
    assert len(widths) == 1, out(r)


def test_query_table_format_control_characters(cli, servers):
    # Data never drives the terminal: ESC and other control characters print as '?'; a newline
    # in a column name does not break the box.
    # (chr(155): U+009B, the one-character CSI of C1 controls, read by terminals as ESC [)
    sql = ("SELECT chr(27) || '[31mRED' || chr(27) || '[0m' AS \"two\nlines\", chr(7) AS bell, "
           "chr(155) || '31mC1' AS c1")
    r = cli("query", sql, "-s", servers[0], "--format", "table")
    assert r.returncode == 0, err(r)
    assert "\x1b" not in out(r) and "\x07" not in out(r) and "\x9b" not in out(r)
    rows = table_rows(out(r))
    assert rows[0] == ["two lines", "bell", "c1"]
    assert rows[2] == ["?[31mRED?[0m", "?", "?31mC1"]
    assert len({len(ln) for ln in out(r).splitlines()[:5]}) == 1
    # ... nor does an error message that quotes it
    r = cli("query", 'SELECT "x\x1b[31m\u009by"', "-s", servers[0])
    assert r.returncode == 1 and "\x1b" not in err(r) and "\u009b" not in err(r), err(r)
    assert "x?[31m?y" in err(r), err(r)
    # A bidi override or isolate would show the rest of the row (the borders too) reversed on a
    # terminal that applies bidi: '?'; marks and right-to-left letters are kept.
    sql = ("SELECT 'a' || chr(8238) || 'bc' AS o, chr(8294) || 'x' || chr(8297) AS i, "
           "'שלום' || chr(8207) AS rtl, 'z' AS z")
    r = cli("query", sql, "-s", servers[0], "--format", "table")
    assert r.returncode == 0, err(r)
    assert "‮" not in out(r) and "⁦" not in out(r) and "⁩" not in out(r)
    rows = table_rows(out(r))
    assert rows[2] == ["a?bc", "?x?", "שלום‏", "z"], rows
    r = cli("query", sql, "-s", servers[0], "--format", "csv")  # data formats keep every byte
    assert "a‮bc" in out(r), out(r)
    r = cli("query", 'SELECT "x‮y"', "-s", servers[0])
    assert r.returncode == 1 and "‮" not in err(r) and "x?y" in err(r), err(r)


def test_bad_server_uri_and_tls_file_are_usage_errors(cli, tmp_path):
    r = cli("query", "SELECT 1", "-s", "http://127.0.0.1:1")
    assert r.returncode == 2 and "unsupported URI" in one_line_error(r)
    not_pem = tmp_path / "ca.csv"
    not_pem.write_text("a,b\n1,2\n")
    r = cli("ping", "-s", "grpc+tls://127.0.0.1:1", "--tls-ca", str(not_pem))
    assert r.returncode == 2 and "not PEM" in one_line_error(r)
    assert len(err(r).strip().splitlines()) == 1, err(r)


def test_query_table_format_row_limit(cli, servers):
    r = cli("query", "SELECT * FROM range(5000)", "-s", servers[0], "--format", "table",
            "--max-rows", "3")
    assert r.returncode == 0, err(r)
    assert table_rows(out(r))[2:] == [["0"], ["1"], ["2"]]
    assert "5000 rows (3 shown)" in out(r)


@pytest.mark.parametrize("ext", ["parquet", "arrow", "csv", "json"])
def test_get_to_file(cli, servers, tmp_path, ext):
    path = tmp_path / f"out.{ext}"
    r = cli("get", SQL, "-o", str(path), "-s", servers[0])
    assert r.returncode == 0, err(r)
    if ext == "parquet":
        t = pq.read_table(path)
    elif ext == "arrow":
        with open(path, "rb") as f:
            data = f.read()
        t = (ipc.open_file(pa.BufferReader(data)) if data[:6] == b"ARROW1"
             else ipc.open_stream(pa.BufferReader(data))).read_all()
    elif ext == "csv":
        t = pa.table({"id": [int(x["id"]) for x in csv.DictReader(open(path))]})
    else:
        t = pa.table({"id": [json.loads(ln)["id"] for ln in open(path) if ln.strip()]})
    assert t.num_rows == 5000
    assert sorted(t.column("id").to_pylist()) == list(range(5000))


@pytest.mark.parametrize("ext", ["arrows", "csv", "parquet"])
def test_get_interrupted_leaves_no_partial_file(mallard_bin, servers, tmp_path, ext):
    """Ctrl-C (SIGINT) or SIGTERM while `get` writes: the process ends by that signal and leaves
    no file that was not there before (it left a hidden half-written Arrow file, or DuckDB's
    tmp_ file); a file that was there keeps its old contents."""
    slow = ("SELECT range AS i, md5(md5(md5(range::VARCHAR))) AS h FROM range(100000000000)")
    env = dict(os.environ, MALLARD_PASSWORD="password123")
    env.pop("CI", None)
    for sig, existing in ((signal.SIGINT, None), (signal.SIGTERM, b"old contents\n")):
        d = tmp_path / f"{sig.name}"
        d.mkdir()
        path = d / f"out.{ext}"
        if existing is not None:
            path.write_bytes(existing)
        p = subprocess.Popen([mallard_bin, "get", slow, "-o", str(path), "-s", servers[0]],
                             env=env, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.time() + 30
            # until the write has started: a new file in the folder, holding bytes
            while time.time() < deadline:
                new = [f for f in d.iterdir() if f.name != path.name or existing is None]
                if new and any(f.stat().st_size > 0 for f in new):
                    break
                time.sleep(0.05)
            else:
                pytest.fail(f"no output file appeared: {list(d.iterdir())}")
            time.sleep(0.3)
            p.send_signal(sig)
            assert p.wait(timeout=30) == -sig, p.stderr.read()
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        left = sorted(f.name for f in d.iterdir())
        if existing is None:
            assert left == [], left
        else:
            assert left == [path.name] and path.read_bytes() == existing, left


def test_put_modes(cli, servers, tmp_path):
    uri = servers[0]
    src = tmp_path / "data.csv"
    src.write_text("a,b\n" + "".join(f"{i},x{i}\n" for i in range(1000)))
    cli("drop", "put_modes", "-s", uri)
    r = cli("put", str(src), "--table", "put_modes", "-s", uri)
    assert r.returncode == 0, err(r)
    assert "1000 rows" in out(r)
    assert count(cli, uri, "put_modes") == 1000
    r = cli("put", str(src), "--table", "put_modes", "--mode", "create", "-s", uri)
    assert r.returncode == 1 and "ALREADY_EXISTS" in one_line_error(r)
    r = cli("put", str(src), "--table", "put_modes", "--mode", "append", "-s", uri)
    assert r.returncode == 0
    assert count(cli, uri, "put_modes") == 2000
    r = cli("put", str(src), "--table", "put_modes", "--mode", "replace", "-s", uri)
    assert r.returncode == 0
    assert count(cli, uri, "put_modes") == 1000
    r = cli("put", str(src), "--table", "no_such_put_table", "--mode", "append", "-s", uri)
    assert r.returncode == 1 and "NOT_FOUND" in one_line_error(r)


def test_put_csv_delimiter_and_header(cli, servers, tmp_path):
    """DuckDB's sniffer decides a CSV's shape unless --delimiter / --header / --no-header say
    it: a ';' file whose values hold commas, a header-less tab file, a first line that is data."""
    uri = servers[0]
    semi = tmp_path / "semi.csv"
    semi.write_text("name;price\nwidget, large;3\ngadget;4\n")
    r = cli("put", str(semi), "--table", "put_csv", "--mode", "replace", "--delimiter", ";",
            "--header", "-s", uri)
    assert r.returncode == 0, err(r)
    r = cli("query", "SELECT name, price FROM put_csv ORDER BY price", "--format", "json",
            "-s", uri)
    assert [json.loads(x) for x in out(r).splitlines()] == [
        {"name": "widget, large", "price": 3}, {"name": "gadget", "price": 4}]
    tabs = tmp_path / "tabs.tsv"
    tabs.write_text("a b\t1\nc d\t2\n")
    r = cli("put", str(tabs), "--table", "put_csv", "--mode", "replace", "--delimiter", "\\t",
            "--no-header", "-s", uri)
    assert r.returncode == 0, err(r)
    r = cli("query", "SELECT * FROM put_csv ORDER BY 2", "--format", "csv", "-s", uri)
    assert out(r).splitlines() == ["column0,column1", "a b,1", "c d,2"]
    # a usage error, never a load: the options are for CSV only, a delimiter is 1-4 characters
    pq.write_table(pa.table({"x": [1]}), tmp_path / "x.parquet")
    for bad in (["--delimiter", ";", str(tmp_path / "x.parquet")], ["--delimiter", "", str(semi)],
                ["--delimiter", "abcde", str(semi)], ["--no-header", str(tmp_path / "x.parquet")]):
        r = cli("put", *bad, "--table", "put_csv", "--mode", "replace", "-s", uri)
        assert r.returncode == 2, (bad, err(r))
    assert count(cli, uri, "put_csv") == 2


def test_put_parquet_and_arrow(cli, servers, tmp_path):
    uri = servers[0]
    t = pa.table({"k": pa.array(range(3000), pa.int64()), "s": [f"s{i}" for i in range(3000)]})
    pq.write_table(t, tmp_path / "t.parquet")
    with ipc.new_file(tmp_path / "t.arrow", t.schema) as w:
        w.write_table(t, max_chunksize=700)
    for name in ["t.parquet", "t.arrow"]:
        r = cli("put", str(tmp_path / name), "--table", "put_files", "--mode", "replace", "-s", uri)
        assert r.returncode == 0, err(r)
        assert count(cli, uri, "put_files") == 3000


def test_put_arrow_file_values_and_corrupt_late_batch(cli, servers, tmp_path):
    """An Arrow IPC file is mapped, its batches sent as views of the mapping: the values arrive
    intact; a batch with broken offsets far into the file fails the put whole."""
    uri = servers[0]
    n, chunk = 20000, 2000
    t = pa.table({"k": pa.array(range(n), pa.int64()), "s": ["ab"] * n})
    path = tmp_path / "v.arrow"
    with ipc.new_file(path, t.schema) as w:
        w.write_table(t, max_chunksize=chunk)
    r = cli("put", str(path), "--table", "put_mapped", "--mode", "replace", "-s", uri)
    assert r.returncode == 0, err(r)
    r = cli("query", "SELECT count(*) AS n, sum(k) AS sk, count(*) FILTER (s = 'ab') AS ab "
            "FROM put_mapped", "-s", uri, "--format", "csv")
    assert out(r).splitlines()[1] == f"{n},{n * (n - 1) // 2},{n}"
    # Every batch's string offsets start 0, 2, 4, 6, ...: break them in the 8th of 10 batches.
    data = bytearray(path.read_bytes())
    pattern = struct.pack("<5i", 0, 2, 4, 6, 8)
    at = -1
    for _ in range(8):
        at = data.index(pattern, at + 1)
    data[at + 12:at + 16] = struct.pack("<i", 0x7FFFFFF0)
    bad = tmp_path / "late_bad.arrow"
    bad.write_bytes(bytes(data))
    r = cli("put", str(bad), "--table", "put_mapped", "--mode", "append", "-s", uri)
    assert r.returncode == 1
    assert "offset" in one_line_error(r)
    assert count(cli, uri, "put_mapped") == n


def test_put_malformed_file_leaves_table_unchanged(cli, servers, tmp_path):
    uri = servers[0]
    cli("execute", "CREATE OR REPLACE TABLE put_bad AS SELECT range::BIGINT AS a FROM range(10)",
        "-s", uri)
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1 this is not parquet at all PAR1")
    r = cli("put", str(bad), "--table", "put_bad", "--mode", "append", "-s", uri)
    assert r.returncode == 1
    assert "bad.parquet" in one_line_error(r)
    assert count(cli, uri, "put_bad") == 10
    r = cli("put", str(tmp_path / "missing.csv"), "--table", "put_bad", "-s", uri)
    assert r.returncode == 1 and "missing.csv" in one_line_error(r)
    # A CSV that goes wrong far into the file: batches were already sent when it fails.
    late = tmp_path / "late.csv"
    late.write_text("a\n" + "".join(f"{i}\n" for i in range(300000)) + "not-a-number\n")
    r = cli("put", str(late), "--table", "put_bad", "--mode", "append", "-s", uri)
    assert r.returncode == 1
    assert "not-a-number" in one_line_error(r)
    assert count(cli, uri, "put_bad") == 10


def test_transfer(cli, servers):
    s1, s2, _ = servers
    cli("execute", "CREATE OR REPLACE TABLE xfer_src AS SELECT i AS id, 'v' || i AS v "
        "FROM range(100000) t(i)", "-s", s1)
    r = cli("transfer", "SELECT * FROM xfer_src", "--to", s2, "--table", "xfer_dst",
            "--mode", "replace", "-s", s1)
    assert r.returncode == 0, err(r)
    assert "100000 rows" in out(r)
    q = "SELECT count(*) AS n, sum(hash(id, v)) % 1000000007 AS h FROM {}"
    a = cli("query", q.format("xfer_src"), "-s", s1, "--format", "csv")
    b = cli("query", q.format("xfer_dst"), "-s", s2, "--format", "csv")
    assert out(a) == out(b)


def test_transfer_target_fails_leaves_target_unchanged(cli, servers):
    s1, s2, _ = servers
    cli("execute", "CREATE OR REPLACE TABLE xfer_bad AS SELECT 'keep' AS only_col", "-s", s2)
    r = cli("transfer", "SELECT i AS id, i * 2 AS twice FROM range(50000) t(i)", "--to", s2,
            "--table", "xfer_bad", "--mode", "append", "-s", s1)
    assert r.returncode == 1
    assert "INVALID_ARGUMENT" in one_line_error(r)
    assert count(cli, s2, "xfer_bad") == 1
    # Same schema, but a duplicate primary key arrives after many good batches.
    cli("execute", "CREATE OR REPLACE TABLE xfer_pk (id BIGINT PRIMARY KEY)", "-s", s2)
    cli("execute", "INSERT INTO xfer_pk VALUES (1), (2), (3)", "-s", s2)
    r = cli("transfer", "SELECT i AS id FROM range(10, 400000) t(i) UNION ALL SELECT 2",
            "--to", s2, "--table", "xfer_pk", "--mode", "append", "-s", s1)
    assert r.returncode == 1, out(r)
    one_line_error(r)
    assert count(cli, s2, "xfer_pk") == 3


def test_transfer_bad_query_touches_nothing(cli, servers):
    s1, s2, _ = servers
    r = cli("transfer", "SELECT * FROM nowhere_xyz", "--to", s2, "--table", "never_made",
            "-s", s1)
    assert r.returncode == 1
    assert "nowhere_xyz" in one_line_error(r)
    r = cli("query", "SELECT count(*) FROM never_made", "-s", s2)
    assert r.returncode == 1


def test_transfer_unreachable_target_exit_3(cli, servers):
    r = cli("transfer", "SELECT 1 AS x", "--to", "grpc://127.0.0.1:1", "--table", "t",
            "-s", servers[0], "--timeout", "5")
    assert r.returncode == 3


def test_exchange_processed(cli, servers):
    r = cli("exchange", "processed", "--query", "SELECT i FROM range(3000) t(i)",
            "--format", "json", "-s", servers[0])
    assert r.returncode == 0, err(r)
    rows = [json.loads(ln) for ln in out(r).splitlines() if ln.strip()]
    assert len(rows) == 3000
    assert all(x["processed"] is True for x in rows)


def test_register_exchange_unregister(cli, servers, tmp_path):
    uri = servers[0]
    r = cli("register", "cli_sum", "SELECT sum(i) AS total FROM input", "--mode", "stream_end",
            "--replace", "-s", uri)
    assert r.returncode == 0, err(r)
    r = cli("exchangers", "-s", uri)
    assert "cli_sum" in out(r)
    src = tmp_path / "in.csv"
    src.write_text("i\n" + "".join(f"{i}\n" for i in range(100)))
    r = cli("exchange", "cli_sum", "--input", str(src), "--format", "csv", "-s", uri)
    assert r.returncode == 0, err(r)
    assert list(csv.DictReader(io.StringIO(out(r)))) == [{"total": "4950"}]
    r = cli("unregister", "cli_sum", "-s", uri)
    assert r.returncode == 0
    r = cli("exchange", "cli_sum", "--input", str(src), "-s", uri)
    assert r.returncode == 1 and "NOT_FOUND" in one_line_error(r)


def test_tables_execute_drop(cli, servers):
    uri = servers[1]
    r = cli("execute", "CREATE OR REPLACE TABLE cli_t AS SELECT * FROM range(7)", "-s", uri)
    assert r.returncode == 0, err(r)
    r = cli("tables", "-s", uri)
    assert r.returncode == 0
    line = [ln for ln in out(r).splitlines() if " cli_t " in ln + " "]
    assert line and line[0].split()[-1] == "7"
    r = cli("drop", "cli_t", "-s", uri)
    assert r.returncode == 0
    assert "cli_t" not in out(cli("tables", "-s", uri)).split()
    r = cli("drop", "cli_t", "-s", uri)
    assert r.returncode == 1 and "NOT_FOUND" in one_line_error(r)


def test_tables_pattern_and_drop_any_name(cli, servers, tmp_path):
    uri = servers[1]
    src = tmp_path / "two.csv"
    src.write_text("a\n1\n2\n")
    for name in ("pat_alpha", "pat_beta", '"pat quoted"', "{pat}"):
        r = cli("put", str(src), "--table", name, "--mode", "replace", "-s", uri)
        assert r.returncode == 0, err(r)
    r = cli("execute", "CREATE SCHEMA IF NOT EXISTS pat_s; CREATE OR REPLACE TABLE pat_s.pat_alpha "
            "AS SELECT 1 AS a", "-s", uri)
    assert r.returncode == 0, err(r)
    r = cli("tables", "pat_a%", "--json", "-s", uri)
    assert r.returncode == 0, err(r)
    assert sorted((t["schema"], t["table"]) for t in json.loads(out(r))) == \
        [("main", "pat_alpha"), ("pat_s", "pat_alpha")]
    assert json.loads(out(cli("tables", "nothing_like_this%", "--json", "-s", uri))) == []
    # drop takes the name as it is, and --schema
    for name in ('"pat quoted"', "{pat}", "pat_beta"):
        r = cli("drop", name, "-s", uri)
        assert r.returncode == 0 and "dropped: true" in out(r), (name, err(r))
    r = cli("drop", "pat_alpha", "--schema", "pat_s", "-s", uri)
    assert r.returncode == 0, err(r)
    left = {(t["schema"], t["table"]) for t in json.loads(out(cli("tables", "--json", "-s", uri)))}
    assert ("main", "pat_alpha") in left and ("pat_s", "pat_alpha") not in left
    assert not any("pat quoted" in t or "{pat}" in t or t == "pat_beta" for _, t in left)


def test_sql_starting_with_a_comment_and_end_of_options(cli, servers):
    r = cli("query", "-- the answer\nSELECT 42 AS x", "-s", servers[0], "--format", "csv")
    assert r.returncode == 0, err(r)
    assert out(r).split() == ["x", "42"]
    # after "--" every argument is positional, even one that looks like an option
    r = cli("query", "-s", servers[0], "--format", "csv", "--", "SELECT '-q' AS opt")
    assert r.returncode == 0, err(r)
    assert out(r).split() == ["opt", "-q"]
    r = cli("query", "-s", servers[0], "--", "--bogus")  # SQL that is only a comment
    assert r.returncode == 1 and "No statement" in one_line_error(r)


def test_wide_rows_put_and_get(cli, servers, tmp_path):
    """One 300 MB batch in a file goes up as messages under 4 MiB, and comes back the same way
    (both failed against the 128 MB message limit)."""
    uri = servers[0]
    n = 3000
    t = pa.table({"i": pa.array(range(n), pa.int64()),
                  "s": pa.array([chr(65 + i % 26) * 100_000 for i in range(n)])})
    src = tmp_path / "wide.arrows"
    with pa.OSFile(str(src), "wb") as f, pa.ipc.new_stream(f, t.schema) as w:
        w.write_table(t, max_chunksize=n)  # one batch
    r = cli("put", str(src), "--table", "wide_rows", "--mode", "replace", "-s", uri)
    assert r.returncode == 0, err(r)
    r = cli("get", "SELECT * FROM wide_rows ORDER BY i", "-o", str(tmp_path / "back.arrows"),
            "-s", uri)
    assert r.returncode == 0, err(r)
    with pa.OSFile(str(tmp_path / "back.arrows")) as f:
        back = pa.ipc.open_stream(f).read_all()
    assert back.equals(t)


def test_failed_write_leaves_no_file(cli, servers, tmp_path):
    """A write that fails locally (Parquet has no negative intervals) leaves no empty file and
    no temporary file; a file that was there stays as it was."""
    sql = "SELECT INTERVAL '-1 day' AS iv"
    new = tmp_path / "neg.parquet"
    r = cli("get", sql, "-o", str(new), "-s", servers[0])
    assert r.returncode == 1 and "interval" in one_line_error(r).lower()
    assert not new.exists()
    old = tmp_path / "old.parquet"
    old.write_bytes(b"keep me")
    r = cli("query", sql, "-o", str(old), "-s", servers[0])
    assert r.returncode == 1
    assert old.read_bytes() == b"keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.parquet"]
    # and a server-side error in the middle of the stream
    r = cli("get", "SELECT CASE WHEN range < 300000 THEN range ELSE error('late') END AS x "
            "FROM range(400000)", "-o", str(tmp_path / "late.arrows"), "-s", servers[0])
    assert r.returncode == 1 and "late" in one_line_error(r)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.parquet"]
    # Arrow files that were there stay as they were too (they were overwritten from the start,
    # leaving a well-formed stream of part of the rows), and a complete write replaces them.
    for name in ("old.arrows", "old.arrow"):
        kept = tmp_path / name
        kept.write_bytes(b"keep me")
        r = cli("get", "SELECT CASE WHEN range < 300000 THEN range ELSE error('late') END AS x "
                "FROM range(400000)", "-o", str(kept), "-s", servers[0])
        assert r.returncode == 1 and "late" in one_line_error(r)
        assert kept.read_bytes() == b"keep me", name
        r = cli("get", "SELECT range AS x FROM range(1000)", "-o", str(kept), "-s", servers[0])
        assert r.returncode == 0, err(r)
        with open(kept, "rb") as f:
            back = (pa.ipc.open_file(f) if name.endswith(".arrow") else pa.ipc.open_stream(f))
            assert back.read_all().num_rows == 1000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.arrow", "old.arrows", "old.parquet"]


def test_exchange_truncated_input_names_the_cause(cli, servers, tmp_path):
    t = pa.table({"k": pa.array(range(200_000), pa.int64()), "s": ["abc"] * 200_000})
    full = tmp_path / "full.arrows"
    with pa.OSFile(str(full), "wb") as f, pa.ipc.new_stream(f, t.schema) as w:
        w.write_table(t, max_chunksize=10_000)
    data = full.read_bytes()
    cut = tmp_path / "cut.arrows"
    cut.write_bytes(data[: int(len(data) * 0.8)])
    r = cli("exchange", "echo", "--input", str(cut), "-s", servers[0], "--format", "csv")
    assert r.returncode == 1
    assert "ends in the middle of a message" in one_line_error(r)  # not "CANCELLED: CANCELLED"


def test_compressed_csv_and_json_files(cli, servers, tmp_path):
    import gzip

    uri = servers[0]
    out_gz = tmp_path / "o.csv.gz"
    r = cli("get", "SELECT range AS i FROM range(1000)", "-o", str(out_gz), "-s", uri)
    assert r.returncode == 0, err(r)
    rows = list(csv.DictReader(io.StringIO(gzip.decompress(out_gz.read_bytes()).decode())))
    assert [int(x["i"]) for x in rows] == list(range(1000))
    r = cli("put", str(out_gz), "--table", "from_gz", "--mode", "replace", "-s", uri)
    assert r.returncode == 0, err(r)
    assert count(cli, uri, "from_gz") == 1000
    r = cli("get", "SELECT 1 AS a", "-o", str(tmp_path / "o.json.zst"), "-s", uri)
    assert r.returncode == 0, err(r)
    r = cli("put", str(tmp_path / "o.json.zst"), "--table", "from_zst", "--mode", "replace",
            "-s", uri)
    assert r.returncode == 0 and count(cli, uri, "from_zst") == 1, err(r)
    r = cli("get", "SELECT 1", "-o", str(tmp_path / "o.parquet.gz"), "-s", uri)
    assert r.returncode == 2 and "cannot tell the format" in one_line_error(r)


def test_tables_listing_aligns_wide_names(cli, servers):
    uri = servers[1]
    r = cli("execute", 'CREATE OR REPLACE TABLE "zzw_wïde表" AS SELECT 1 AS a; '
            'CREATE OR REPLACE TABLE zzw_wide_plain AS SELECT 1 AS a FROM range(22)', "-s", uri)
    assert r.returncode == 0, err(r)
    r = cli("tables", "zzw%", "-s", uri)
    assert r.returncode == 0, err(r)

    def columns(line):  # terminal columns: the CJK character takes two
        return sum(2 if "\u4e00" <= ch <= "\u9fff" else 1 for ch in line)

    lines = out(r).splitlines()
    assert len(lines) == 3 and all(ln == ln.rstrip() for ln in lines)
    assert len({columns(ln) for ln in lines}) == 1, lines


def test_sql_from_stdin(cli, servers):
    uri = servers[1]
    script = (b"-- set up\nCREATE OR REPLACE TABLE stdin_t (i INT);\n"
              b"INSERT INTO stdin_t SELECT range FROM range(5);\n"
              b"INSERT INTO stdin_t VALUES (10);\n")
    r = cli("execute", "-", "-s", uri, input=script)
    assert r.returncode == 0, err(r)
    assert out(r).strip() == "rows_changed: 6"
    r = cli("query", "-", "-s", uri, "--format", "csv", input=b"SELECT sum(i) AS s FROM stdin_t")
    assert r.returncode == 0, err(r)
    assert out(r).split() == ["s", "20"]
    # one transaction: the failing last statement leaves nothing of the first
    r = cli("execute", "-", "-s", uri,
            input=b"INSERT INTO stdin_t VALUES (99); INSERT INTO nowhere VALUES (1);")
    assert r.returncode == 1 and "nowhere" in one_line_error(r)
    assert count(cli, uri, "stdin_t") == 6
