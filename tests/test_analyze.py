"""python -m fer_app.analyze: videos, photos and bad files in one command; parallel, resumable, refusing
what it must."""
import csv
import json
import os
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

from fer_app import analyze
from fer_app.labels import CLASSES

from .helpers import ENV, ROOT, run_module, untrained_model
from .test_live import compose_video

pytest.importorskip("yuface", reason="yuface not installed (YuNet: Linux x86-64, CPython 3.9-3.11)")


@pytest.fixture(scope="module")
def photo():
    skimage_data = pytest.importorskip("skimage.data", reason="scikit-image not installed (optional: real photos)")
    return cv2.cvtColor(skimage_data.astronaut(), cv2.COLOR_RGB2BGR)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return untrained_model(tmp_path_factory.mktemp("model") / "tiny.npz")


@pytest.fixture
def mixed(tmp_path, photo):
    """A folder as users have them: a video with two people, a photo, in a subfolder another video sharing a
    stem, and a corrupt image, a zero-byte video and a text file."""
    src = tmp_path / "inputs"
    (src / "day2").mkdir(parents=True)
    compose_video(src / "interview.mp4", photo, n_frames=30, faces=2, size=(800, 360))
    compose_video(src / "day2" / "interview.mp4", photo, n_frames=20, faces=1)
    cv2.imwrite(str(src / "photo.png"), photo)
    (src / "broken.png").write_bytes(b"\x89PNG not really")
    (src / "empty.mp4").write_bytes(b"")
    (src / "notes.txt").write_text("session notes")
    truncated(src / "cut.avi")
    return src


def truncated(path):
    """A video that says it has 80 frames and holds about 40."""
    rng = np.random.default_rng(0)
    full = path.with_name("full-" + path.name)
    writer = cv2.VideoWriter(str(full), cv2.VideoWriter_fourcc(*"MJPG"), 12, (160, 120))
    for _ in range(80):
        writer.write(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8))
    writer.release()
    data = full.read_bytes()
    full.unlink()
    path.write_bytes(data[:len(data) // 2])
    return path


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def outputs(folder):
    """Every output file's bytes, but the manifest's (it holds absolute paths) and the pictures'."""
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.suffix == ".csv"}


def test_a_mixed_folder_in_one_command(tmp_path, mixed, model):
    out = tmp_path / "out"
    result = run_module("fer_app.analyze", mixed, "--out", out, "--model", model, "--workers", 1)
    assert result.returncode == 1, result.stderr                  # some inputs failed, and the status says so
    failures = [line for line in result.stderr.splitlines() if line.startswith("failed: ")]
    assert len(failures) == 4 and all(any(name in line for line in failures)
                                      for name in ("broken.png", "empty.mp4", "notes.txt", "cut.avi: unreadable from"))
    assert "2 of 4 video(s) and 1 of 2 image(s) analysed" in result.stdout
    names = [analyze.output_name(mixed / "interview.mp4"), analyze.output_name(mixed / "day2" / "interview.mp4")]
    assert names[0] != names[1] and all(n.startswith("interview.") for n in names)
    frames = read_csv(out / f"{names[0]}.frames.csv")
    assert list(frames[0]) == analyze.FRAME_COLUMNS
    assert {int(r["frame"]) for r in frames} == set(range(30))           # every frame, with or without a face
    with_face = [r for r in frames if r["track_id"]]
    assert {r["track_id"] for r in with_face} == {"0", "1"}                 # two people, confirmed at once by YuNet
    assert all(abs(sum(float(r[c]) for c in CLASSES) - 1) < 2e-3 and r["label"] in CLASSES for r in with_face)
    assert all(float(r["time_s"]) == pytest.approx(int(r["frame"]) / 12, abs=1e-3) for r in frames)
    tracks = read_csv(out / f"{names[0]}.tracks.csv")
    assert len(tracks) == 2 and all(int(t["frames"]) == sum(r["track_id"] == t["track_id"] for r in with_face)
                                    for t in tracks)
    summary = read_csv(out / "summary.csv")
    assert len(summary) == 3 and {r["video"] for r in summary} == {str(mixed / "interview.mp4"),
                                                                    str(mixed / "day2" / "interview.mp4")}
    images = read_csv(out / "images.csv")
    assert [r["image"] for r in images] == [str(mixed / "photo.png")] and images[0]["faces"] == "1"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["videos"][str((mixed / "empty.mp4").resolve())]["status"] == "failed"
    assert manifest["images"][str((mixed / "broken.png").resolve())]["status"] == "failed"
    timeline = cv2.imread(str(out / f"{names[0]}.timeline.png"))
    assert timeline is not None and timeline.shape[1] > 600


def test_two_workers_and_pieces_give_the_same_files(tmp_path, photo, model):
    video = compose_video(tmp_path / "long.mp4", photo, n_frames=36, faces=1)
    one = tmp_path / "one"
    two = tmp_path / "two"
    args = ["--model", model, "--chunk-seconds", 1]             # 3 pieces of 12 frames
    assert analyze.main([str(a) for a in (video, "--out", one, "--workers", 1, *args)]) == 0      # in this process
    result = run_module("fer_app.analyze", video, "--out", two, "--workers", 2, *args)
    assert result.returncode == 0, result.stderr
    assert outputs(one) == outputs(two)
    ids = {int(r["track_id"]) for r in read_csv(one / f"{analyze.output_name(video)}.frames.csv") if r["track_id"]}
    assert ids == {0, 1000, 2000}                                # each piece numbers its tracks apart


def analyze_args(video, model, workers):
    return [sys.executable, "-m", "fer_app.analyze", str(video), "--model", str(model), "--workers", str(workers),
            "--chunk-seconds", "1"]


@pytest.fixture(scope="module")
def clip_and_clean_run(tmp_path_factory, photo, model):
    """A clip of 5 pieces, and the files of its uninterrupted analysis."""
    folder = tmp_path_factory.mktemp("clip")
    video = compose_video(folder / "clip.mp4", photo, n_frames=60, faces=1)
    assert analyze.main(analyze_args(video, model, 1)[3:] + ["--out", str(folder / "clean")]) == 0   # in this process
    return video, outputs(folder / "clean")


@pytest.mark.parametrize("how,workers", [(signal.SIGKILL, 1), (signal.SIGINT, 2)], ids=["SIGKILL", "Ctrl-C"])
def test_a_run_cut_short_resumes_to_the_same_files(tmp_path, clip_and_clean_run, model, how, workers):
    video, clean = clip_and_clean_run
    args = analyze_args(video, model, workers)
    cut = tmp_path / "cut"
    proc = subprocess.Popen(args + ["--out", str(cut)], env=ENV, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:          # until some pieces, not all, are done
        try:
            pieces = json.loads((cut / "manifest.json").read_text())["videos"][str(video.resolve())]["pieces"]
        except (OSError, ValueError, KeyError):
            pieces = []
        if 2 <= len(pieces) < 5 or proc.poll() is not None:
            break
        time.sleep(0.05)
    os.kill(proc.pid, how)
    err = proc.communicate(timeout=60)[1]
    assert not (cut / f"{analyze.output_name(video)}.frames.csv").exists()        # it was cut short
    if how != signal.SIGKILL:         # told to stop: it says so in one line, and its workers are gone with it
        assert proc.returncode == 130 and err.strip() == "aborted", err
    assert analyze.main(args[3:] + ["--out", str(cut)]) == 0                      # resumed in this process
    assert outputs(cut) == clean


def test_refusals_are_one_line_and_change_nothing(tmp_path, mixed, model, photo, capsys):
    video = compose_video(tmp_path / "v.mp4", photo, n_frames=6, faces=1)
    out = tmp_path / "out"
    assert analyze.main([str(video), "--out", str(out), "--model", str(model)]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    foreign = tmp_path / "theirs"
    foreign.mkdir()
    (foreign / "results.csv").write_text("someone's")
    for args, says in (([video, "--out", out, "--model", model, "--every", 2], "holds a run with other settings"),
                       ([video, "--out", foreign], "already holds files this command did not write"),
                       ([mixed, "--out", mixed / "analysis"], "would write over SOURCE"),
                       ([tmp_path / "nothing*.mp4", "--out", tmp_path / "o"], "no such file, folder or pattern"),
                       ([video, "--out", foreign / "results.csv"], "is a file; it must name a folder")):
        code = analyze.main([str(a) for a in args])
        err = capsys.readouterr().err
        lines = [line for line in err.splitlines() if line.strip()]
        assert code == 2 and len(lines) == 1 and says in lines[0], err
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    assert (foreign / "results.csv").read_text() == "someone's" and not (mixed / "analysis").exists()
    assert analyze.main([str(video), "--out", str(out), "--model", str(model)]) == 0     # the same job: nothing to redo
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before


def test_every_and_no_smooth_and_pandas_reads_the_files(tmp_path, photo, model):
    video = compose_video(tmp_path / "v.mp4", photo, n_frames=24, faces=1)
    assert analyze.main([str(video), "--out", str(tmp_path / "o"), "--model", str(model), "--every", "5",
                         "--no-smooth"]) == 0
    path = tmp_path / "o" / f"{analyze.output_name(video)}.frames.csv"
    assert [int(r["frame"]) for r in read_csv(path)] == [0, 5, 10, 15, 20]
    pd = pytest.importorskip("pandas", reason="pandas not installed (optional: reading the outputs)")
    frames = pd.read_csv(path, dtype={"track_id": "Int64"})
    assert frames["time_s"].dtype == np.float64 and frames["faces"].dtype == np.int64
    assert frames["track_id"].dtype == "Int64" and pd.api.types.is_string_dtype(frames["label"])


def test_a_local_ray_instance_writes_the_same_files(tmp_path, photo, model):
    pytest.importorskip("ray", reason="Ray not installed (optional: pip install -e \".[cluster]\")")
    video = compose_video(tmp_path / "v.mp4", photo, n_frames=36, faces=2, size=(800, 360))
    cv2.imwrite(str(tmp_path / "photo.png"), photo)
    (tmp_path / "empty.mp4").write_bytes(b"")
    args = [video, tmp_path / "photo.png", tmp_path / "empty.mp4", truncated(tmp_path / "cut.avi"), "--model", model,
            "--chunk-seconds", 1]
    local = analyze.main([str(a) for a in (*args, "--out", tmp_path / "local", "--workers", 1)])    # in this process
    on_ray = run_module("fer_app.analyze", *args, "--out", tmp_path / "ray", "--ray", timeout=600)
    assert local == on_ray.returncode == 1, on_ray.stderr                     # the bad videos failed in both
    assert "empty.mp4" in on_ray.stderr and "cut.avi: unreadable from" in on_ray.stderr
    assert outputs(tmp_path / "local") == outputs(tmp_path / "ray")
