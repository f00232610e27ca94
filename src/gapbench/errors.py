"""The error hierarchy. Every message is one sentence saying what is wrong and what to do next.

The CLI turns these into a clean message and an exit code; anything else is a bug and keeps
its traceback.
"""


class GapbenchError(Exception):
    """Base class: a failure the user can act on. Exit code 1 (runtime failure)."""

    exit_code = 1


class UsageError(GapbenchError):
    """Bad usage or input (unknown model or task, bad flag value, malformed file). Exit code 2."""

    exit_code = 2


class ModelFileError(UsageError):
    """A model file is missing, truncated, corrupt or fails its hash check."""


class StoreError(GapbenchError):
    """The results database cannot be used (locked, read-only, newer schema); data is untouched."""


class NoResultsError(StoreError):
    """A reading command was pointed at a database that does not exist or holds no results yet:
    an input error (a wrong --db, or nothing run there), so exit code 2, as for UsageError."""

    exit_code = 2


class BackendError(GapbenchError):
    """A backend failed to load or run a model."""


def closest(name: str, candidates: list[str], n: int = 3) -> str:
    """A ' Did you mean: a, b?' suffix for an unknown name, or '' when nothing is close."""
    import difflib

    close = difflib.get_close_matches(name, candidates, n=n, cutoff=0.4)
    if not close:
        close = [c for c in candidates if name.lower() in c.lower()][:n]
    return f" Did you mean: {', '.join(close)}?" if close else ""
