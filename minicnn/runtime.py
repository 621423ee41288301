"""Process-wide settings that make the kernels fast on small machines; applied when minicnn is imported.

* Thread pools.  Two pools take turns: OpenBLAS (matrix products) and Numba's OpenMP (kernels).  Left at
  their defaults, each spins for milliseconds after its work and starves the other (measured on 2 cores:
  2.5 ms stalls after every matrix product; batch-1 latency 44 ms instead of 1.7 ms).  Both read their
  setting once, when they start, so minicnn must be imported before NumPy for it to take effect.
* Memory.  Every forward pass allocates multi-megabyte temporaries.  glibc hands those out as fresh
  mmap'ed pages that fault on first touch and returns them on free, so each pass pays the page faults
  again (~25 % of an inference pass).  Keeping freed memory in the heap makes reuse free, as the caching
  allocators of the big frameworks do; the process keeps its peak memory in exchange.
Set an environment variable yourself to override the first; MINICNN_KEEP_MEMORY=0 turns off the second.
"""
import ctypes
import ctypes.util
import glob
import os
import sys

_OPENBLAS_SETTERS = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
                     "openblas_set_num_threads64_", "openblas_set_num_threads")


def configure():
    os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if os.environ.get("MINICNN_KEEP_MEMORY", "1") != "0" and sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
            libc.mallopt(M_MMAP_THRESHOLD, 1 << 30)       # big arrays from the heap, not fresh mmap pages
            libc.mallopt(M_TRIM_THRESHOLD, (1 << 31) - 1)  # and keep freed memory for the next pass
        except (OSError, AttributeError):                  # not glibc: nothing to tune
            pass


def set_num_threads(n):
    """Use ``n`` threads in the Numba kernels and in OpenBLAS; True if OpenBLAS could be told too."""
    import numba
    import numpy as np
    numba.set_num_threads(max(1, min(n, numba.config.NUMBA_NUM_THREADS)))
    libs_dir = os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs")
    for path in glob.glob(os.path.join(libs_dir, "*openblas*")) + [None]:   # None: already in the process
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in _OPENBLAS_SETTERS:
            setter = getattr(lib, name, None)
            if setter is not None:
                setter(ctypes.c_int(n))
                return True
    return False
