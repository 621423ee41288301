"""Several fine-tunes of one model at once on a lent GPU, each run's per-epoch snapshots averaged (docs/sgd.md).

    python3 tools/finetune_gpu.py --data DATA --init MODEL --out DIR --seconds S [--runs a1 b1 ...]

Every run is the sixth run's recipe of docs/model.md (constant lr 0.002, one cosine cycle per epoch so each epoch
leaves a snapshot, the starting model's own soft targets as the teacher, light augmentation with noise and far
faces) with its own seed and one change from RUNS. The runs train until ``--seconds`` minus the time kept for
the end, then are stopped with Ctrl-C (each keeps the snapshots of the epochs it finished); each run's snapshots
are then averaged and the average's BatchNorm statistics recomputed on the training faces
(python -m fer_app.swa), all runs at once. An average whose statistics are not done by the deadline (or fail)
is kept without them, as ``<run>-average-raw.npz``: recompute them later with python -m fer_app.swa.

On the lent machine (the data carried as fer2013_pack.py packed it, in the ignored .devdata/):

    python3 tools/fer2013_pack.py unpack .devdata /tmp/fer2013
    python3 tools/finetune_gpu.py --data /tmp/fer2013 --init fer_app/weights/fer2013_vgg.npz \\
        --out /tmp/runs --seconds 470
    python3 tools/finetune_gpu.py … --out /tmp/runs2 --seconds 290 --seed-offset 10      # a second round
"""
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import minicnn  # noqa: E402
from minicnn.optim import average_weights  # noqa: E402
from train_members_gpu import GPU_ENV, lease_parser, say, start_runs, stop_at  # noqa: E402

RECIPE = {"--lr": "0.002", "--rotation": "5", "--shift": "0.04", "--zoom": "0.04", "--erase": "0", "--noise": "0.02",
          "--lowres": "0.25", "--brightness": "0.05", "--contrast": "0.1"}
RUNS = {           # name: seed, the options that differ from RECIPE (None: left out)
    "a1": (111, {}), "a2": (112, {}), "a3": (113, {}),
    "b1": (114, {"--lr": "0.004"}), "b2": (115, {"--lr": "0.004"}),
    "c1": (116, {"--teacher": None}),
    "d1": (117, {"--lr": "0.003", "--rotation": "10", "--shift": "0.08", "--zoom": "0.08", "--brightness": "0.1",
                 "--contrast": "0.2"}),
    "e1": (118, {"--noise": "0", "--lowres": "0"}),
}
MAX_EPOCHS = 40           # more than fit: the deadline ends every run
AVERAGING_S = 120.0       # kept at the end for averaging and the statistics


def train_command(name, args, out):
    seed, changes = RUNS[name]
    options = {**RECIPE, "--teacher": args.init, **changes}
    command = [sys.executable, "-m", "fer_app.train", "--data", args.data, "--arch", "vgg", "--init", args.init,
               "--nesterov", "--epochs", str(MAX_EPOCHS), "--cycles", str(MAX_EPOCHS),
               "--seed", str(seed + args.seed_offset), "--device", args.device, "--threads", "2", "--quiet",
               "--out", str(out / f"{name}.npz")]
    return command + [word for option, value in options.items() if value is not None for word in (option, value)]


def average_raw(snapshots, path):
    """The snapshots' weights averaged, their BatchNorm statistics left as the mean of theirs."""
    models = [minicnn.load(s) for s in snapshots]
    models[0].load_state_dict(average_weights(models))
    models[0].save(path)


def main():
    parser = lease_parser(__doc__)
    parser.add_argument("--init", required=True)
    parser.add_argument("--runs", nargs="+", default=list(RUNS), choices=list(RUNS))
    parser.add_argument("--seed-offset", type=int, default=0, help="added to every run's seed: another round")
    args = parser.parse_args()
    deadline = time.time() + args.seconds
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, **GPU_ENV)
    runs = start_runs({name: train_command(name, args, out) for name in args.runs}, out, env)
    stop_at(runs, deadline - AVERAGING_S)
    snapshots = {}
    for name, run in runs.items():
        snapshots[name] = sorted(out.glob(f"{name}.cycle-*.npz"))
        say(f"{name}: exit {run.wait()}, {len(snapshots[name])} snapshots")

    averaging = {name: subprocess.Popen([sys.executable, "-m", "fer_app.swa", *map(str, files),
                                         args.data, str(out / f"{name}-average.npz")],
                                        env=dict(env, NUMBA_NUM_THREADS="2"))
                 for name, files in snapshots.items() if files}
    while any(job.poll() is None for job in averaging.values()) and time.time() < deadline:
        time.sleep(1)
    for name, job in averaging.items():
        if job.poll() is None or job.returncode:
            why = "not done by the deadline" if job.poll() is None else f"fer_app.swa exit {job.returncode}"
            job.kill()
            average_raw(snapshots[name], out / f"{name}-average-raw.npz")
            say(f"{name}: statistics not recomputed ({why}); {name}-average-raw.npz")


if __name__ == "__main__":
    main()
