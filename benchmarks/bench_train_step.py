"""Training speed of fer_app's nets: milliseconds per step (augmentation, forward, backward, SGD update) on
the CPU's cores and, with CuPy and an NVIDIA GPU, on the GPU (``--device cuda``, minicnn/gpu.py).

    python3 benchmarks/bench_train_step.py [--arch vgg] [--width 1.5] [--crop 44] [--batch 64] [--steps 30]
                                           [--devices cpu cuda] [--layers]

Runs the real training loop (``Trainer.train_batches``: the next batch augmented while a step runs) on
generated 48×48 faces after a few warm-up steps, and prints each device's time per step, images per second
and speed relative to the first device measured in the same run.
``--layers`` also prints each layer's forward and backward time in a step (the GPU finishing each layer's
work before the next is timed), to see where a step's time goes.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402

from fer_app import train  # noqa: E402
from fer_app.demo import demo_splits  # noqa: E402
from fer_app.preprocess import center_crop  # noqa: E402
from minicnn import gpu  # noqa: E402


def make_trainer(device, args):
    config = train.TrainConfig(arch=args.arch, width=args.width, crop=args.crop, batch_size=args.batch,
                               device=device, epochs=1).for_data("generated")
    return train.Trainer(config, demo_splits(), log=lambda *a: None)


def ms_per_step(device, args):
    trainer = make_trainer(device, args)
    rng, faces = np.random.default_rng(0), len(trainer.train_labels)
    batches = [rng.choice(faces, args.batch, replace=False) for _ in range(args.steps + 3)]
    trainer.train_batches(batches[:3], rng)      # compiles Numba's and CuPy's kernels
    start = time.perf_counter()
    trainer.train_batches(batches[3:], rng)      # each step reads its loss back, so the GPU has finished
    return 1000 * (time.perf_counter() - start) / args.steps


def ms_per_layer(device, args, repeats=10):
    """(layer, forward ms, backward ms) of each layer in a training step on a batch of faces."""
    trainer = make_trainer(device, args)
    x = center_crop(trainer.preprocessing.standardize(trainer.x_train[:args.batch]), trainer.size)
    layers = trainer.model.layers
    finish = lambda: None                                                       # noqa: E731
    if device == "cuda":        # CuPy arrays: each layer runs its whole-array form
        x, finish = gpu.to_gpu(x), gpu.cupy_module().cuda.Device().synchronize
    seconds = np.zeros((len(layers), 2))
    for repeat in range(repeats + 1):                # the first pass compiles kernels and is not counted
        a = x
        for i, layer in enumerate(layers):
            start = time.perf_counter()
            a = layer.forward(a, training=True)
            finish()
            seconds[i, 0] += (time.perf_counter() - start) * (repeat > 0)
        d = a * 0 + 1
        for i in reversed(range(len(layers))):
            start = time.perf_counter()
            d = layers[i].backward(d)
            finish()
            seconds[i, 1] += (time.perf_counter() - start) * (repeat > 0)
    return [(repr(layer), *(1000 * seconds[i] / repeats)) for i, layer in enumerate(layers)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="vgg")
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--crop", type=int, default=None)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--devices", nargs="+", default=["cpu"], choices=["cpu", "cuda"])
    parser.add_argument("--layers", action="store_true", help="also each layer's forward and backward time")
    args = parser.parse_args()
    reference = None
    for device in args.devices:
        ms = ms_per_step(device, args)
        reference = reference or ms
        print(f"{args.arch} width {args.width:g} crop {args.crop or 48} batch {args.batch} on {device}: "
              f"{ms:.1f} ms per step, {1000 * args.batch / ms:.0f} img/s, {reference / ms:.2f}x {args.devices[0]}",
              flush=True)
        if args.layers:
            rows = ms_per_layer(device, args)
            width = max(len(name) for name, *_ in rows)
            print(f"  {'layer':<{width}}  forward ms  backward ms")
            for name, forward_ms, backward_ms in rows:
                print(f"  {name:<{width}}  {forward_ms:10.2f}  {backward_ms:11.2f}")
            print(f"  {'sum':<{width}}  {sum(r[1] for r in rows):10.2f}  {sum(r[2] for r in rows):11.2f}", flush=True)


if __name__ == "__main__":
    main()
