"""TLS and mutual TLS with certificates made by openssl at test time."""
import json

import pyarrow.flight as flight
import pytest

from conftest import PASSWORDS

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
