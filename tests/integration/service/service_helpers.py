"""Helpers shared by the service tests (imported by the test modules)."""
import pyarrow.flight as fl


def action(c, opts, name, body=b""):
    """Runs a DoAction and returns its results' bodies (bytes)."""
    if isinstance(body, str):
        body = body.encode()
    return [r.body.to_pybytes() for r in c.do_action(fl.Action(name, body), opts)]


def process_rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def process_threads(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    return 0


# How pyarrow words each gRPC status in its exception messages.
_STATUS_WORDS = {
    "INVALID_ARGUMENT": "invalid argument",
    "NOT_FOUND": "not found",
    "ALREADY_EXISTS": "already exists",
    "PERMISSION_DENIED": "unauthorized",
    "UNAUTHENTICATED": "unauthenticated",
    "RESOURCE_EXHAUSTED": "resource exhausted",
    "CANCELLED": "cancelled",
    "DEADLINE_EXCEEDED": "timed out",
    "INTERNAL": "internal",
}


class expect_status:
    """Context manager: the block must raise a Flight error with this gRPC status.
    `.message` holds the server's message afterwards."""

    def __init__(self, status, *must_contain):
        self.status = status
        self.must_contain = must_contain
        self.message = None

    def __enter__(self):
        return self

    def __exit__(self, et, ev, tb):
        assert ev is not None, f"expected {self.status}, but the call succeeded"
        text = str(ev)
        word = _STATUS_WORDS[self.status]
        ok = False
        if self.status == "PERMISSION_DENIED":
            ok = isinstance(ev, fl.FlightUnauthorizedError)
        elif self.status == "UNAUTHENTICATED":
            ok = isinstance(ev, fl.FlightUnauthenticatedError)
        elif self.status == "CANCELLED":
            ok = isinstance(ev, fl.FlightCancelledError) or "cancel" in text.lower()
        elif self.status == "DEADLINE_EXCEEDED":
            ok = isinstance(ev, fl.FlightTimedOutError) or "deadline" in text.lower()
        elif self.status == "INTERNAL":
            ok = isinstance(ev, fl.FlightInternalError)
        else:
            ok = f"Flight returned {word} error" in text
        assert ok, f"expected {self.status}, got {type(ev).__name__}: {text}"
        self.message = text
        for s in self.must_contain:
            assert s in text, f"{s!r} not in error message: {text}"
        return True
