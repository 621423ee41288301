"""Cost of training-time augmentation: milliseconds per batch of 64 faces, each transform alone and all together;
the transforms that are off by default (--lowres, --jpeg, --blur, --cut, --closeup) applied to every face.

    python benchmarks/bench_augment.py
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402

from fer_app.augment import Augmentation  # noqa: E402

OFF = dict(rotation=0, flip=False, shift=0, zoom=0, brightness=0, contrast=0, noise=0, erase=0, lowres=0, jpeg=0,
           blur=0, cut=0, closeup=0)


def ms_per_batch(augmentation, x, repeats=20):
    rng = np.random.default_rng(0)
    augmentation(x, rng)
    start = time.perf_counter()
    for _ in range(repeats):
        augmentation(x, rng)
    return 1000 * (time.perf_counter() - start) / repeats


def main():
    x = np.random.default_rng(2).random((64, 48, 48), dtype=np.float32)
    defaults = Augmentation()
    print(f"{'transform':<12}{'ms / batch of 64':>18}")
    for name in OFF:
        value = getattr(defaults, name) or 1.0          # off by default: on every face
        print(f"{name:<12}{ms_per_batch(Augmentation(**dict(OFF, **{name: value})), x):>18.2f}")
    print(f"{'all':<12}{ms_per_batch(defaults, x):>18.2f}")


if __name__ == "__main__":
    main()
