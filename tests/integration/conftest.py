"""Shared fixtures for integration tests: the mallard binary and servers on port 0."""
import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def mallard_bin():
    path = os.environ.get("MALLARD_BIN", str(ROOT / "build" / "mallard"))
    assert os.access(path, os.X_OK), f"mallard binary not found at {path}: run `make build`"
    return path


@pytest.fixture(scope="session")
def build_dir():
    return pathlib.Path(os.environ.get("MALLARD_BUILD_DIR", str(ROOT / "build")))
