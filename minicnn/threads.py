"""Set how many CPU threads the Numba kernels and the BLAS matrix products use."""
import ctypes
import glob
import os

import numba
import numpy as np

_SETTERS = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
            "openblas_set_num_threads64_", "openblas_set_num_threads")


def _openblas_libraries():
    libs_dir = os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs")
    return glob.glob(os.path.join(libs_dir, "*openblas*")) + [None]   # None: symbols already in the process


def set_num_threads(n):
    """Use ``n`` threads; returns True if the BLAS library could be told too (OpenBLAS only)."""
    numba.set_num_threads(max(1, min(n, numba.config.NUMBA_NUM_THREADS)))
    for path in _openblas_libraries():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in _SETTERS:
            setter = getattr(lib, name, None)
            if setter is not None:
                setter(ctypes.c_int(n))
                return True
    return False
