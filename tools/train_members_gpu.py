"""How the ensemble members in docs/model.md were trained: several ``fer_app.train`` runs at once on one GPU.

    python3 tools/train_members_gpu.py --data DATA --out DIR --seconds S [--members m1 m2 ...]

The machine is lent for a few minutes, so the schedule is fitted to the time: first a training step of every
member's variant is timed with all of them running at once (benchmarks/bench_train_step.py), then every run
gets the number of epochs that fits in the time left at the slowest of those paces (its cosine schedule then
ends on time), and any run still going at the deadline is stopped with Ctrl-C, which leaves a checkpoint to
``--resume``.  The runs use TF32 matrix products and CUB reductions (CuPy's ``CUPY_TF32=1
CUPY_ACCELERATORS=cub``): a quarter less time per step.

On the lent machine (the data carried as tools/fer2013_pack.py packed it, in the ignored .devdata/):

    python3 tools/fer2013_pack.py unpack .devdata /tmp/fer2013
    python3 tools/train_members_gpu.py --data /tmp/fer2013 --out /tmp/members --members m1 m3 --seconds 460
    cp /tmp/members/m1.npz /tmp/members/m3.npz $OUT/      # what comes back: at most 8 files of 16 MB each
"""
import argparse
import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

MEMBERS = {        # name: seed, width, crop (all: --arch vgg --nesterov and the default recipe but the batch)
    "m1": (21, 1.0, None), "m2": (22, 1.0, None), "m3": (23, 1.5, None),
    "m4": (24, 1.5, None), "m5": (25, 1.0, 44), "m6": (26, 1.5, 44),
    "m7": (27, 1.0, None), "m8": (28, 1.0, None), "m9": (29, 1.5, None),
    "m10": (30, 1.5, None), "m11": (31, 1.0, 44), "m12": (32, 1.5, 44),
}
BATCH, LR = 128, 0.1      # twice the default batch (half the steps) with the learning rate scaled alike
STEPS_PER_EPOCH = math.ceil(28709 / BATCH)
EPOCH_EXTRA_S = 2.0       # validation on 3,589 faces and the epoch's files
START_S = 35.0            # loading the data and compiling kernels
END_MARGIN_S = 25.0
GPU_ENV = {"CUPY_TF32": "1", "CUPY_ACCELERATORS": "cub"}


def variant(name):
    _, width, crop = MEMBERS[name]
    return ["--width", str(width), "--batch", str(BATCH)] + (["--crop", str(crop)] if crop else [])


def say(text):
    print(time.strftime("%H:%M:%S"), text, flush=True)


def start_runs(commands, out, env):
    """Each of ``commands`` ({name: fer_app.train command}) started, its console in <out>/<name>.out.txt."""
    runs = {}
    for name, command in commands.items():
        say(" ".join(command[1:]))
        runs[name] = subprocess.Popen(command, stdout=open(out / f"{name}.out.txt", "w"), stderr=subprocess.STDOUT,
                                      env=env)
    return runs


def stop_at(runs, deadline):
    """Wait for the runs until ``deadline`` (time.time()), then Ctrl-C any still going: it saves a checkpoint."""
    while any(run.poll() is None for run in runs.values()) and time.time() < deadline:
        time.sleep(2)
    for name, run in runs.items():
        if run.poll() is None:
            say(f"{name}: still running at the deadline, Ctrl-C")
            run.send_signal(signal.SIGINT)


def lease_parser(doc):
    """The options of every driver here: --data, --out, --seconds, --device."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--device", default="cuda", help="cpu: a dry run of this script on a machine without a GPU")
    return parser


def main():
    parser = lease_parser(__doc__)
    parser.add_argument("--members", nargs="+", default=list(MEMBERS))
    args = parser.parse_args()
    deadline = time.time() + args.seconds
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, **GPU_ENV)

    benches = {name: subprocess.Popen([sys.executable, "benchmarks/bench_train_step.py", "--devices", args.device,
                                       "--steps", "40"] + variant(name), stdout=subprocess.PIPE, text=True, env=env)
               for name in args.members}
    lines = {name: bench.communicate()[0].strip() for name, bench in benches.items()}
    for name, line in lines.items():
        say(f"{name}: {line}")
    # The runs share the GPU and move at about the same pace; the benchmarks start one after another, so the
    # first to finish timed its steps with fewer neighbours: the slowest time is the one the runs will see.
    ms = max(float(re.search(r"([\d.]+) ms per step", line).group(1)) for line in lines.values())
    epoch_s = STEPS_PER_EPOCH * ms / 1000 + EPOCH_EXTRA_S
    epochs = max(1, int((deadline - time.time() - START_S - END_MARGIN_S) / epoch_s))
    say(f"{epoch_s:.1f} s per epoch -> {epochs} epochs each")

    commands = {}
    for name in args.members:
        commands[name] = [sys.executable, "-m", "fer_app.train", "--data", args.data, "--arch", "vgg",
                          "--nesterov", "--device", args.device, "--threads", "2", "--quiet", "--epochs", str(epochs),
                          "--out", str(out / f"{name}.npz"), "--seed", str(MEMBERS[name][0]), "--width",
                          str(MEMBERS[name][1]), "--batch-size", str(BATCH), "--lr", str(LR)] + \
            (["--crop", str(MEMBERS[name][2])] if MEMBERS[name][2] else [])
    runs = start_runs(commands, out, env)
    stop_at(runs, deadline - END_MARGIN_S)
    for name, run in runs.items():
        say(f"{name}: exit {run.wait()}")


if __name__ == "__main__":
    main()
