"""Whole-network speed: training img/s, inference img/s and batch-1 latency, minicnn against PyTorch.

    python benchmarks/bench_nets.py [--arch small vgg] [--minicnn-first] [--busy N] [--threads N]

For each net: a training step (forward + backward + SGD momentum, batch 64), inference
(batch 64) and the latency of one image, through ``model.predict`` and through a kept
``model.predictor()`` (as fer_app classifies; PyTorch's side is the same eager call in both).
minicnn against PyTorch CPU with the same architecture when it is installed, and against
minicnn on the NumPy reference kernels otherwise.  The two sides are timed in turn, repetition by repetition, in the same
process (median of REPEATS); by default the script imports NumPy, OpenCV and PyTorch
before minicnn, as a user's script does.  benchmarks/bench_scenarios.py runs it under
every import order and load.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import (add_scenario_arguments, busy_processes, environment, interleaved_medians,  # noqa: E402
                    reference_kernels, torch, torch_twin)
import numpy as np  # noqa: E402

from fer_app import models  # noqa: E402
from minicnn import optim  # noqa: E402
from minicnn.losses import SoftmaxCrossEntropy  # noqa: E402

BATCH = 64
REPEATS = 11


def minicnn_tasks(model, x, y):
    loss, opt = SoftmaxCrossEntropy(), optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def train():
        loss.forward(model.forward(x, training=True), y)
        opt.zero_grad()
        model.backward(loss.backward(), input_grad=False)     # as fer_app trains (and PyTorch: x needs no grad)
        opt.step()
    predictor = model.predictor()       # as fer_app classifies: the weights' preparation kept between calls
    return {"train": train, "infer": lambda: model.predict(x), "latency": lambda: model.predict(x[:1]),
            "kept infer": lambda: predictor.predict(x), "kept latency": lambda: predictor.predict(x[:1])}


def torch_tasks(model, x, y):
    net = torch_twin(model)
    tx, ty = torch.tensor(x), torch.tensor(y)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()

    def train():
        net.train()
        opt.zero_grad()
        loss_fn(net(tx), ty).backward()
        opt.step()

    def infer(batch):
        net.eval()
        with torch.no_grad():
            net(batch)
    return {"train": train, "infer": lambda: infer(tx), "latency": lambda: infer(tx[:1]),
            "kept infer": lambda: infer(tx), "kept latency": lambda: infer(tx[:1])}


def reference_tasks(model, x, y):
    """minicnn itself on the plain-NumPy kernels, when PyTorch is absent."""
    tasks = minicnn_tasks(model, x, y)

    def on_reference(fn):
        def run():
            with reference_kernels():
                fn()
        return run
    return {name: on_reference(fn) for name, fn in tasks.items()}


def measure(arch, x, y):
    """{task: (minicnn seconds, other seconds)}, the two timed in turn."""
    ours = minicnn_tasks(models.build(arch, np.random.default_rng(0)), x, y)
    other_model = models.build(arch, np.random.default_rng(0))
    theirs = torch_tasks(other_model, x, y) if torch is not None else reference_tasks(other_model, x, y)
    result = {}
    for task in ours:
        t = interleaved_medians({"ours": ours[task], "theirs": theirs[task]}, repeats=REPEATS,
                                calls=20 if task.endswith("latency") else 1)
        result[task] = (t["ours"], t["theirs"])
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", nargs="+", default=["small", "vgg"], choices=sorted(models.ARCHITECTURES))
    add_scenario_arguments(parser)
    args = parser.parse_args(argv)
    print(environment(args))
    other = "torch" if torch is not None else "NumPy ref"
    print(f"{'net':<7}{'metric':<22}{'minicnn':>10}{other:>11}{'ratio':>8}   (ratio above 1: minicnn is faster)")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, 1, 48, 48)).astype(np.float32)
    y = rng.integers(0, 7, BATCH)
    with busy_processes(args.busy):
        for arch in args.arch:
            t = measure(arch, x, y)
            rows = [("train img/s", BATCH / t["train"][0], BATCH / t["train"][1]),
                    ("inference img/s", BATCH / t["infer"][0], BATCH / t["infer"][1]),
                    ("batch-1 latency ms", 1e3 * t["latency"][0], 1e3 * t["latency"][1]),
                    ("predictor img/s", BATCH / t["kept infer"][0], BATCH / t["kept infer"][1]),
                    ("predictor batch-1 ms", 1e3 * t["kept latency"][0], 1e3 * t["kept latency"][1])]
            for metric, ours, theirs in rows:
                ratio = theirs / ours if metric.endswith("ms") else ours / theirs
                digits = 2 if metric.endswith("ms") else 1
                print(f"{arch:<7}{metric:<22}{ours:>10.{digits}f}{theirs:>11.{digits}f}{ratio:>8.2f}", flush=True)


if __name__ == "__main__":
    main()
