"""Fixtures for the IPC writer's conformance tests: streams and files written by
mallard-ipc-gen (one per hand-built case), per compression codec."""
import pathlib
import subprocess

import pytest


@pytest.fixture(scope="session")
def ipc_gen(build_dir):
    path = pathlib.Path(build_dir) / "mallard-ipc-gen"
    if not path.exists():
        pytest.fail(f"{path} not built: build the mallard-ipc-gen target (tests/tools)")
    return path


@pytest.fixture(scope="session")
def generated(ipc_gen, tmp_path_factory):
    """compression -> directory holding CASE.arrows (stream) and CASE.arrow (file); "split":
    uncompressed, with max_body_size 1 (each batch as one message per row)."""
    out = {}
    for codec in ("none", "lz4", "zstd", "split"):
        d = tmp_path_factory.mktemp(f"ipcgen-{codec}")
        res = subprocess.run([str(ipc_gen), str(d), codec], capture_output=True, text=True,
                             timeout=120)
        assert res.returncode == 0, res.stderr
        out[codec] = d
    return out
