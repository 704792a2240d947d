"""Apache Arrow's Java Flight client (flight-core: grpc-java over Netty, a different gRPC and
HTTP/2 stack from pyarrow's and Mallard's) against `mallard serve`: the basic-token handshake, a
wrong password, DoGet of a typed query, DoPut with nulls in several batches, DoExchange through
`processed`, ListActions and a SQL error (tests/clients/java, run by scripts/java-client.sh),
checked against the same calls made with pyarrow."""
import pathlib
import shutil
from urllib.parse import urlparse

import pytest

from interop_client import SQL, check_report, run_driver

ROOT = pathlib.Path(__file__).resolve().parents[3]


@pytest.mark.timeout(900)
def test_java_flight_client(mallard, client, table_name):
    if shutil.which("java") is None or shutil.which("mvn") is None:
        pytest.skip("java and mvn are needed to build Arrow's Java Flight client")
    url = urlparse(mallard.urls[0])
    kv = run_driver([str(ROOT / "scripts" / "java-client.sh"), url.hostname, str(url.port),
                     "password123", table_name, SQL], timeout=850)
    check_report(
        kv, client, table_name,
        get_types=lambda p: (f"i:Int(64, true);s:Utf8;d:Decimal({p}, 1, 128);"
                             "dd:FloatingPoint(DOUBLE);ts:Timestamp(MICROSECOND, null);"
                             "n:Int(64, true)"),
        exchange_types="x:Int(64, true);processed:Bool")
