"""A training run's files: what a run writes (``run_files``), the checkpoint it continues from
(``read_checkpoint``; Trainer.save_checkpoint writes it), and which files a new run may claim — over no
input, over no earlier run's files unless told, never while another run writes them (``claim_run_files``)."""
import glob
from dataclasses import replace
from pathlib import Path

from minicnn.serialization import ModelFileError, read_training

from .checks import UserError, check_outputs, is_locked, writing_alone


def run_files(out, cycles=1):
    """The files a run writes: the best model at ``out``, and beside it its checkpoint, log and curves, and
    with ``cycles`` > 1 the model at the end of each cycle (``snapshot-1`` … : <out>.cycle-1.npz …)."""
    out = Path(out)
    files = {"model": out, "checkpoint": out.with_suffix(".ckpt.npz"), "log": out.with_suffix(".log.jsonl"),
             "curves": out.with_suffix(".curves.png")}
    if cycles > 1:
        files.update({f"snapshot-{k}": out.with_suffix(f".cycle-{k}.npz") for k in range(1, cycles + 1)})
    return files


CHECKPOINT_STATE = {"epoch": int, "batch": int, "sums": dict, "best_acc": (int, float), "best_epoch": int,
                    "history": list, "config": dict, "preprocessing": dict, "rng_states": (list, type(None))}


def read_checkpoint(path):
    """(the trainer's state, what minicnn's read_training read) of a checkpoint that Trainer.save_checkpoint
    wrote, the file read once; ModelFileError naming the file."""
    read = read_training(path)
    state = read[1]["state"]
    if not isinstance(state, dict):
        raise ModelFileError(f"{path}: the training state is not a JSON object")
    missing = [k for k in CHECKPOINT_STATE if k not in state]
    if missing:
        raise ModelFileError(f"{path}: the training state lacks {', '.join(missing)}")
    wrong = [k for k, kind in CHECKPOINT_STATE.items() if not isinstance(state[k], kind) or isinstance(state[k], bool)]
    if wrong:
        raise ModelFileError(f"{path}: the training state has values of the wrong type for {', '.join(wrong)}")
    return state, read


def unfinished(checkpoint):
    """True when ``checkpoint`` is a readable checkpoint of a run that has epochs left."""
    try:
        state, _ = read_checkpoint(checkpoint)
    except ModelFileError:
        return False
    return state["epoch"] < state["config"].get("epochs", 0)


def claim_run_files(config, data, out_named, held, overwrite=False, config_file=None):
    """The configuration with the --out this run may write, locked for it in ``held`` (an ExitStack): over
    no input, and over no earlier run's files unless ``overwrite`` (then they go at once, so none of them is
    left beside the new run's).  An --out left to its default that an earlier or a running run took is
    numbered instead: runs/demo-tiny-2.npz."""
    out = config.out
    if not out_named and not overwrite:
        base, n = Path(out), 1
        while earlier_run_files(out) or is_locked(out):
            n += 1
            out = str(base.with_name(f"{base.stem}-{n}{base.suffix}"))
    if Path(out).is_dir():
        raise UserError(f"--out {out}: is a folder; give a file name, such as {Path(out) / 'model.npz'}")
    held.enter_context(writing_alone(out, "--out"))
    files = run_files(out, config.cycles)
    inputs = [("--data", None if data == "demo" else data), ("--config", config_file), ("--init", config.init),
              ("--teacher", config.teacher)]
    check_outputs([("--out", path) for path in files.values()], inputs, overwrite=True)
    existing = earlier_run_files(out)
    if existing and not overwrite:
        resume = f"continue it with --resume {files['checkpoint']}, " if unfinished(files["checkpoint"]) else ""
        raise UserError(f"--out {out}: an earlier run's files are there ({', '.join(map(str, existing))}); "
                        f"{resume}choose another --out, or pass --overwrite to replace them")
    for path in existing:       # the model itself is replaced when this run has a better one
        if path != files["model"]:
            path.unlink()
    return replace(config, out=out)


def earlier_run_files(out):
    """The files an earlier run at ``out`` left there: model, checkpoint, log, curves and any snapshots."""
    out = Path(out)
    snapshots = sorted(out.parent.glob(glob.escape(out.stem) + ".cycle-*.npz"))
    return [f for f in run_files(out).values() if f.exists()] + snapshots
