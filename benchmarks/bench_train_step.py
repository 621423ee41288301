"""Training speed of fer_app's nets: milliseconds per step (augmentation, forward, backward, SGD update) on
the CPU's cores and, with CuPy and an NVIDIA GPU, on the GPU (``--device cuda``, minicnn/gpu.py).

    python3 benchmarks/bench_train_step.py [--arch vgg] [--width 1.5] [--crop 44] [--batch 64] [--steps 30]
                                           [--devices cpu cuda]

Runs the real ``Trainer.step`` on generated 48×48 faces after a few warm-up steps, and prints each device's
time per step, images per second and speed relative to the first device measured in the same run.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402

from fer_app import train  # noqa: E402


def ms_per_step(device, args):
    config = train.TrainConfig(arch=args.arch, width=args.width, crop=args.crop, batch_size=args.batch,
                               device=device, epochs=1).for_data("generated")
    splits = train.demo_splits()
    trainer = train.Trainer(config, splits, log=lambda *a: None)
    rng, faces = np.random.default_rng(0), len(splits["train"][1])
    batches = [rng.choice(faces, args.batch, replace=False) for _ in range(args.steps + 3)]
    for idx in batches[:3]:                      # compiles Numba's and CuPy's kernels
        trainer.step(idx, rng)
    start = time.perf_counter()
    for idx in batches[3:]:
        trainer.step(idx, rng)                   # each step reads its loss back, so the GPU has finished
    return 1000 * (time.perf_counter() - start) / args.steps


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="vgg")
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--crop", type=int, default=None)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--devices", nargs="+", default=["cpu"], choices=["cpu", "cuda"])
    args = parser.parse_args()
    reference = None
    for device in args.devices:
        ms = ms_per_step(device, args)
        reference = reference or ms
        print(f"{args.arch} width {args.width:g} crop {args.crop or 48} batch {args.batch} on {device}: "
              f"{ms:.1f} ms per step, {1000 * args.batch / ms:.0f} img/s, {reference / ms:.2f}x {args.devices[0]}",
              flush=True)


if __name__ == "__main__":
    main()
