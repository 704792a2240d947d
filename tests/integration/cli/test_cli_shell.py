"""`mallard shell`: scripts from stdin (statements split at ';' outside quotes and comments,
dot commands, errors and exit codes) and an interactive session on a pseudo-terminal (prompts,
a continuation line, Ctrl-C cancelling a running statement and dropping a typed one, Ctrl-D)."""
import csv
import io
import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time

import pytest


def out(r):
    return r.stdout.decode()


def err(r):
    return r.stderr.decode()


def shell(cli, uri, script, *args):
    return cli("shell", "-s", uri, *args, input=script.encode())


def shell_env(history=""):
    """The environment for a shell started directly: the password set, CI unset, a terminal
    that draws the line editor, and the history file (none by default)."""
    env = dict(os.environ, MALLARD_PASSWORD="password123", TERM="xterm",
               MALLARD_HISTORY=str(history))
    env.pop("CI", None)
    return env


def serve(mallard_bin, listen):
    """A one-server `mallard serve` on listen; returns the process and its URL."""
    p = subprocess.Popen([mallard_bin, "serve", "--listen", listen],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    m = re.match(r"listening (grpc://\S+)", p.stdout.readline().strip())
    assert m, "mallard serve did not start"
    return p, m.group(1)


def test_script_statements(cli, servers):
    uri = servers[0]
    script = """
        CREATE OR REPLACE TABLE sh_t AS SELECT * FROM range(5) r(i); -- a comment; not a split
        INSERT INTO sh_t VALUES (10);
        /* a block; comment */
        SELECT i, 'a;b' AS "odd;name"
          FROM sh_t
         WHERE i > 2
         ORDER BY i;
        SELECT count(*) AS n FROM sh_t
    """  # the last statement needs no ';' at the end of a script
    r = shell(cli, uri, script)
    assert r.returncode == 0, err(r)
    # CSV (stdout is not a terminal): one header + rows block per statement that returns rows.
    blocks = [b for b in out(r).strip().split("\n") if b]
    assert "i,odd;name" in blocks
    rows = list(csv.reader(io.StringIO(out(r))))
    assert ["3", "a;b"] in rows and ["4", "a;b"] in rows and ["10", "a;b"] in rows
    assert rows[-2:] == [["n"], ["6"]]


def test_script_errors_and_bail(cli, servers):
    uri = servers[0]
    r = shell(cli, uri, "SELECT nope;\nCREATE OR REPLACE TABLE sh_after AS SELECT 1 AS x;\n")
    assert r.returncode == 1
    assert "mallard shell: line 1: INVALID_ARGUMENT:" in err(r) and "nope" in err(r)
    r = cli("query", "SELECT x FROM sh_after", "-s", uri, "--format", "csv")
    assert out(r).split() == ["x", "1"]  # the statement after the error ran

    r = shell(cli, uri, "SELECT nope;\nCREATE OR REPLACE TABLE sh_bail AS SELECT 1 AS x;\n",
              "--bail")
    assert r.returncode == 1
    r = cli("query", "SELECT count(*) AS n FROM duckdb_tables() WHERE table_name = 'sh_bail'",
            "-s", uri, "--format", "csv")
    assert out(r).split() == ["n", "0"]  # --bail stopped before it


def test_script_errors_name_their_line(cli, servers):
    """A script's errors say on which line the statement (or dot command) starts, as psql and
    DuckDB's command line do; an interactive session's do not."""
    script = ("-- setup\n"
              "SELECT 1 AS ok;\n"
              "\n"
              "SELECT 'a;\nb' AS two_lines; SELECT\n"  # lines 4 and 5
              "  nope1;\n"
              "/* c\n*/ .bogus\n"  # not a dot command: inside a statement, a syntax error
              ";\n"
              ".bogus\n"
              "SELECT nope2")
    r = shell(cli, servers[0], script)
    assert r.returncode == 1
    lines = err(r).splitlines()
    assert [ln.split(":")[1] for ln in lines] == [" line 5", " line 8", " line 10", " line 11"]
    assert "nope1" in lines[0] and "syntax error" in lines[1] and ".bogus" in lines[2]
    assert "nope2" in lines[3]


def test_dot_commands(cli, servers):
    uri = servers[0]
    r = shell(cli, uri, "CREATE OR REPLACE TABLE sh_dot AS SELECT 1 AS x;\n"
                        ".tables sh_do%\n"
                        ".exchangers\n"
                        ".format json\n"
                        "SELECT 7 AS j, [1, 2] AS l;\n"
                        ".format table\n"
                        ".maxrows 3\n"
                        "SELECT * FROM range(10) r(i);\n"
                        ".timer on\n"
                        "SELECT 1 AS t;\n")
    assert r.returncode == 0, err(r)
    text = out(r)
    tables = [ln.split() for ln in text.splitlines() if "sh_dot" in ln]
    assert tables == [["main", "sh_dot", "1"]]
    assert re.search(r"^processed\s+builtin", text, re.M)
    objs = [json.loads(ln) for ln in text.splitlines() if ln.startswith("{")]
    assert objs == [{"j": 7, "l": [1, 2]}]
    assert "10 rows (3 shown)" in text
    assert re.search(r"^Run Time: \d+\.\d{3} s$", err(r), re.M)

    # EXPLAIN's plan drawn line by line in table mode (it was squeezed into one cell)
    r = shell(cli, uri, ".format table\nEXPLAIN SELECT 1 + 1 AS two;\n")
    assert r.returncode == 0, err(r)
    assert re.search(r"^│\s+PROJECTION\s+│$", out(r), re.M), out(r)

    for bad, msg in ((".bogus", "unknown command '.bogus'"), (".format xml", ".format table"),
                     (".maxrows x", ".maxrows needs a number"), (".timer maybe", ".timer on|off")):
        r = shell(cli, uri, bad + "\n")
        assert r.returncode == 1, bad
        assert msg in err(r), (bad, err(r))
    r = shell(cli, uri, ".quit\nSELECT nope;\n")  # nothing after .quit runs
    assert r.returncode == 0 and err(r) == ""


def test_transaction_control_refused(cli, servers):
    """Each statement is its own call: a BEGIN would be rolled back at once and what follows
    committed statement by statement. Refused, naming what to use instead; a script stops
    there (it went on, and a debit was committed without its credit)."""
    uri = servers[0]
    script = ("CREATE OR REPLACE TABLE sh_acct AS SELECT 1 AS id, 100 AS bal UNION ALL "
              "SELECT 2, 0;\n-- move 50\nbegin;\nUPDATE sh_acct SET bal = bal - 50 WHERE id = 1;\n"
              "UPDATE sh_acct SET bal = bal + 50 WHERE id = 'two';\n/* x */ COMMIT;\n")
    r = shell(cli, uri, script)
    assert r.returncode == 1
    assert err(r).count("cannot span statements") == 1 and "mallard execute" in err(r)
    assert "the script stops here" in err(r)
    r = cli("query", "SELECT bal FROM sh_acct ORDER BY id", "-s", uri, "--format", "csv")
    assert out(r).split() == ["bal", "100", "0"]  # nothing after BEGIN ran
    # a byte order mark or an invisible space does not hide BEGIN; a leading BOM is no SQL
    for head in (b"\xef\xbb\xbf", b"\xc2\xa0", b"\xe2\x80\x8b"):
        r = cli("shell", "-s", uri, input=head + b"BEGIN;\nSELECT 1 AS after;\n")
        assert r.returncode == 1 and "the script stops here" in err(r), (head, err(r))
        assert out(r) == "", (head, out(r))
    r = cli("shell", "-s", uri, input=b"\xef\xbb\xbfSELECT 5 AS five;\n")
    assert r.returncode == 0 and out(r).split() == ["five", "5"], err(r)


def test_script_input_edge_cases(cli, servers):
    uri = servers[0]
    # A NUL byte: the statement it belongs to is not run (it would be cut at the NUL); the
    # others run, those on its line too, and a statement that goes on over lines is one.
    r = cli("shell", "-s", uri, input=b"SELECT 1 AS a;\nSELECT 2\0 AS b;\nSELECT 3 AS c;\n")
    assert r.returncode == 1, err(r)
    assert "line 2: the statement holds a NUL byte, which SQL text cannot" in err(r), err(r)
    assert out(r).split() == ["a", "1", "c", "3"]
    r = cli("shell", "-s", uri, input=b"SELECT 1 AS a; SELECT 'x\0\n;' AS b; SELECT 3 AS c;\n"
                                      b".tables\0\nSELECT 4 AS d\n")
    assert r.returncode == 1, err(r)
    assert out(r).split() == ["a", "1", "c", "3", "d", "4"], out(r)
    msgs = err(r).splitlines()
    assert len(msgs) == 2, msgs
    assert msgs[0].startswith("mallard shell: line 1: the statement holds a NUL byte"), msgs
    assert msgs[1].startswith("mallard shell: line 3: the dot command holds a NUL byte"), msgs
    # a NUL in a comment or blanks between statements is in neither: nothing is dropped
    r = cli("shell", "-s", uri, input=b"SELECT 1 AS a; -- c\0\n.maxrows 5\n\nSELECT 2 AS b; \0\n"
                                      b"SELECT 3 AS c;\n")
    assert r.returncode == 0, err(r)
    assert out(r).split() == ["a", "1", "b", "2", "c", "3"], out(r)
    # Quotes the splitter must read as DuckDB does.
    r = shell(cli, uri, "SELECT E'it''s \\'; x' AS s;\nSELECT 1 AS a$b$;\n")
    assert r.returncode == 0, err(r)
    rows = list(csv.reader(io.StringIO(out(r))))
    assert rows == [["s"], ["it's '; x"], ["a$b$"], ["1"]]
    # A result cut by an error mid-stream ends its line: the next result does not run into it.
    r = shell(cli, uri, "SELECT CASE WHEN range < 300000 THEN range ELSE error('cut') END AS x "
                        "FROM range(400000);\nSELECT 'next' AS n;\n")
    assert r.returncode == 1 and "cut" in err(r)
    lines = out(r).splitlines()
    assert lines[-2:] == ["n", "next"], lines[-3:]
    assert all(ln == "x" or ln.isdigit() for ln in lines[:-2]), [ln for ln in lines[:-2]
                                                                 if not ln.isdigit()][:3]


def test_bad_arguments_and_connection(cli, servers):
    r = cli("shell", "--format", "parquet", input=b"")
    assert r.returncode == 2 and "--format table|csv|json" in err(r)
    r = cli("shell", "extra", input=b"")
    assert r.returncode == 2
    r = cli("shell", "-s", "grpc://127.0.0.1:1", input=b"SELECT 1;\n")
    assert r.returncode == 3 and "cannot connect" in err(r)
    r = cli("shell", "-s", servers[0], password="wrong", input=b"SELECT 1;\n")
    assert r.returncode != 0 and "UNAUTHENTICATED" in err(r)
    r = cli("shell", "-s", servers[0], env={"MALLARD_TOKEN": "bogus"}, input=b"SELECT 1;\n")
    assert r.returncode == 1 and "the token in MALLARD_TOKEN was refused" in err(r), err(r)


def test_refused_token_ends_the_session_at_the_start(mallard_bin, servers):
    """With a pre-issued token nothing is asked at connect: the banner said "connected" and
    every statement then failed. The shell asks the server once and stops, saying why."""
    env = shell_env()
    env["MALLARD_TOKEN"] = "bogus"
    p = Pty([mallard_bin, "shell", "-s", servers[0]], env)
    try:
        seen = p.expect(r"MALLARD_TOKEN was refused")
        assert "connected to" not in seen and "UNAUTHENTICATED" in seen, seen
        assert p.wait(timeout=30) == 1
    finally:
        p.close()


class Pty:
    """mallard shell with a pseudo-terminal as its controlling terminal (Ctrl-C is SIGINT)."""

    # Runs a command under a session leader that ignores Ctrl-C and stays until killed, as a
    # user's shell does: the terminal's modes the command leaves behind stay (when the session
    # leader itself ends, Linux resets a pseudo-terminal's modes), and "exit=N" says how it ended.
    LEADER = ("import signal, subprocess, sys\n"
              "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
              "rc = subprocess.call(sys.argv[1:], preexec_fn=lambda: signal.signal("
              "signal.SIGINT, signal.SIG_DFL))\n"
              "print(f'exit={rc}', flush=True)\n"
              "signal.pause()\n")

    def __init__(self, argv, env, leader=False):
        if leader:
            argv = [sys.executable, "-c", self.LEADER, *argv]
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: exec, never return
            os.execve(argv[0], argv, env)
        self.buf = b""

    def echo_on(self):
        import termios
        return bool(termios.tcgetattr(self.fd)[3] & termios.ECHO)

    def exit_status(self, timeout=30):
        """How a command run with leader=True ended (negative: killed by that signal)."""
        return int(re.search(r"exit=(-?\d+)", self.expect(r"exit=-?\d+", timeout)).group(1))

    def expect(self, pattern, timeout=30):
        rx = re.compile(pattern.encode() if isinstance(pattern, str) else pattern)
        deadline = time.time() + timeout
        while True:
            m = rx.search(self.buf)
            if m:
                before, self.buf = self.buf[:m.end()], self.buf[m.end():]
                return before.decode(errors="replace")
            left = deadline - time.time()
            assert left > 0, f"no {pattern!r} in {self.buf.decode(errors='replace')!r}"
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                try:
                    data = os.read(self.fd, 65536)
                except OSError:
                    data = b""
                assert data, f"the shell ended; no {pattern!r} in {self.buf!r}"
                self.buf += data

    def send(self, data):
        os.write(self.fd, data.encode() if isinstance(data, str) else data)

    def wait(self, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
            try:  # keep draining output so the child never blocks on a full terminal
                if select.select([self.fd], [], [], 0.1)[0]:
                    os.read(self.fd, 65536)
            except OSError:
                time.sleep(0.05)
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        raise AssertionError("mallard shell did not exit")

    def close(self):
        """Kills the shell if it still runs and closes the terminal."""
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(self.fd)


def test_interactive_session(mallard_bin, servers):
    p = Pty([mallard_bin, "shell", "-s", servers[0]], shell_env())
    try:
        banner = p.expect(r"mallard> ")
        assert "connected to " + servers[0] in banner
        p.send("SELECT 41 + 1\n")
        p.expect(r"   \.\.\.> ")  # continuation prompt
        p.send("  AS answer;\n")
        table = p.expect(r"mallard> ")
        assert re.search(r"│ answer │", table) and re.search(r"│\s+42 │", table), table

        # Ctrl-C while a statement runs, before its first row and while rows stream in: the
        # statement is cancelled, the session goes on.
        for sql, where in (("SELECT count(*) FROM range(100000000000000) a;", ""),
                           # rows arrive slowly (hashing), so the client holds little
                           ("SELECT md5(md5(md5(range::VARCHAR))) AS h FROM range(100000000000);",
                            "reading the result: ")):
            p.send(sql + "\n")
            time.sleep(1.5)
            t0 = time.time()
            p.send(b"\x03")
            cancelled = p.expect(r"mallard> ", timeout=30)
            assert f"mallard shell: {where}cancelled (Ctrl-C)\r\n" in cancelled, cancelled
            assert time.time() - t0 < 20

        # Ctrl-C while typing: the unfinished statement (an open quote here) is dropped unrun.
        p.send("SELECT 'never\n")
        p.expect(r"   \.\.\.> ")
        p.send(b"\x03")
        assert p.expect(r"mallard> ") == "^C\r\nmallard> "
        p.send("SELECT 'after' AS s;\n")
        after = p.expect(r"mallard> ")
        assert re.search(r"│ after\s+│", after) and "never" not in after, after

        p.send(b"\x04")  # Ctrl-D at an empty prompt leaves
        assert p.wait() == 0
    finally:
        p.close()


def test_logs_in_again_after_server_restart(mallard_bin, tmp_path):
    """The server restarted (or the session expired): the next statement is refused as
    UNAUTHENTICATED before it runs; the shell logs in again and runs it. Every statement failed
    until the shell was restarted."""
    srv, url = serve(mallard_bin, "127.0.0.1:0")
    p = Pty([mallard_bin, "shell", "-s", url], shell_env())
    try:
        p.expect(r"mallard> ")
        p.send("SELECT 1 AS one;\n")
        assert re.search(r"│\s+1 │", p.expect(r"\nmallard> "))

        def restart():
            nonlocal srv
            srv.send_signal(signal.SIGTERM)
            assert srv.wait(timeout=30) == 0
            srv, _ = serve(mallard_bin, url.replace("grpc://", ""))

        def until(line, done):
            seen = ""
            for _ in range(3):  # the first may find the old connection broken (UNAVAILABLE)
                p.send(line)
                seen = p.expect(r"\nmallard> ")
                if done(seen):
                    break
            return seen

        restart()
        seen = until("SELECT 2 AS two;\n", lambda seen: "│ two" in seen)
        assert "logging in again" in seen and re.search(r"│\s+2 │", seen), seen
        restart()  # a dot command logs in again too
        seen = until(".exchangers\n", lambda seen: "logging in again" in seen)
        assert "UNAUTHENTICATED" not in seen and re.search(r"processed\s+builtin", seen), seen
        p.send(b"\x04")
        assert p.wait() == 0
    finally:
        srv.send_signal(signal.SIGTERM)
        srv.wait(timeout=30)
        p.close()


def test_script_stops_when_the_server_goes_away(mallard_bin):
    """A script whose server went away exited 1 (as for bad SQL) after trying every remaining
    statement against it; it stops at the first such statement and exits 3, as the other
    commands do for an unreachable server."""
    srv, url = serve(mallard_bin, "127.0.0.1:0")
    sh = subprocess.Popen([mallard_bin, "shell", "-s", url], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=shell_env())
    try:
        sh.stdin.write(b"SELECT 1 AS first;\n")
        sh.stdin.flush()
        assert sh.stdout.readline() == b"first\n" and sh.stdout.readline() == b"1\n"
        srv.send_signal(signal.SIGTERM)
        assert srv.wait(timeout=30) == 0
        sh.stdin.write(b"SELECT 2 AS second;\nSELECT 3 AS third;\nSELECT 4 AS fourth;\n")
        sh.stdin.close()
        rc = sh.wait(timeout=60)
        errors = sh.stderr.read().decode().splitlines()
        assert rc == 3, errors
        assert len(errors) == 1 and "UNAVAILABLE" in errors[0], errors
    finally:
        if srv.poll() is None:
            srv.kill()
        if sh.poll() is None:
            sh.kill()


def test_statement_cut_by_shutdown_says_so(mallard_bin):
    """A statement the server cut at its shutdown was reported as "cannot connect to ...":
    the client had connected; the server's own words say what happened."""
    srv = subprocess.Popen([mallard_bin, "serve", "--listen", "127.0.0.1:0", "--grace", "0"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    m = re.match(r"listening (grpc://\S+)", srv.stdout.readline().strip())
    assert m, "mallard serve did not start"
    sh = subprocess.Popen([mallard_bin, "shell", "-s", m.group(1)], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=shell_env())
    try:
        sh.stdin.write(b"SELECT count(*) FROM range(100000000000000) a;\n")
        sh.stdin.close()
        time.sleep(1.5)
        srv.send_signal(signal.SIGTERM)
        assert srv.wait(timeout=30) == 0
        assert sh.wait(timeout=60) == 3
        errors = sh.stderr.read().decode()
        assert "shutting down" in errors and "cannot connect" not in errors, errors
    finally:
        for p in (srv, sh):
            if p.poll() is None:
                p.kill()


def test_ctrl_c_at_the_password_prompt_leaves(mallard_bin, servers):
    """Ctrl-C at the password prompt was ignored (and fired later, at the first prompt): it
    leaves now (status 130), with the terminal's echo back on."""
    env = dict(os.environ)
    for k in ("MALLARD_PASSWORD", "MALLARD_TOKEN", "CI"):
        env.pop(k, None)
    env["MALLARD_HISTORY"] = ""
    p = Pty([mallard_bin, "shell", "-s", servers[0]], env, leader=True)
    try:
        p.expect(r"password for admin: ")
        assert not p.echo_on()  # while asking
        p.send(b"\x03")
        assert p.exit_status(timeout=10) == 130
        assert p.echo_on(), "the terminal was left without echo"
    finally:
        p.close()


def test_transfer_prompts_for_each_server_by_name(mallard_bin, servers):
    """Without MALLARD_PASSWORD, `transfer` asks on the terminal once per end, naming its server
    (two "password for admin: " prompts could not be told apart), both before the query runs.
    Ctrl-D at a prompt says no password was given; Ctrl-C leaves with the terminal's echo on."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLARD_") and k != "CI"}
    argv = [mallard_bin, "transfer", "SELECT 7 AS x", "-s", servers[0], "--to", servers[1],
            "--table", "prompted", "--mode", "replace"]
    def at_second_prompt(leader=False):
        """transfer on a terminal, the source's password given, the target's asked."""
        p = Pty(argv, env, leader=leader)
        p.expect(re.escape(f"password for admin at {servers[0]}: "))
        p.send("password123\r")
        p.expect(re.escape(f"password for admin at {servers[1]}: "))
        return p

    p = at_second_prompt()
    try:
        p.send("password123\r")
        p.expect(r"transferred 1 row into prompted")
        assert p.wait(timeout=20) == 0
    finally:
        p.close()
    # both asked before either server is: the second password typed ahead of its prompt is
    # kept (and not shown)
    p = Pty(argv, env)
    try:
        p.expect(re.escape(f"password for admin at {servers[0]}: "))
        p.send("password123\rpassword123\r")
        out = p.expect(r"transferred 1 row into prompted")
        assert "password123" not in out, out
        assert p.wait(timeout=20) == 0
    finally:
        p.close()
    p = at_second_prompt()
    try:
        p.send(b"\x04")
        p.expect(re.escape(f"no password given for {servers[1]}"))
        assert p.wait(timeout=20) == 2
    finally:
        p.close()
    p = at_second_prompt(leader=True)
    try:
        assert not p.echo_on()  # while asking
        p.send(b"\x03")
        assert p.exit_status(timeout=20) == -signal.SIGINT
        assert p.echo_on(), "the terminal was left without echo"
    finally:
        p.close()
    # a URI is shown without its control characters (an escape sequence would drive the
    # terminal the password is typed on)
    odd = "grpc+unix:///tmp/no\x1b]0;pwned\x07.sock"
    p = Pty([mallard_bin, "transfer", "SELECT 1", "-s", odd, "--to", servers[1], "--table",
             "t"], env)
    try:
        p.expect(re.escape("password for admin at grpc+unix:///tmp/no?]0;pwned?.sock: "))
        p.send(b"\x04")
        assert p.wait(timeout=20) == 2
    finally:
        p.close()


UP, LEFT, HOME = "\x1b[A", "\x1b[D", "\x1b[H"


def set_columns(fd, cols):
    import fcntl
    import struct
    import termios
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, cols, 0, 0))


def test_line_editing_and_history(mallard_bin, servers, tmp_path):
    """On a terminal the line can be edited (arrows, Home, word and line deletion), Up recalls
    earlier lines (also from the history file of an earlier session) and Ctrl-R searches them;
    a line wider than the terminal scrolls sideways instead of wrapping."""
    hist = tmp_path / "history"
    hist.write_text("SELECT 'from the file' AS f;\n")
    p = Pty([mallard_bin, "shell", "-s", servers[0]], shell_env(hist))
    try:
        set_columns(p.fd, 40)
        p.expect(r"mallard> ")  # redrawn lines start with "\r", a new prompt with "\n"
        p.send("ELECT 6 * 7 AS answer;" + HOME + "S\r")  # Home, then insert at the start
        assert re.search(r"│\s+42 │", p.expect(r"\nmallard> "))
        p.send("SELECT 'typo' AS t;\x15SELECT 5 AS five; -- gone\x17\x17" + LEFT + "\x0b\r")
        five = p.expect(r"\nmallard> ")  # Ctrl-U dropped the typo, Ctrl-W and Ctrl-K the comment
        assert re.search(r"│\s+5 │", five) and "typo" not in five.split("\n", 1)[-1], five
        p.send(UP * 3 + "\r")  # three lines back: the one the file kept
        assert re.search(r"│ from the file │", p.expect(r"\nmallard> "))
        p.send("\x12" + "6 *" + "\r")  # Ctrl-R
        assert re.search(r"│\s+42 │", p.expect(r"\nmallard> "))
        p.send("SELECT length('" + "x" * 100 + "') AS n;\r")
        long = p.expect(r"\nmallard> ")
        assert re.search(r"│\s+100 │", long), long
        assert "x" * 40 not in long  # drawn as a 40-column window, never the whole line
        p.send("\x04")
        assert p.wait() == 0
    finally:
        p.close()
    lines = hist.read_text().splitlines()
    assert lines == ["SELECT 'from the file' AS f;", "SELECT 6 * 7 AS answer;",
                     "SELECT 5 AS five;", "SELECT 'from the file' AS f;",
                     "SELECT 6 * 7 AS answer;", "SELECT length('" + "x" * 100 + "') AS n;"]


def test_multi_line_statement_is_one_history_entry(mallard_bin, servers, tmp_path):
    """A statement typed over several lines is one history entry, its lines joined by spaces
    (Up brings the whole statement back, as in psql and DuckDB's shell); where a line break is
    part of the SQL (inside a literal, or ending a -- comment) its lines stay one entry each."""
    hist = tmp_path / "history"
    p = Pty([mallard_bin, "shell", "-s", servers[0]], shell_env(hist))
    try:
        p.expect(r"mallard> ")
        p.send("SELECT 6   \r")
        p.expect(r"\.\.\.> ")
        p.send("\r")  # a blank line inside the statement
        p.expect(r"\.\.\.> ")
        p.send("    * 7 AS m;\r")
        assert re.search(r"│\s+42 │", p.expect(r"\nmallard> "))
        p.send("SELECT 'a\r")
        p.expect(r"\.\.\.> ")
        p.send("b' AS s;\r")
        p.expect(r"\nmallard> ")
        p.send("SELECT 1 -- one\r")
        p.expect(r"\.\.\.> ")
        p.send("AS x; SELECT\r")  # ends one statement and starts the next
        p.expect(r"\.\.\.> ")
        p.send("2 AS y;\r")
        p.expect(r"\nmallard> ")
        p.send("SELECT 10\r")
        p.expect(r"\.\.\.> ")
        p.send("+ 1\x03")  # Ctrl-C: the statement is dropped, what was entered is kept
        p.expect(r"\nmallard> ")
        p.send(UP * 7 + "\r")  # seven entries back: the whole first statement, on one line
        recalled = p.expect(r"\nmallard> ")
        assert "SELECT 6 * 7 AS m;" in recalled and re.search(r"│\s+42 │", recalled), recalled
        # two literals with a line break between them are one string ('foo' 'bar' is an error)
        p.send("SELECT 'foo'\r")
        p.expect(r"\.\.\.> ")
        p.send("'bar' AS x;\r")
        assert re.search(r"│ foobar\s+│", p.expect(r"\nmallard> "))
        p.send("  SELECT 1 AS one\r")
        p.expect(r"\.\.\.> ")
        p.send(";\r")
        p.expect(r"\nmallard> ")
        p.send("\x04")
        assert p.wait() == 0
    finally:
        p.close()
    assert hist.read_text().splitlines() == [
        "SELECT 6 * 7 AS m;", "SELECT 'a", "b' AS s;", "SELECT 1 -- one", "AS x; SELECT",
        "2 AS y;", "SELECT 10", "SELECT 6 * 7 AS m;", "SELECT 'foo'", "'bar' AS x;",
        "SELECT 1 AS one;"], hist.read_text()


def test_dumb_terminal_reads_lines_as_they_come(mallard_bin, servers):
    """TERM=dumb (an editor's shell buffer): no line editor, no escape sequences."""
    env = shell_env()
    env["TERM"] = "dumb"
    p = Pty([mallard_bin, "shell", "-s", servers[0]], env)
    try:
        p.expect(r"\nmallard> ")
        p.send("SELECT 3 AS three;\n")
        seen = p.expect(r"\nmallard> ")
        assert re.search(r"│\s+3 │", seen) and "\x1b[" not in seen, seen
        p.send(b"\x04")
        assert p.wait() == 0
    finally:
        p.close()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGQUIT])
def test_signal_at_the_prompt_restores_the_terminal(mallard_bin, servers, sig):
    """The line editor holds the terminal in raw mode while a line is typed: SIGTERM, SIGQUIT
    (or a hang-up) then leave with the terminal as it was, not without echo."""
    import termios
    p = Pty([mallard_bin, "shell", "-s", servers[0]], shell_env())
    try:
        p.expect(r"mallard> ")
        p.send("SELECT")
        p.expect(r"SELECT")
        assert not termios.tcgetattr(p.fd)[3] & termios.ICANON  # raw while typing
        os.kill(p.pid, sig)
        assert p.wait(timeout=10) == 128 + sig
        lflag = termios.tcgetattr(p.fd)[3]
        assert lflag & termios.ECHO and lflag & termios.ICANON, "the terminal was left raw"
    finally:
        p.close()


def test_continued_after_a_stop_and_resized(mallard_bin, servers):
    """Stopped at the prompt and continued (the shell that continued it may have put the
    terminal back in its usual mode): the editor sets raw mode again and redraws the line; a
    resize redraws it too."""
    import termios
    p = Pty([mallard_bin, "shell", "-s", servers[0]], shell_env())
    try:
        p.expect(r"mallard> ")
        p.send("SELECT 6 * 7")
        p.expect(r"SELECT 6 \* 7")
        os.kill(p.pid, signal.SIGSTOP)
        time.sleep(0.2)
        attrs = termios.tcgetattr(p.fd)
        attrs[3] |= termios.ICANON | termios.ECHO  # what a job-control shell restores
        termios.tcsetattr(p.fd, termios.TCSANOW, attrs)
        os.kill(p.pid, signal.SIGCONT)
        p.expect(r"\rmallard> SELECT 6 \* 7")  # redrawn
        deadline = time.time() + 10
        while termios.tcgetattr(p.fd)[3] & termios.ICANON and time.time() < deadline:
            time.sleep(0.05)
        assert not termios.tcgetattr(p.fd)[3] & termios.ICANON, "not raw again"
        set_columns(p.fd, 60)  # SIGWINCH
        p.expect(r"\rmallard> SELECT 6 \* 7")
        p.send(" AS answer;\r")  # the line as it was, still editable
        assert re.search(r"│\s+42 │", p.expect(r"\nmallard> "))
        set_columns(p.fd, 70)  # a resize at an empty prompt, then Ctrl-D: it leaves
        p.expect(r"\rmallard> ")
        p.send("\x04")
        assert p.wait() == 0
    finally:
        p.close()


def test_ctrl_c_drops_the_statements_typed_with_it(mallard_bin, servers):
    """Two statements on one line, Ctrl-C while the first runs: the second one ran anyway."""
    p = Pty([mallard_bin, "shell", "-s", servers[0]], shell_env())
    try:
        p.expect(r"mallard> ")
        p.send("SELECT count(*) FROM range(100000000000000) a; SELECT 'second ran' AS s;\r")
        time.sleep(1.5)
        p.send(b"\x03")
        seen = p.expect(r"\nmallard> ")
        assert "cancelled (Ctrl-C)" in seen and "second ran" not in seen.split("AS s;", 1)[1]
        p.send("SELECT 'next' AS n;\r")  # the session goes on
        seen = p.expect(r"\nmallard> ")
        assert "│ next" in seen and "second ran" not in seen, seen
        p.send("\x04")
        assert p.wait() == 0
    finally:
        p.close()
