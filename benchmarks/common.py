"""Shared pieces of the benchmarks: timing, environment report, reference kernels, PyTorch twins."""
import contextlib
import os
import platform
import statistics
import time

import numba
import numpy as np

import minicnn
from minicnn import kernels, reference

try:
    import torch
except ImportError:          # PyTorch is optional: ratios are then to the NumPy reference
    torch = None

REPEATS = 7


def median_time(fn, repeats=REPEATS, warmup=2):
    """Median wall time of fn() in seconds, after warm-up calls (which also trigger JIT compilation)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def environment():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    lines = [f"machine: {cpu}, {os.cpu_count()} cores; Python {platform.python_version()}",
             f"minicnn {minicnn.__version__}: NumPy {np.__version__}, Numba {numba.__version__}, "
             f"{numba.get_num_threads()} Numba threads, OPENBLAS_THREAD_TIMEOUT={os.environ.get('OPENBLAS_THREAD_TIMEOUT')}"]
    if torch is not None:
        torch.set_num_threads(os.cpu_count())
        lines.append(f"PyTorch {torch.__version__}: {torch.get_num_threads()} threads")
    else:
        lines.append("PyTorch not installed (pip install torch==2.13.0): ratios are to the NumPy reference")
    return "\n".join(lines)


@contextlib.contextmanager
def reference_kernels():
    """Run minicnn with every Numba kernel replaced by its plain-NumPy twin."""
    names = [n for n in dir(reference) if not n.startswith("_") and callable(getattr(kernels, n, None))]
    saved = {n: getattr(kernels, n) for n in names}
    try:
        for n in names:
            setattr(kernels, n, getattr(reference, n))
        yield
    finally:
        for n, fn in saved.items():
            setattr(kernels, n, fn)


def torch_twin(model):
    """A PyTorch nn.Sequential with minicnn ``model``'s architecture (fresh weights)."""
    nn = torch.nn
    out = []
    for spec in model.architecture():
        t, c = spec["type"], spec["config"]
        if t == "Conv2D":
            out.append(nn.Conv2d(c["in_channels"], c["out_channels"], c["kernel_size"], c["stride"], c["padding"]))
        elif t == "Dense":
            out.append(nn.Linear(c["in_features"], c["out_features"]))
        elif t in ("BatchNorm2D", "BatchNorm1D"):
            cls = nn.BatchNorm2d if t == "BatchNorm2D" else nn.BatchNorm1d
            out.append(cls(c["num_features"], eps=c["eps"], momentum=c["momentum"]))
        elif t in ("MaxPool2D", "AvgPool2D"):
            cls = nn.MaxPool2d if t == "MaxPool2D" else nn.AvgPool2d
            out.append(cls(c["kernel_size"], c["stride"]))
        elif t == "GlobalAvgPool2D":
            out += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        elif t == "ReLU":
            out.append(nn.ReLU())
        elif t == "LeakyReLU":
            out.append(nn.LeakyReLU(c["alpha"]))
        elif t == "Dropout":
            out.append(nn.Dropout(c["p"]))
        elif t == "Flatten":
            out.append(nn.Flatten())
        else:
            raise ValueError(f"no PyTorch twin for {t}")
    return nn.Sequential(*out)


def ratio(ours, theirs):
    """How many times faster minicnn is (above 1 = faster)."""
    return theirs / ours
