"""Apache Arrow's Rust Flight client (arrow-flight: tonic over h2, a third gRPC and HTTP/2
stack) against `mallard serve`: the same calls as test_java_client.py (tests/clients/rust, run
by scripts/rust-client.sh), checked against pyarrow."""
import pathlib
import shutil
from urllib.parse import urlparse

import pytest

from interop_client import SQL, check_report, run_driver

ROOT = pathlib.Path(__file__).resolve().parents[3]


@pytest.mark.timeout(1200)
def test_rust_flight_client(mallard, client, table_name):
    if shutil.which("cargo") is None:
        pytest.skip("cargo is needed to build Arrow's Rust Flight client")
    url = urlparse(mallard.urls[0])
    kv = run_driver([str(ROOT / "scripts" / "rust-client.sh"), f"http://{url.hostname}:{url.port}",
                     "password123", table_name, SQL], timeout=1150)
    check_report(
        kv, client, table_name,
        get_types=lambda p: (f"i:Int64;s:Utf8;d:Decimal128({p}, 1);dd:Float64;"
                             "ts:Timestamp(Microsecond, None);n:Int64"),
        exchange_types="x:Int64;processed:Boolean")
