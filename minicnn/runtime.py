"""Process-wide settings minicnn leaves to the application: nothing here runs on import.

* ``set_num_threads(n)``: the size of minicnn's own thread pool (minicnn/parallel.py).
  minicnn changes no environment variable and no other library's thread pool for good:
  while one of its loops runs it asks BLAS for a single thread and gives the old number
  back afterwards.
* ``keep_freed_memory()``: an opt-in for programs (fer_app's commands call it).  Every
  forward pass allocates multi-megabyte arrays; glibc hands those out as fresh mmap'ed
  pages that fault on first touch and returns them on free, so each pass pays the page
  faults again.  Keeping freed memory in the heap makes reuse free, as the caching
  allocators of the big frameworks do; the process keeps its peak memory in exchange.
  It changes the allocator of the whole process, which is why a library must not do it
  behind its user's back.
"""
import ctypes
import ctypes.util
import sys

from .parallel import num_threads, set_num_threads  # noqa: F401  (re-exported)


def keep_freed_memory():
    """Tell glibc to serve big arrays from the heap and keep freed memory; False where that is not glibc."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
        return bool(libc.mallopt(M_MMAP_THRESHOLD, 1 << 30) and libc.mallopt(M_TRIM_THRESHOLD, (1 << 31) - 1))
    except (OSError, AttributeError):
        return False
