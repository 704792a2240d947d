"""TLS and mutual TLS with certificates made by openssl at test time."""
import json
import os
import subprocess
import time

import pyarrow.flight as flight
import pytest

from conftest import PASSWORDS, openssl

pytestmark = pytest.mark.timeout(120)


def read(p):
    return p.read_bytes()


def ping_ok(client, user="alice"):
    key, value = client.authenticate_basic_token(user, PASSWORDS[user])
    opts = flight.FlightCallOptions(headers=[(key, value)], timeout=10)
    res = list(client.do_action(flight.Action("ping", b""), options=opts))
    return json.loads(res[0].body.to_pybytes())["ok"] is True


def test_tls(serve, users_file, certs):
    with serve("--users", users_file, "--tls-cert", certs / "server.pem", "--tls-key",
               certs / "server.key") as s:
        assert s.url.startswith("grpc+tls://"), s.url
        c = flight.FlightClient(s.url, tls_root_certs=read(certs / "ca.pem"))
        assert ping_ok(c)
        # a client that does not trust the CA fails
        c2 = flight.FlightClient(s.url, tls_root_certs=read(certs / "otherca.pem"))
        with pytest.raises(flight.FlightError):
            c2.authenticate_basic_token("alice", PASSWORDS["alice"],
                                        options=flight.FlightCallOptions(timeout=5))
        # plaintext to a TLS port fails
        c3 = flight.FlightClient("grpc://127.0.0.1:%d" % s.port)
        with pytest.raises(flight.FlightError):
            c3.authenticate_basic_token("alice", PASSWORDS["alice"],
                                        options=flight.FlightCallOptions(timeout=5))
        # TLS does not replace auth
        c4 = flight.FlightClient(s.url, tls_root_certs=read(certs / "ca.pem"))
        with pytest.raises(flight.FlightUnauthenticatedError):
            list(c4.do_action(flight.Action("ping", b"")))


def test_mtls(serve, users_file, certs):
    with serve("--users", users_file, "--tls-cert", certs / "server.pem", "--tls-key",
               certs / "server.key", "--tls-client-ca", certs / "ca.pem") as s:
        ca = read(certs / "ca.pem")
        good = flight.FlightClient(s.url, tls_root_certs=ca, cert_chain=read(certs / "client.pem"),
                                   private_key=read(certs / "client.key"))
        assert ping_ok(good)
        no_cert = flight.FlightClient(s.url, tls_root_certs=ca)
        with pytest.raises(flight.FlightError):
            ping_ok(no_cert)
        other = flight.FlightClient(s.url, tls_root_certs=ca,
                                    cert_chain=read(certs / "badclient.pem"),
                                    private_key=read(certs / "badclient.key"))
        with pytest.raises(flight.FlightError):
            ping_ok(other)
        assert ping_ok(good)  # still serving


def test_tls_flag_errors(serve, users_file, certs, tmp_path):
    junk = tmp_path / "junk.pem"
    junk.write_text("SECRET-NOT-PEM\n")
    cases = [
        (("--tls-cert", tmp_path / "missing.pem", "--tls-key", certs / "server.key"),
         "not found"),
        (("--tls-cert", certs / "server.pem", "--tls-key", junk), "not a PEM file"),
        (("--tls-cert", certs / "server.pem"), "--tls-key"),
        (("--tls-client-ca", certs / "ca.pem"), "--tls-cert"),
        (("--tls-cert", certs / "server.pem", "--tls-key", certs / "server.pem"), "PRIVATE KEY"),
        # a key of another certificate: gRPC refuses the pair; not "address in use"
        (("--tls-cert", certs / "server.pem", "--tls-key", certs / "client.key"),
         "does the --tls-key belong to the --tls-cert?"),
    ]
    for args, needle in cases:
        with serve("--users", users_file, *args, expect_fail=True) as (rc, err):
            assert rc != 0, args
            assert needle in err, (args, err)
            assert "SECRET-NOT-PEM" not in err


def ca_signed(certs, d, name, *dates):
    """A server certificate for 127.0.0.1/localhost signed by the test CA with the validity
    dates given (`openssl ca -startdate/-enddate/-days`: `openssl x509 -req` cannot set a past
    start), and its key."""
    (d / "index.txt").write_text("")
    (d / "index.txt.attr").write_text("unique_subject = no\n")
    (d / "serial").write_text("1000\n")
    (d / "ca.cnf").write_text(
        "[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\nnew_certs_dir = .\nserial = serial\n"
        "default_md = sha256\npolicy = p\nx509_extensions = ext\n[p]\ncommonName = supplied\n"
        "[ext]\nsubjectAltName = IP:127.0.0.1,DNS:localhost\nextendedKeyUsage = serverAuth\n")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out",
            f"{name}.csr", "-subj", f"/CN={name}", cwd=d)
    openssl("ca", "-config", "ca.cnf", "-batch", "-notext", "-in", f"{name}.csr", "-cert",
            certs / "ca.pem", "-keyfile", certs / "ca.key", "-out", f"{name}.pem", *dates, cwd=d)
    return d / f"{name}.pem", d / f"{name}.key"


def test_serve_warns_about_certificate_dates(serve, users_file, certs, tmp_path):
    """`mallard serve` says at start when its certificate has expired, is not yet valid or
    expires within 14 days (clients refuse it with only 'certificate verify failed')."""
    expired = ca_signed(certs, tmp_path, "expired", "-startdate", "20200101000000Z",
                        "-enddate", "20200102000000Z")
    future = ca_signed(certs, tmp_path, "future", "-startdate", "20900101120000Z",
                       "-enddate", "20910101000000Z")  # GeneralizedTime, after 2049
    soon = ca_signed(certs, tmp_path, "soon", "-days", "3")
    cases = [
        (expired, "the certificate expired on 2020-01-02 00:00:00 UTC; TLS clients will refuse "
                  "this server ('certificate verify failed')"),
        (future, "the certificate is not valid until 2090-01-01 12:00:00 UTC"),
        (soon, "day"),
        ((certs / "server.pem", certs / "server.key"), None),  # 30 days: nothing to say
    ]
    for (cert, key), needle in cases:
        with serve("--users", users_file, "--tls-cert", cert, "--tls-key", key) as s:
            err = s.stderr()
            warnings = [ln for ln in err.splitlines() if "--tls-cert" in ln]
            if needle is None:
                assert warnings == [], err
                continue
            assert len(warnings) == 1, err
            assert warnings[0].startswith(f"mallard serve: WARNING: --tls-cert '{cert}': ")
            assert needle in warnings[0], warnings[0]
            if cert == soon[0]:
                assert "the certificate expires on " in warnings[0]
                assert "(in 3 days); renew it" in warnings[0], warnings[0]
            # it still serves: a client that ignores dates is not this test's business, but
            # the server is up and refuses as TLS says
            c = flight.FlightClient(s.url, tls_root_certs=read(certs / "ca.pem"))
            if cert == soon[0]:
                assert ping_ok(c)
            else:
                with pytest.raises(flight.FlightError):
                    c.authenticate_basic_token("alice", PASSWORDS["alice"],
                                               options=flight.FlightCallOptions(timeout=5))


def test_cli_says_what_to_check_when_tls_fails(serve, mallard, users_file, certs, tmp_path):
    """gRPC reports a refused certificate or a TLS/plaintext mismatch without the cause; the
    CLI's one-line error adds what to check (exit status 3, connection)."""
    expired = ca_signed(certs, tmp_path, "expired", "-startdate", "20200101000000Z",
                        "-enddate", "20200102000000Z")
    env = dict(os.environ, MALLARD_PASSWORD=PASSWORDS["alice"])

    def ping(url, *flags):
        r = subprocess.run([mallard, "ping", "--user", "alice", "--server", url, "--timeout", "10",
                            *[str(f) for f in flags]], capture_output=True, text=True, env=env,
                           timeout=60, stdin=subprocess.DEVNULL)
        return r.returncode, r.stderr

    def demo(url):  # waits for its servers (up to 20 s): returns (rc, stderr, seconds)
        t0 = time.monotonic()
        r = subprocess.run([mallard, "demo", "--user", "alice", "--server1", url, "--server2",
                            url, "--tls-ca", str(ca), "--wait", "20"], capture_output=True,
                           text=True, env=env, timeout=60, stdin=subprocess.DEVNULL)
        return r.returncode, r.stderr, time.monotonic() - t0

    ca = certs / "ca.pem"
    with serve("--users", users_file, "--tls-cert", expired[0], "--tls-key", expired[1]) as s:
        rc, err = ping(s.url, "--tls-ca", ca)
        assert rc == 3, err
        assert "certificate verify failed (the server's certificate was refused" in err, err
        assert "or it has expired or is not valid yet; `openssl s_client" in err
        rc, err = ping("grpc://127.0.0.1:%d" % s.port)
        assert rc == 3, err
        assert "if it uses TLS, its URI is grpc+tls://" in err, err
        # a command that waits for its servers (demo) fails at once on a refused certificate,
        # with the same hint, instead of waiting the whole --wait as for a server not up yet
        rc, err, secs = demo(s.url)
        assert rc == 3, err
        assert "certificate verify failed (the server's certificate was refused" in err
        assert secs < 15, "demo waited for a server that refuses TLS"
    with serve("--users", users_file) as s:
        for scheme in ("grpc+tls", "GRPC+TLS"):  # the scheme is read without regard to case
            rc, err = ping(f"{scheme}://127.0.0.1:%d" % s.port, "--tls-ca", ca)
            assert rc == 3, err
            assert "(the server does not speak TLS: if it is a Flight server, its URI is grpc://" \
                   in err, err
        rc, err = ping(s.url)
        assert rc == 0, err
    with serve("--users", users_file, "--tls-cert", certs / "server.pem", "--tls-key",
               certs / "server.key") as s:
        rc, err = ping(s.url, "--tls-ca", ca, "--tls-server-name", "other.example")
        assert rc == 3, err
        assert "does not name the host in the URI: connect by a name it holds, or give " \
               "--tls-server-name NAME" in err, err
    with serve("--users", users_file, "--tls-cert", certs / "server.pem", "--tls-key",
               certs / "server.key", "--tls-client-ca", ca) as s:
        rc, err = ping(s.url, "--tls-ca", ca)
        assert rc == 3, err
        assert "if it asks for client certificates, give --tls-cert and --tls-key" in err, err
        rc, err = ping(s.url.upper(), "--tls-ca", ca)
        assert rc == 3 and "give --tls-cert and --tls-key" in err, err
        rc, err = ping(s.url, "--tls-ca", ca, "--tls-cert", certs / "badclient.pem",
                       "--tls-key", certs / "badclient.key")
        assert rc == 3, err
        assert "it refused this one: is --tls-cert signed by the CA it trusts?" in err, err
        # a server that closes the connection is up: demo does not wait for it
        rc, err, secs = demo(s.url)
        assert rc == 3, err
        assert "give --tls-cert and --tls-key" in err, err
        assert secs < 15, "demo waited for a server that closes connections"
        rc, err = ping(s.url, "--tls-ca", ca, "--tls-cert", certs / "client.pem", "--tls-key",
                       certs / "client.key")
        assert rc == 0, err


def test_transfer_gives_each_end_its_own_tls_and_login(serve, mallard, users_file, certs):
    """`transfer` between servers that differ: a plaintext source and a TLS target, targets
    signed by another CA or asking for a client certificate (--to-tls-*, each replacing its
    --tls-* one), another user on the target (--to-user with MALLARD_TO_PASSWORD or
    MALLARD_TO_TOKEN). Errors say which end refused and where its secret came from; mistakes
    on the command line are found before either server is asked anything; a refused target
    leaves its table as it was."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("MALLARD_")}

    def transfer(src, dst, table, *flags, **env):
        r = subprocess.run([mallard, "transfer", "SELECT 42 AS x", "--server", src, "--to", dst,
                            "--table", table, "--user", "alice", "--timeout", "20",
                            *[str(f) for f in flags]], capture_output=True, text=True,
                           env=dict(base, **{"MALLARD_PASSWORD": PASSWORDS["alice"], **env}),
                           timeout=60, stdin=subprocess.DEVNULL)
        return r.returncode, r.stdout + r.stderr

    def rows(server, table, user="carol", **kw):
        c = server.client(**kw)
        key, value = c.authenticate_basic_token(user, PASSWORDS[user])
        opts = flight.FlightCallOptions(headers=[(key, value)], timeout=10)
        ticket = flight.Ticket(f"SELECT count(*) AS n FROM {table}".encode())
        try:
            return c.do_get(ticket, options=opts).read_all().column(0)[0].as_py()
        except KeyError as e:  # pyarrow's NOT_FOUND (ArrowKeyError)
            if "does not exist" in str(e):
                return None
            raise

    def token(server, user, **kw):
        _, bearer = server.client(**kw).authenticate_basic_token(user, PASSWORDS[user])
        return bearer.decode().split(" ", 1)[1]

    ca, other = certs / "ca.pem", certs / "otherca.pem"
    with serve("--users", users_file) as plain, \
            serve("--users", users_file, "--tls-cert", certs / "server.pem", "--tls-key",
                  certs / "server.key") as tls, \
            serve("--users", users_file, "--tls-cert", certs / "otherserver.pem", "--tls-key",
                  certs / "otherserver.key") as tls_other, \
            serve("--users", users_file, "--tls-cert", certs / "server.pem", "--tls-key",
                  certs / "server.key", "--tls-client-ca", ca) as mtls:
        cas = {"tls_root_certs": read(ca)}
        # plaintext -> TLS: the TLS options go to the end that speaks TLS (they were refused
        # for the plaintext source before: "TLS options given for 'grpc://...'")
        rc, out = transfer(plain.url, tls.url, "t1", "--tls-ca", ca)
        assert rc == 0, out
        assert "transferred 1 row into t1" in out
        assert rows(tls, "t1", **cas) == 1
        # TLS -> plaintext: the same
        rc, out = transfer(tls.url, plain.url, "t2", "--tls-ca", ca)
        assert rc == 0, out
        assert rows(plain, "t2") == 1
        # a target signed by another CA: the source's CA refuses it, --to-tls-ca accepts it
        rc, out = transfer(tls.url, tls_other.url, "t4", "--tls-ca", ca)
        assert rc == 3, out
        assert f"cannot connect to the target {tls_other.url}" in out, out
        assert "certificate verify failed" in out, out
        assert "not signed by the CA of --tls-ca (the target's own: --to-tls-ca)" in out, out
        assert rows(tls_other, "t4", tls_root_certs=read(other)) is None
        rc, out = transfer(tls.url, tls_other.url, "t4", "--tls-ca", ca, "--to-tls-ca", other)
        assert rc == 0, out
        assert rows(tls_other, "t4", tls_root_certs=read(other)) == 1
        # a target asking for a client certificate: it says to give the target's own, and
        # --to-tls-cert/--to-tls-key replace only those two (the CA still comes from --tls-ca)
        rc, out = transfer(plain.url, mtls.url, "t8", "--tls-ca", ca)
        assert rc == 3 and "give --to-tls-cert and --to-tls-key" in out, out
        rc, out = transfer(plain.url, mtls.url, "t8", "--tls-ca", ca, "--to-tls-cert",
                           certs / "client.pem", "--to-tls-key", certs / "client.key")
        assert rc == 0, out
        assert rows(mtls, "t8", **cas, cert_chain=read(certs / "client.pem"),
                    private_key=read(certs / "client.key")) == 1

        # mistakes on the command line: usage errors (2) before either server is asked anything
        logins = plain.stderr().count("rpc=Handshake")
        for flags, says in [
                (["--tls-ca", ca], "--tls-ca is for a grpc+tls:// end, and neither takes it"),
                (["--to-tls-ca", ca], "--to-tls-* options given for 'grpc://"),
                (["--to-tls-cert", certs / "client.pem"], "--to-tls-cert and --to-tls-key go "
                                                          "together"),
                (["--to-user"], "option --to-user needs a value"),
                (["--to-user="], "--to-user needs a value, not ''"),
                (["--to", "http://127.0.0.1:1"], "the target: "),
                (["--to-password", "hunter2"], "passwords are not taken as arguments"),
                (["--to-password=hunter2"], "set MALLARD_TO_PASSWORD or answer the prompt")]:
            rc, out = transfer(plain.url, plain.url, "t3", *flags)
            assert rc == 2 and says in out, (flags, out)
            assert "hunter2" not in out
        rc, out = transfer(plain.url, tls.url, "t3", "--tls-ca", ca, "--to-tls-ca", other)
        assert rc == 2 and "which has its own" in out, out
        rc, out = transfer(plain.url, "grpc://127.0.0.1:1\x1b[2J", "t3", "--to-tls-ca", ca)
        assert rc == 2 and "'grpc://127.0.0.1:1?[2J'" in out and "\x1b" not in out, out
        assert plain.stderr().count("rpc=Handshake") == logins, "a server was asked"
        # the --name=VALUE form, as for the common options
        rc, out = transfer(plain.url, tls_other.url, "t9", f"--to-tls-ca={other}",
                           "--to-user=carol", MALLARD_TO_PASSWORD=PASSWORDS["carol"])
        assert rc == 0, out

        # another user on the target: the source's password is not carol's, and the error
        # says which end refused whom, and where the password it was sent came from
        rc, out = transfer(plain.url, tls.url, "t6", "--tls-ca", ca, "--to-user", "carol")
        assert rc == 1, out
        assert f"login to the target {tls.url} as carol: UNAUTHENTICATED" in out, out
        assert "it was sent the source's password, MALLARD_PASSWORD: set MALLARD_TO_PASSWORD" \
            in out, out
        assert rows(tls, "t6", **cas) is None
        rc, out = transfer(plain.url, tls.url, "t6", "--tls-ca", ca, "--to-user", "carol",
                           MALLARD_TO_PASSWORD=PASSWORDS["carol"])
        assert rc == 0, out
        assert rows(tls, "t6", **cas) == 1
        rc, out = transfer(plain.url, tls.url, "t6", "--tls-ca", ca, MALLARD_PASSWORD="wrong")
        assert rc == 1 and f"login to the source {plain.url} as alice: UNAUTHENTICATED" in out
        rc, out = transfer(plain.url, tls.url, "t6", "--tls-ca", ca, MALLARD_TO_PASSWORD="wrong")
        assert rc == 1 and f"login to the target {tls.url} as alice: UNAUTHENTICATED" in out
        assert "MALLARD_TO_PASSWORD" not in out.split("UNAUTHENTICATED", 1)[1], out
        assert rows(tls, "t6", **cas) == 1

        # tokens: one the target issued goes in MALLARD_TO_TOKEN; the source's token is tried
        # on the target only when nothing else is given, and its refusal says so
        tls_token, plain_token = token(tls, "carol", **cas), token(plain, "alice")
        rc, out = transfer(plain.url, tls.url, "t7", "--tls-ca", ca, MALLARD_TOKEN=tls_token)
        assert rc == 1, out
        assert f"login to the source {plain.url}" in out and "the token in MALLARD_TOKEN was " \
            "refused" in out, out
        rc, out = transfer(plain.url, tls.url, "t7", "--tls-ca", ca, MALLARD_TOKEN=plain_token)
        assert rc == 1, out
        assert f"login to the target {tls.url}" in out and "it was sent the source's token, " \
            "MALLARD_TOKEN: set MALLARD_TO_TOKEN or MALLARD_TO_PASSWORD" in out, out
        rc, out = transfer(plain.url, tls.url, "t7", "--tls-ca", ca, MALLARD_TOKEN=plain_token,
                           MALLARD_TO_TOKEN="not-a-token")
        assert rc == 1 and "the token in MALLARD_TO_TOKEN was refused" in out, out
        assert rows(tls, "t7", **cas) is None
        rc, out = transfer(plain.url, tls.url, "t7", "--tls-ca", ca, MALLARD_TO_TOKEN=tls_token)
        assert rc == 0, out
        assert rows(tls, "t7", **cas) == 1
        # with --to-user the source's token is not sent: carol logs in with a password
        rc, out = transfer(plain.url, tls.url, "t7", "--tls-ca", ca, "--to-user", "carol",
                           MALLARD_TOKEN=plain_token, MALLARD_PASSWORD=PASSWORDS["carol"])
        assert rc == 0, out
        assert rows(tls, "t7", **cas) == 2


def test_transfer_logs_the_target_in_again_after_a_slow_query(serve, mallard, users_file,
                                                              tmp_path):
    """Both ends log in before the query starts; a query slower to its first rows than the
    target's session idle time (--session-idle) must not end with the target refusing the
    DoPut: the target is logged in again once the rows come."""
    import threading
    fifo = tmp_path / "rows.csv"
    os.mkfifo(fifo)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLARD_")}
    env["MALLARD_PASSWORD"] = PASSWORDS["alice"]
    with serve("--users", users_file) as src, \
            serve("--users", users_file, "--session-idle", "2s") as dst:
        def feed():  # the rows come 3.5 s after the query starts (the target logged in before)
            time.sleep(3.5)
            with open(fifo, "w") as f:
                f.write("a\n1\n2\n3\n")
        t = threading.Thread(target=feed)
        t.start()
        r = subprocess.run([mallard, "transfer", f"SELECT * FROM read_csv('{fifo}', "
                            "columns={'a': 'INTEGER'}, header=true, auto_detect=false)",
                            "--server", src.url, "--to", dst.url, "--table", "slow", "--user",
                            "alice"], capture_output=True, text=True, env=env, timeout=60,
                           stdin=subprocess.DEVNULL)
        t.join()
        assert r.returncode == 0, r.stderr
        assert "transferred 3 rows into slow" in r.stdout
        assert dst.stderr().count("user=alice rpc=Handshake") == 2, dst.stderr()

