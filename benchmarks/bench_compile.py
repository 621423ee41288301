"""Numba compile time: from ``import minicnn`` to the first finished training step of the small net.

    python benchmarks/bench_compile.py

Cold = an empty Numba cache (every kernel compiles); warm = the cache that run left
behind (``cache=True`` kernels load from disk).  Each runs in a fresh Python process.
"""
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
FIRST_STEP = """
import time; start = time.perf_counter()
import minicnn, numpy as np
from fer_app import models
from minicnn import optim
from minicnn.losses import SoftmaxCrossEntropy
model = models.build("small", np.random.default_rng(0))
x = np.random.default_rng(1).standard_normal((64, 1, 48, 48)).astype(np.float32)
loss, opt = SoftmaxCrossEntropy(), optim.SGD(model.parameters(), 0.01, momentum=0.9)
loss.forward(model.forward(x, training=True), np.zeros(64, int)); model.backward(loss.backward()); opt.step()
print(time.perf_counter() - start)
"""


def first_step_seconds(cache_dir):
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    out = subprocess.run([sys.executable, "-c", FIRST_STEP], capture_output=True, text=True, env=env, cwd=ROOT,
                         check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main():
    with tempfile.TemporaryDirectory() as cache:
        start = time.perf_counter()
        cold = first_step_seconds(cache)
        warm = min(first_step_seconds(cache) for _ in range(3))
    print(f"import minicnn → first training step of the small net: cold (empty cache) {cold:.1f} s, "
          f"warm (cached kernels) {warm:.1f} s   [{time.perf_counter() - start:.0f} s in all]")


if __name__ == "__main__":
    main()
