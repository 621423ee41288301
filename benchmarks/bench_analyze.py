"""Throughput and memory of ``python -m fer_app.analyze`` on a long video: seconds of video per second of wall time.

    python benchmarks/bench_analyze.py [--minutes 10] [--workers 1 2] [--ray] [--every 1]

Builds the video first (1280×720 at 30 fps: a real face — scikit-image's astronaut — moving over a changing
background, and the demo dataset's drawn faces passing by), then analyses it with each number of workers
(and on a local Ray instance with --ray), the default settings otherwise.  While each run goes, the
resident memory of the command and all its worker processes is summed every half second: its peak over
the first 10 % of the run and over the whole run, which should be the same if memory stays flat.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fer_app.demo import make_faces  # noqa: E402

FPS, SIZE = 30, (1280, 720)


def build_video(path, minutes, size=SIZE):
    """``minutes`` of video at FPS frames a second, ``size`` (width, height) pixels."""
    from skimage import data
    head = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)[30:230, 120:330]
    drawn, _ = make_faces(20, seed=3)
    W, H = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, size)
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 24, (H, W, 3), dtype=np.uint8)
    for t in range(int(minutes * 60 * FPS)):
        phase = t / FPS
        frame = np.full((H, W, 3), int(60 + 40 * np.sin(phase / 7)), np.uint8) + noise
        x = int((W - 260) * (0.5 + 0.45 * np.sin(phase / 5)))
        y = int(200 + 120 * np.sin(phase / 3))
        frame[y:y + head.shape[0], x:x + head.shape[1]] = head
        face = cv2.resize(drawn[(t // (4 * FPS)) % len(drawn)], (160, 160))
        fx = int((t * 6) % (W - 160))
        frame[520:680, fx:fx + 160] = face[:, :, None]
        writer.write(frame)
    writer.release()


def tree_rss(pid):
    """Resident memory of a process and all its descendants, in bytes."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                total += next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS"))
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except (OSError, StopIteration):
            continue
    return total


def analyse(video, out, extra):
    cmd = [sys.executable, "-m", "fer_app.analyze", str(video), "--out", str(out), *extra]
    started = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    samples = []
    while proc.poll() is None:
        samples.append((time.monotonic() - started, tree_rss(proc.pid)))
        time.sleep(0.5)
    wall = time.monotonic() - started
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stderr.read()}")
    early = max((rss for t, rss in samples if t <= 0.1 * wall), default=0)
    return wall, early, max((rss for _, rss in samples), default=0)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--ray", action="store_true", help="also on a local Ray instance")
    parser.add_argument("--every", type=int, default=1)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "long.mp4"
        started = time.monotonic()
        build_video(video, args.minutes)
        seconds = args.minutes * 60
        print(f"video: {args.minutes:g} min of {SIZE[0]}x{SIZE[1]} at {FPS} fps, built in "
              f"{time.monotonic() - started:.0f} s; analysing every {args.every} frame(s); {os.cpu_count()} cores")
        runs = [(f"{w} worker(s)", ["--workers", str(w)]) for w in args.workers] + ([("local Ray", ["--ray"])]
                                                                                    if args.ray else [])
        print(f"{'run':<14}{'wall s':>9}{'video s / wall s':>18}{'peak MB, first 10 %':>22}{'peak MB, all':>15}")
        for name, extra in runs:
            wall, early, peak = analyse(video, Path(tmp) / name.replace(" ", "_"), extra + ["--every", str(args.every)])
            print(f"{name:<14}{wall:>9.1f}{seconds / wall:>18.2f}{early / 2**20:>22.0f}{peak / 2**20:>15.0f}",
                  flush=True)


if __name__ == "__main__":
    main()
