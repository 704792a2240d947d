"""The `mallard` binary's own entry points: --help, --version, unknown commands."""
import subprocess


def run(mallard_bin, *args):
    return subprocess.run([mallard_bin, *args], capture_output=True, text=True, timeout=30)


def test_version(mallard_bin):
    r = run(mallard_bin, "--version")
    assert r.returncode == 0
    assert r.stdout.startswith("mallard ")


def test_help_lists_commands(mallard_bin):
    r = run(mallard_bin, "--help")
    assert r.returncode == 0
    assert "usage: mallard" in r.stdout


def test_unknown_command_is_usage_error(mallard_bin):
    r = run(mallard_bin, "no-such-command")
    assert r.returncode == 2
    assert "unknown command" in r.stderr
