"""Memory and speed of ``python -m fer_app.live`` over a long run: does either drift?

    python benchmarks/bench_soak.py video [--minutes 30] [--size 1280x720]
    python benchmarks/bench_soak.py images [--count 20000]

``video`` builds a video (bench_analyze.py's: a real face moving over a changing background, drawn faces
passing by) and runs live on it as a user records a session: ``--no-display --output out.mp4 --jsonl
f.jsonl``, the default detector and test-time views.  ``images`` writes a folder of small face photos
(the demo's drawn faces, 96 px) and runs live on the folder with ``--output DIR --jsonl``.

While live runs, its resident memory is sampled every half second and its progress read from the JSONL
(one line a frame or image): the table gives the memory and the frame rate over the window that ends at
10 % of the frames and over the one that ends at 100 % (each window is 5 % of the frames), and the peak.
Flat memory and the same rate at both ends mean nothing accumulates.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2

from bench_analyze import FPS, ROOT, build_video, tree_rss

sys.path.insert(0, str(ROOT))
from fer_app.demo import make_faces  # noqa: E402


def build_folder(folder, count):
    faces, _ = make_faces(min(count, 500), seed=5)
    folder.mkdir()
    for i in range(count):
        cv2.imwrite(str(folder / f"face_{i:05d}.png"), cv2.resize(faces[i % len(faces)], (96, 96)))


def watch(cmd, jsonl):
    """Run ``cmd``; (frames done, seconds, RSS bytes) every half second while it runs."""
    started = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    samples, lines, read = [], 0, 0
    while proc.poll() is None:
        if jsonl.exists():
            with open(jsonl, "rb") as f:
                f.seek(read)
                chunk = f.read()
            read += len(chunk)
            lines += chunk.count(b"\n")
        samples.append((lines, time.monotonic() - started, tree_rss(proc.pid)))
        time.sleep(0.5)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(map(str, cmd))} failed:\n{proc.stderr.read()}")
    return samples, time.monotonic() - started


def at(samples, fraction, total):
    """(RSS MB, frames a second) over the 5 % of the frames that end at ``fraction`` of them (or at the last
    sample taken before live ended)."""
    end = next((s for s in samples if s[0] >= fraction * total), samples[-1])
    start = next(s for s in samples if s[0] >= end[0] - 0.05 * total)
    rss = max((s[2] for s in samples if start[1] <= s[1] <= end[1]), default=0)
    return rss / 2**20, (end[0] - start[0]) / max(end[1] - start[1], 1e-9)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["video", "images"])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--size", default="1280x720", help="the video's WIDTHxHEIGHT (default: 1280x720)")
    parser.add_argument("--count", type=int, default=20000, help="images in the folder (default: 20000)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tmp, started = Path(tmp), time.monotonic()
        jsonl = tmp / "f.jsonl"
        if args.what == "video":
            size = tuple(int(v) for v in args.size.split("x"))
            source, output, total = tmp / "long.mp4", tmp / "out.mp4", int(args.minutes * 60 * FPS)
            build_video(source, args.minutes, size)
            what = f"{args.minutes:g} min of {size[0]}x{size[1]} video at {FPS} fps"
        else:
            source, output, total = tmp / "faces", tmp / "annotated", args.count
            build_folder(source, args.count)
            what = f"a folder of {args.count} face photos, 96x96"
        print(f"{what}, built in {time.monotonic() - started:.0f} s; {os.cpu_count()} cores", flush=True)
        cmd = [sys.executable, "-m", "fer_app.live", "--source", str(source), "--no-display", "--output", str(output),
               "--jsonl", str(jsonl)]
        samples, seconds = watch(cmd, jsonl)
        print(f"live {' '.join(cmd[3:])}: {seconds:.0f} s")
        print(f"{'frames done':<14}{'RSS MB':>9}{'frames/s':>10}")
        for fraction in (0.1, 1.0):
            rss, rate = at(samples, fraction, total)
            print(f"{fraction:<14.0%}{rss:>9.0f}{rate:>10.1f}")
        print(f"peak RSS: {max(s[2] for s in samples) / 2**20:.0f} MB")


if __name__ == "__main__":
    main()
