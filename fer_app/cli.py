"""What every fer_app command does with errors a user can cause: one line on stderr, a non-zero exit."""
import sys

from minicnn.model import ModelFileError
from minicnn.runtime import keep_freed_memory

from .data import DataError
from .detect import DetectorError

USER_ERRORS = (DataError, ModelFileError, DetectorError, OSError, ValueError)


def run_command(body, extra_errors=()):
    """Call ``body()`` and return its exit code; user errors print ``error: …`` and give 2, Ctrl-C gives 130.

    A command owns its process, so it opts in to keeping freed memory (minicnn/runtime.py)."""
    keep_freed_memory()
    try:
        return body()
    except USER_ERRORS + tuple(extra_errors) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("aborted", file=sys.stderr)
        return 130
