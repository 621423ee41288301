"""One owner of the cores: the thread pool every minicnn layer runs its work in.

A layer cuts its work into chunks (a few images of the batch, or a few channels) and
``for_each_chunk`` hands them to a small pool of threads, the calling thread included;
each thread takes the next chunk as soon as it is done with the last, so a core that
another program slows down simply takes fewer chunks.  Inside a chunk the Numba kernels
(compiled ``nogil``) and NumPy's matrix products run on one thread each, so the chunks
really run side by side, and their data stays in the core's cache.

Why not the usual two pools?  NumPy's BLAS and Numba's OpenMP each bring a pool of their
own that spins for milliseconds after its work, waiting for more.  Two pools taking turns
then starve each other, and another busy process on the machine starves both; how long
they spin is fixed by environment variables read when each library loads, so the speed
depended on what the user's script had imported first.  Here nothing spins: idle threads
sleep on a lock, and NumPy's BLAS is asked for one thread only while a minicnn loop runs (its
count found through threadpoolctl, set through the library itself, restored afterwards), so
its own pool stays asleep.

``set_num_threads(n)`` sets the pool's size (default: the cores this process may run on).
"""
import ctypes
import itertools
import math
import os
import queue
import threading

import numpy as np
from threadpoolctl import ThreadpoolController

MIN_CHUNKS = 8                      # work is cut into at least this many chunks, for balance
CHUNK_ELEMENTS = 1 << 15            # 128 KiB of float32: a chunk of element-wise work stays in cache
SHARING_MIN_MULTIPLY_ADDS = 16_000_000      # a smaller product of a few images stays on one core
_local = threading.local()          # .in_loop: inside a chunk; .scratch: this thread's reusable buffers
_lock = threading.Lock()
_state = {"threads": None, "helpers": None, "blas": None, "active_loops": 0, "saved_blas_threads": None}


def default_num_threads():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:          # not Linux
        return os.cpu_count() or 1


def num_threads():
    if _state["threads"] is None:
        _state["threads"] = default_num_threads()
    return _state["threads"]


def set_num_threads(n):
    """Run minicnn's loops on ``n`` threads (the calling thread and n − 1 helpers)."""
    n = int(n)
    if n < 1:
        raise ValueError(f"the number of threads must be at least 1, got {n}")
    with _lock:
        if _state["helpers"] is not None:
            _state["helpers"].stop()
            _state["helpers"] = None
        _state["threads"] = n


class Helpers:
    """The helper threads: each takes the next function from one queue and runs it.

    Handing a job to a SimpleQueue costs 0.2 µs where an executor's submit, with its Future, cost 4 µs,
    and for_each_chunk waits on a Lock rather than an Event (0.7 against 4 µs): overhead that batch-1
    inference pays in every layer."""

    def __init__(self, n):
        self.jobs, self.pid = queue.SimpleQueue(), os.getpid()
        self.threads = [threading.Thread(target=self._serve, name=f"minicnn-{i}", daemon=True) for i in range(n)]
        for thread in self.threads:
            thread.start()

    def _serve(self):
        for job in iter(self.jobs.get, None):
            job()

    def submit(self, job):
        self.jobs.put(job)

    def stop(self):
        for _ in self.threads:
            self.jobs.put(None)
        if os.getpid() == self.pid:
            for thread in self.threads:
                thread.join()


def _helpers():
    with _lock:
        helpers = _state["helpers"]
        if helpers is None or helpers.pid != os.getpid():     # none yet, or a forked child, which has no threads
            helpers = _state["helpers"] = Helpers(num_threads() - 1)
        return helpers


_OPENBLAS_SETTERS = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
                     "openblas_set_num_threads64_", "openblas_set_num_threads")


class BlasThreads:
    """The thread count of one BLAS library, read and set from any Python thread.

    threadpoolctl reads it for us, but lets only the first Python thread that ever set
    OpenBLAS's count set it again; minicnn may run in any thread, so for OpenBLAS it calls
    the library's own setter."""

    def __init__(self, library):
        self.library = library
        self._set = library.set_num_threads
        if library.internal_api == "openblas":
            dll = ctypes.CDLL(library.filepath)
            setter = next((getattr(dll, name) for name in _OPENBLAS_SETTERS if hasattr(dll, name)), None)
            if setter is not None:
                self._set = lambda n: setter(ctypes.c_int(n))

    def get(self):
        return self.library.get_num_threads()

    def set(self, n):
        self._set(n)


def numpy_blas():
    """The BLAS library NumPy calls (every BLAS library loaded, where it can't tell), as BlasThreads."""
    libraries = ThreadpoolController().select(user_api="blas").lib_controllers
    bundled = [lib for lib in libraries if "numpy" in os.path.basename(os.path.dirname(lib.filepath))]
    return [BlasThreads(lib) for lib in bundled or libraries]


def _enter_single_threaded_blas():
    with _lock:
        if _state["blas"] is None:
            _state["blas"] = numpy_blas()
        if _state["active_loops"] == 0:
            _state["saved_blas_threads"] = [lib.get() for lib in _state["blas"]]
            for lib in _state["blas"]:
                lib.set(1)
        _state["active_loops"] += 1


def _leave_single_threaded_blas():
    with _lock:
        _state["active_loops"] -= 1
        if _state["active_loops"] == 0:
            for lib, n in zip(_state["blas"], _state["saved_blas_threads"]):
                lib.set(n)


class SingleThreadedBlas:
    """``with single_threaded_blas():`` runs a matrix product outside the loops without waking BLAS's own
    spinning threads.  A class rather than a generator: every loop enters it, and it costs half as much."""

    def __enter__(self):
        _enter_single_threaded_blas()

    def __exit__(self, *exception):
        _leave_single_threaded_blas()


single_threaded_blas = SingleThreadedBlas


def chunk_bounds(n, chunk):
    return [(lo, min(lo + chunk, n)) for lo in range(0, n, max(1, int(chunk)))]


def for_each_chunk(fn, n, chunk):
    """Call ``fn(lo, hi)`` for every [lo, hi) of range(n) cut into pieces of ``chunk``, spread over the threads.

    Returns when every call is done; the first exception raised by a call is raised here."""
    bounds = chunk_bounds(n, chunk)
    if len(bounds) <= 1 or getattr(_local, "in_loop", False):    # nothing to share, or inside a chunk already
        with single_threaded_blas():
            for lo, hi in bounds:
                fn(lo, hi)
        return
    next_chunk = itertools.count()
    finished = itertools.count(1)
    all_finished = threading.Lock()         # held until the last chunk is done: cheaper than an Event
    all_finished.acquire()
    errors = []

    def drain():
        _local.in_loop = True
        try:
            for i in iter(next_chunk.__next__, None):
                if i >= len(bounds):
                    return
                try:
                    fn(*bounds[i])
                except BaseException as error:      # handed to the caller below
                    errors.append(error)
                if next(finished) == len(bounds):
                    all_finished.release()
        finally:
            _local.in_loop = False

    with single_threaded_blas():
        helpers = _helpers()
        for _ in range(min(num_threads(), len(bounds)) - 1):
            helpers.submit(drain)       # a helper that wakes after the work is gone simply returns
        drain()
        all_finished.acquire()
    if errors:
        raise errors[0]


def sum_over_chunks(fn, n, chunk):
    """Σ of ``fn(lo, hi)`` (a tuple of arrays) over the chunks of range(n), summed in a fixed order.

    Consecutive chunks form MIN_CHUNKS groups; each group is summed by one thread, then the
    groups in order.  The order never depends on the threads, so the result has the same bits
    for any number of threads and any timing (a resumed training run repeats the original).

    ``fn`` may return views of its thread's ``scratch`` buffers, which its next call overwrites:
    each part is added to the running total before ``fn`` is called again (never collect the
    parts first)."""
    bounds = chunk_bounds(n, chunk)
    groups = min(MIN_CHUNKS, len(bounds))
    group_sums = [None] * groups

    def sum_group(g, _):
        total = None
        for lo, hi in bounds[g * len(bounds) // groups:(g + 1) * len(bounds) // groups]:
            total = _add(total, fn(lo, hi))          # before the next call reuses the scratch
        group_sums[g] = total

    for_each_chunk(sum_group, groups, 1)
    total = None
    for part in group_sums:
        total = _add(total, part)
    return total


def _add(total, part):
    """total + part, element-wise over tuples of arrays, into ``total``; a copy of ``part`` when total is None
    (part may be scratch that is about to be overwritten)."""
    if total is None:
        return [np.array(p, copy=True) for p in part]
    for t, p in zip(total, part):
        t += p
    return total


def chunk_size(n, preferred, smallest=1):
    """Items per chunk: ``preferred`` (what fits a core's cache), but at most n / MIN_CHUNKS so the
    threads can share the work, and at least ``smallest`` (below which waking a thread costs more).

    It does not depend on the number of threads, so neither do the results."""
    return max(1, int(smallest), min(int(preferred), -(-n // MIN_CHUNKS)))


def chunk_unless_small(n, chunk, multiply_adds):
    """``chunk``, or the whole of range(n) in one piece when the work is below SHARING_MIN_MULTIPLY_ADDS.

    For the products of a few images (batch 1): waking a second core and being woken when it is done costs
    about 0.1 ms on a virtual machine, which a product this small does not win back (vgg predict of one
    image, 2-core Zen 3 VM: its 10.6 M multiply-add convolutions 0.44 vs 0.50 ms on one core and two, its
    21 M ones 0.67 vs 0.72 and 0.86 vs 1.01 ms the other way round)."""
    return chunk if multiply_adds >= SHARING_MIN_MULTIPLY_ADDS else max(1, n)


def chunk_by_size(n, item_size, smallest_elements=1):
    """Items per chunk for items of ``item_size`` elements: about CHUNK_ELEMENTS per chunk, at least
    ``smallest_elements`` (see chunk_size)."""
    item_size = max(1, int(item_size))
    return chunk_size(n, -(-CHUNK_ELEMENTS // item_size), -(-int(smallest_elements) // item_size))


def scratch(name, shape, dtype):
    """This thread's reusable buffer ``name`` as an uninitialised array of ``shape`` (grown when too small)."""
    buffers = getattr(_local, "scratch", None)
    if buffers is None:
        buffers = _local.scratch = {}
    size = math.prod(shape)
    buf = buffers.get(name)
    if buf is None or buf.size < size or buf.dtype != dtype:
        buf = buffers[name] = np.empty(size, dtype)
    return buf[:size].reshape(shape)
