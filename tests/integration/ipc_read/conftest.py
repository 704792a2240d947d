"""Fixtures for the IPC decoder conformance tests: the mallard-ipc-dump tool, a runner that
decodes bytes with it, and the canonical JSON form of pyarrow arrays it is compared with."""
import json
import os
import pathlib
import subprocess

import pytest

from ipcr_canon import DecodeError

ROOT = pathlib.Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def ipc_dump(build_dir):
    path = pathlib.Path(build_dir) / "mallard-ipc-dump"
    assert os.access(path, os.X_OK), f"{path} not found: build the mallard-ipc-dump target"

    def run(data: bytes, file_format=False):
        args = [str(path)] + (["--file"] if file_format else []) + ["-"]
        p = subprocess.run(args, input=data, capture_output=True, timeout=120)
        if p.returncode != 0:
            raise DecodeError(p.stderr.decode(errors="replace").strip())
        lines = [json.loads(line) for line in p.stdout.decode().splitlines()]
        return lines[0]["schema"], lines[1:]

    return run
