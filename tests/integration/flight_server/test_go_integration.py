"""Arrow's cross-language Flight integration client (arrow-go) against mallard-flight-integration."""
import os
import pathlib
import shutil
import subprocess

import pytest

from conftest import ROOT, _build_dir


@pytest.mark.timeout(1800)
def test_arrow_go_integration_client():
    if shutil.which("go") is None:
        pytest.skip("go is not installed: the arrow-go Flight integration client cannot be built")
    server = _build_dir() / "tests" / "servers" / "mallard-flight-integration"
    assert os.access(server, os.X_OK), f"{server} not built"
    proc = subprocess.run([str(ROOT / "scripts" / "go-integration.sh"), str(_build_dir())],
                          capture_output=True, text=True, timeout=1700)
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-3000:]
    assert "failed: 0" in proc.stdout
