"""Shared pieces of the benchmarks: import order, load, timing, environment report, reference kernels, PyTorch twins.

Benchmarks measure the way users run things: by default the script imports NumPy, OpenCV and
PyTorch before minicnn (``--minicnn-first`` imports minicnn before anything else instead), and
``--busy N`` keeps N other CPU-bound processes running while it measures.
"""
import sys

if "--minicnn-first" in sys.argv:
    import minicnn  # noqa: F401  (first, before NumPy)

import contextlib  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

try:
    import cv2  # noqa: F401  (imported before minicnn, as a user's script would)
except ImportError:
    cv2 = None
try:
    import torch
except ImportError:          # PyTorch is optional: ratios are then to the NumPy reference
    torch = None

import minicnn  # noqa: E402
from minicnn import kernels, reference  # noqa: E402

REPEATS = 7


def add_scenario_arguments(parser):
    parser.add_argument("--minicnn-first", action="store_true",
                        help="import minicnn before NumPy, OpenCV and PyTorch (default: after them, as a user script)")
    parser.add_argument("--busy", type=int, default=0, metavar="N",
                        help="keep N other CPU-bound processes running while measuring (default: 0)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(),
                        help="threads for minicnn and for PyTorch (default: the number of cores)")


@contextlib.contextmanager
def busy_processes(n):
    """n other processes spinning on a core each, as another program on the machine would."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    try:
        time.sleep(0.5 if n else 0)
        yield
    finally:
        for p in procs:
            p.kill()
            p.wait()


def interleaved_medians(fns, repeats=REPEATS, warmup=2, calls=1, settle=1):
    """Median wall time in seconds of one call of each of several callables, timed in turn (A, B, A, B …).

    Interleaving makes both sides see the same machine: on a shared VM, speed drifts from one
    second to the next, and timing all of A and then all of B would put that drift in the ratio.
    But a turn that starts right after the other library's must not pay for it: PyTorch's OpenMP
    threads keep spinning for a while after its call, on the cores the next call needs (a 32→64
    convolution at 24×24: minicnn's forward 11–14 ms alone, 18–21 ms right after PyTorch's; with
    OMP_WAIT_POLICY=passive 13–16), while a user runs one library, not both call by call.  So each
    turn first makes ``settle`` untimed calls, then times ``calls`` calls in a row; both sides are
    treated alike, each measured as it runs in a loop of its own."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            for _ in range(settle):
                fn()
            start = time.perf_counter()
            for _ in range(calls):
                fn()
            times[name].append((time.perf_counter() - start) / calls)
    return {name: statistics.median(t) for name, t in times.items()}


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


def environment(args):
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    minicnn.set_num_threads(args.threads)
    order = "minicnn first" if args.minicnn_first else "NumPy, OpenCV, PyTorch, then minicnn (as a user script)"
    lines = [f"machine: {cpu}, {os.cpu_count()} cores, {vector_isa()}; Python {platform.python_version()}",
             f"import order: {order}; other CPU-bound processes running: {args.busy}",
             f"minicnn {minicnn.__version__}: NumPy {np.__version__}, {minicnn.num_threads()} threads; "
             f"Numba compiles for {numba_target()}, NumPy's BLAS runs its {blas_cores()} kernel"]
    if torch is not None:
        torch.set_num_threads(args.threads)
        lines.append(f"PyTorch {torch.__version__}: {torch.get_num_threads()} threads, "
                     f"ATen kernels {torch.backends.cpu.get_cpu_capability()}, "
                     f"oneDNN capped at {os.environ.get('ONEDNN_MAX_CPU_ISA', 'nothing')}, "
                     f"MKL at {os.environ.get('MKL_ENABLE_INSTRUCTIONS', 'nothing')}")
    else:
        lines.append("PyTorch not installed (pip install torch==2.13.0): ratios are to the NumPy reference")
    return "\n".join(lines)


def vector_isa():
    """The widest vector instructions the CPU offers: what decides which kernels every library picks."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next(line for line in f if line.startswith("flags")).split()
    except (OSError, StopIteration):
        return "vector width unknown"
    return "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"


def numba_target():
    import llvmlite.binding
    import numba
    return numba.config.CPU_NAME or llvmlite.binding.get_host_cpu_name()


def blas_cores():
    from threadpoolctl import threadpool_info
    return "/".join(sorted({lib.get("architecture") or lib["internal_api"] for lib in threadpool_info()
                            if lib["user_api"] == "blas"})) or "unknown"


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
    return torch_layers(model.architecture())


class TorchResidual(torch.nn.Module if torch is not None else object):
    """x + body(x), as minicnn's Residual."""

    def __init__(self, body):
        super().__init__()
        self.body = body

    def forward(self, x):
        return x + self.body(x)


def torch_layers(specs):
    """nn.Sequential of the layers a minicnn architecture (``Sequential.architecture()``) lists."""
    nn = torch.nn
    out = []
    for spec in specs:
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
        elif t == "Residual":
            out.append(TorchResidual(torch_layers(c["layers"])))
        else:
            raise ValueError(f"no PyTorch twin for {t}")
    return nn.Sequential(*out)


def ratio(ours, theirs):
    """How many times faster minicnn is (above 1 = faster)."""
    return theirs / ours
