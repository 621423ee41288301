"""Analyse recorded videos and photos: ``python -m fer_app.analyze SOURCE... --out DIR``.

SOURCE is a video, an image, a folder (searched recursively) or a glob pattern; give as many as you like.
For each video, in DIR (``<name>`` is the file's stem and 8 hex digits of its path, so that two inputs
sharing a stem never share outputs):

  <name>.frames.csv    one row per face per analysed frame: frame, time_s, faces, track_id, x, y, w, h,
                       score, the seven probabilities, label; a frame with no face is one row with the face
                       columns empty
  <name>.tracks.csv    one row per person (track): first_s, last_s, frames, mean_<class>, share_<class> (the
                       share of its frames with that label), dominant
  <name>.timeline.png  each person's probabilities over time, stacked, time in mm:ss

and over all inputs ``summary.csv`` (a row per video and person) and ``images.csv`` (a row per face of each
still image, or one with empty face columns where none was found).  Faces are found, tracked and smoothed
as in fer_app.live, with every analysed frame through the detector; a face is logged once its track is
confirmed.  A long video is cut into pieces (``--chunk-seconds``), analysed in parallel: tracks, and their
smoothing, start again at each piece, and the track ids of piece k are k·1000 + 0, 1, …

Runs on worker processes over all the cores the process may use (``--workers``).  ``DIR/manifest.json``
records each finished input and piece; re-running the same command skips them and redoes what was cut
short.  An input that cannot be read is named, recorded there, and the others go on; the exit status is
then 1.
"""
import csv
import glob
import hashlib
import json
import signal
import sys
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path

import cv2
import numpy as np

from minicnn.parallel import default_num_threads
from minicnn.serialization import write_atomically

from . import cli
from .checks import POSITIVE_INT, DataError, Range, UserError, check_outputs, writing_alone
from .cli import write_text_atomically
from .images import IMAGE_SUFFIXES, VIDEO_SUFFIXES, read_image
from .labels import CLASSES
from .live import COLOURS, MAX_BAD_FRAMES, Progress, terminate_as_interrupt
from .track import FaceTracker

CHUNK_SECONDS = 300          # a video is analysed in pieces of this much video by default, each a task of its own
TRACK_ID_STRIDE = 1000       # piece k numbers its tracks from k·TRACK_ID_STRIDE
IMAGES_PER_TASK = 32
PROGRESS_EVERY = 25          # frames between a worker's progress reports
MANIFEST = "manifest.json"
FACE_COLUMNS = ["track_id", "x", "y", "w", "h", "score", *CLASSES, "label"]
FRAME_COLUMNS = ["frame", "time_s", "faces", *FACE_COLUMNS]
TIME, TRACK = FRAME_COLUMNS.index("time_s"), FRAME_COLUMNS.index("track_id")       # read back from frames.csv
PROBS = slice(FRAME_COLUMNS.index(CLASSES[0]), FRAME_COLUMNS.index(CLASSES[0]) + len(CLASSES))
IMAGE_COLUMNS = ["image", "faces", "face", "x", "y", "w", "h", "score", *CLASSES, "label"]


@dataclass(frozen=True)
class Settings:
    """What decides the outputs: a re-run with other settings is another run."""
    model: str = None
    detector: str = "yunet"
    detect_width: int = None
    min_face: int = None
    min_score: float = None
    scale_factor: float = None
    min_neighbors: int = None
    no_align: bool = False
    tta: str = None
    every: int = 1
    fps: float = None
    smooth: float = FaceTracker.smoothing
    chunk_seconds: float = CHUNK_SECONDS

    def step(self, video_fps):
        """Analyse every step-th frame: --every, or the step nearest to --fps."""
        return max(1, round(video_fps / self.fps)) if self.fps else self.every


# ---------------------------------------------------------------- inputs

def expand_sources(sources):
    """(videos, images, unsupported): the files the sources name, each once, in a stable order.  A source
    that names nothing is a UserError."""
    files = []
    for source in sources:
        path = Path(source)
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.is_file())
        elif path.is_file():
            files.append(path)
        else:
            matches = sorted(Path(m) for m in glob.glob(source, recursive=True))
            if not matches:
                raise UserError(f"{source}: no such file, folder or pattern")
            files += [m for m in matches if m.is_file()] + [p for m in matches if m.is_dir()
                                                            for p in sorted(m.rglob("*")) if p.is_file()]
    seen, videos, images, unsupported = set(), [], [], []
    for f in files:
        key = f.resolve()
        if key in seen:
            continue
        seen.add(key)
        suffix = f.suffix.lower()
        (videos if suffix in VIDEO_SUFFIXES else images if suffix in IMAGE_SUFFIXES else unsupported).append(f)
    return videos, images, unsupported


def output_name(path):
    """The stem of a video's outputs: its own stem and 8 hex digits of its absolute path."""
    return f"{path.stem}.{hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:8]}"


def video_pieces(path, settings):
    """[(start, stop)] frame ranges of CHUNK_SECONDS each, with the video's fps and frame count."""
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise DataError(f"{path}: cannot be opened as a video (unreadable or unsupported)")
        fps, total = cap.get(cv2.CAP_PROP_FPS) or 30.0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        cap.release()
    if total <= 0:
        raise DataError(f"{path}: holds no frames")
    size = max(1, int(round(settings.chunk_seconds * fps)))
    return [(start, min(start + size, total)) for start in range(0, total, size)], fps, total


# ---------------------------------------------------------------- the work of one task (in a worker)

_worker = {}


def start_worker(settings, threads, progress, child=False):
    """Each worker process: its share of minicnn's threads, its own recognizer, the shared progress counter.
    A child leaves Ctrl-C to the command, which stops it (no traceback from every worker)."""
    import minicnn
    if child:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    minicnn.set_num_threads(threads)
    _worker.update(settings=settings, progress=progress, recognizer=None)


def _recognizer():
    if _worker.get("recognizer") is None:
        s = _worker["settings"]
        _worker["recognizer"] = cli.recognizer(s)
    return _worker["recognizer"]


def _report(n):
    progress = _worker.get("progress")
    if progress is not None:
        with progress.get_lock():
            progress.value += n


def analyse_piece(path, piece, start, stop, fps, total):
    """Rows of frames.csv for frames [start, stop) of a video of ``total`` frames (every step-th one), tracks
    numbered from piece·TRACK_ID_STRIDE.  A few undecodable frames are skipped, as live does; a video that
    stops giving frames well before its end raises DataError."""
    settings, recognizer = _worker["settings"], _recognizer()
    step = settings.step(fps)
    tracker = FaceTracker(settings.smooth)
    cap = cv2.VideoCapture(str(path))
    rows, unreported, bad_run = [], 0, 0
    try:
        cap.set(cv2.CAP_PROP_POS_FRAMES, start)
        for index in range(start, stop):
            if index % step:                                    # the frames analysed are multiples of step
                ok, frame = cap.grab(), None
            else:
                ok, frame = cap.read()
            if not ok:
                bad_run += 1
                if index >= 0.95 * total:          # a frame count stated a little high: the video has ended
                    break
                if bad_run >= MAX_BAD_FRAMES or index == stop - 1:     # not a glitch: the rest is gone
                    raise DataError(f"{path}: unreadable from frame {index - bad_run + 1} of {total} on (damaged "
                                    "or truncated?)")
                continue
            bad_run = 0
            unreported += 1
            if unreported >= PROGRESS_EVERY:
                _report(unreported)
                unreported = 0
            if frame is None:
                continue
            faces = recognizer.find_faces(frame)
            probs = recognizer.classify_faces(frame, faces, classes=CLASSES)
            tracks = [t for t in tracker.update(faces, probs) if t.confirmed]
            t_s = round(index / fps, 3)
            if not tracks:
                rows.append([index, t_s, 0] + [""] * len(FACE_COLUMNS))
            for track in tracks:
                rows.append([index, t_s, len(tracks), piece * TRACK_ID_STRIDE + track.id,
                             *face_columns(track.face, track.probs)])
    finally:
        cap.release()
        _report(unreported)
    return rows


def analyse_images(paths):
    """Rows of images.csv for these images, and [(path, reason)] for those that could not be read."""
    recognizer = _recognizer()
    rows, failed = [], []
    for path in paths:
        try:
            image = read_image(path)
        except DataError as e:
            failed.append((str(path), str(e)))
            continue
        finally:
            _report(1)
        faces = recognizer.find_faces(image)
        probs = recognizer.classify_faces(image, faces, classes=CLASSES)
        if not faces:
            rows.append([str(path), 0] + [""] * (len(IMAGE_COLUMNS) - 2))
        for i, (face, p) in enumerate(zip(faces, probs)):
            rows.append([str(path), len(faces), i, *face_columns(face, p)])
    return rows, failed


def face_columns(face, probs):
    """x, y, w, h, score, the probabilities (in CLASSES' order) and the label of one face, as the CSVs hold them."""
    return [*(int(v) for v in face.box), "" if face.score is None else round(float(face.score), 3),
            *(round(float(v), 4) for v in probs), CLASSES[int(np.argmax(probs))]]


# ---------------------------------------------------------------- what the driver writes

def write_csv(path, header, rows):
    def write(tmp):
        with open(tmp, "w", newline="") as f:
            out = csv.writer(f)
            out.writerow(header)
            out.writerows(rows)
    write_atomically(path, write)


def read_rows(path):
    with open(path, newline="") as f:
        reader = csv.reader(f)
        next(reader)
        yield from reader


def track_rows(frame_rows):
    """tracks.csv's rows from frames.csv's: per track, first and last time, frames seen, mean probabilities,
    the share of its frames under each label, and the label with the highest mean."""
    stats = {}
    for row in frame_rows:
        if row[TRACK] == "":
            continue
        track, t = int(row[TRACK]), float(row[TIME])
        p = np.array([float(v) for v in row[PROBS]])
        s = stats.setdefault(track, {"first": t, "last": t, "n": 0, "sum": np.zeros(len(CLASSES)),
                                     "labels": np.zeros(len(CLASSES), int)})
        s["last"], s["n"], s["sum"] = t, s["n"] + 1, s["sum"] + p
        s["labels"][CLASSES.index(row[-1])] += 1
    rows = []
    for track in sorted(stats):
        s = stats[track]
        mean = s["sum"] / s["n"]
        rows.append([track, s["first"], s["last"], s["n"], *np.round(mean, 4), *np.round(s["labels"] / s["n"], 4),
                     CLASSES[int(np.argmax(mean))]])
    return rows


TRACK_COLUMNS = ["track_id", "first_s", "last_s", "frames", *(f"mean_{c}" for c in CLASSES),
                 *(f"share_{c}" for c in CLASSES), "dominant"]


def mm_ss(seconds, _=None):
    return f"{int(seconds) // 60}:{int(seconds) % 60:02d}"


def draw_timeline(path, frames_csv, tracks, title, max_people=6, max_points=2000):
    """Each person's probabilities over time as stacked areas: the max_people seen longest, in the order they
    first appear."""
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    shown = sorted(sorted(tracks, key=lambda r: -r[3])[:max_people], key=lambda r: (r[1], r[0]))
    series = {int(r[0]): ([], []) for r in shown}
    for row in read_rows(frames_csv):
        if row[TRACK] != "" and int(row[TRACK]) in series:
            times, probs = series[int(row[TRACK])]
            times.append(float(row[TIME]))
            probs.append([float(v) for v in row[PROBS]])
    colours = [tuple(c / 255 for c in COLOURS[name][::-1]) for name in CLASSES]
    fig, axes = plt.subplots(max(1, len(shown)), 1, figsize=(11, 1.9 * max(1, len(shown)) + 0.9), squeeze=False,
                             sharex=True)
    for ax, row in zip(axes[:, 0], shown):
        times, probs = (np.asarray(v, float) for v in series[int(row[0])])
        if len(times) > max_points:        # averaged into max_points bins: the picture, not every frame
            bins = np.array_split(np.arange(len(times)), max_points)
            times = np.array([times[b].mean() for b in bins])
            probs = np.array([probs[b].mean(axis=0) for b in bins])
        ax.stackplot(times, probs.T, colors=colours, labels=CLASSES, linewidth=0)
        ax.set_ylim(0, 1)
        ax.set_ylabel(f"person {row[0]}\n{row[-1]}", rotation=0, ha="right", va="center", fontsize=9)
        ax.set_yticks([0, 0.5, 1])
    if not shown:
        axes[0, 0].text(0.5, 0.5, "no face found", ha="center", va="center", transform=axes[0, 0].transAxes)
        axes[0, 0].set_yticks([])
    axes[-1, 0].xaxis.set_major_locator(MaxNLocator(nbins=8, steps=[1, 2, 3, 6, 10], integer=True))   # whole seconds
    axes[-1, 0].xaxis.set_major_formatter(FuncFormatter(mm_ss))
    axes[-1, 0].set_xlim(left=0)
    axes[-1, 0].set_xlabel("time in the video (mm:ss)")
    axes[0, 0].set_title(title, fontsize=10, loc="left")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="upper right", ncol=len(CLASSES), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    write_atomically(path, lambda tmp: fig.savefig(tmp, dpi=90))
    plt.close(fig)


# ---------------------------------------------------------------- the run

class Manifest:
    """DIR/manifest.json: the settings, and what is done — rewritten atomically after every change."""

    def __init__(self, out, settings, overwrite):
        self.path = Path(out) / MANIFEST
        self.data = {"settings": asdict(settings), "videos": {}, "images": {}}
        if self.path.exists():
            try:
                old = json.loads(self.path.read_text())
            except ValueError:
                raise UserError(f"{self.path}: is not a manifest this command wrote; choose another --out") from None
            if old.get("settings") == self.data["settings"]:
                self.data = old                                  # the same job: go on where it stopped
            elif not overwrite:
                raise UserError(f"--out {out}: holds a run with other settings ({self.path}); choose another --out "
                                "or pass --overwrite to start it again")

    def video(self, path):
        return self.data["videos"].setdefault(str(Path(path).resolve()), {"status": "todo", "pieces": []})

    def save(self):
        write_text_atomically(self.path, json.dumps(self.data, indent=1))


def run(args):
    settings = Settings(model=args.model, detector=args.detector, detect_width=args.detect_width,
                        min_face=args.min_face, min_score=args.min_score, scale_factor=args.scale_factor,
                        min_neighbors=args.min_neighbors, no_align=args.no_align, tta=args.tta, every=args.every,
                        fps=args.fps, smooth=0.0 if args.no_smooth else FaceTracker.smoothing,
                        chunk_seconds=args.chunk_seconds)
    videos, images, unsupported = expand_sources(args.sources)
    out = Path(args.out)
    # (an --out that exists is this job's to resume, or refused below: check_outputs only guards the inputs)
    check_outputs([("--out", args.out)], [("SOURCE", s) for s in args.sources if Path(s).exists()]
                  + [("--model", args.model)], overwrite=True)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {args.out}: is a file; it must name a folder")
    foreign = [p for p in out.iterdir()] if out.is_dir() and not (out / MANIFEST).exists() else []
    if foreign and not args.overwrite:
        raise UserError(f"--out {args.out}: already holds files this command did not write ({foreign[0].name}); "
                        "choose another --out or pass --overwrite")
    cli.recognizer(settings)               # the model and detector are checked here, before any work starts
    out.mkdir(parents=True, exist_ok=True)
    with writing_alone(out / MANIFEST, "--out"), terminate_as_interrupt():
        return analyse_all(out, settings, videos, images, unsupported, args)


def analyse_all(out, settings, videos, images, unsupported, args):
    manifest = Manifest(out, settings, args.overwrite)
    failed = [(str(p), "not a video or an image (by its name)") for p in unsupported]
    tasks = []
    for path in videos:
        entry = manifest.video(path)
        if entry["status"] == "done" and all((out / f"{output_name(path)}.{k}").exists()
                                             for k in ("frames.csv", "tracks.csv", "timeline.png")):
            continue
        try:
            pieces, fps, frames = video_pieces(path, settings)
        except DataError as e:
            failed.append((str(path), str(e)))
            entry.update(status="failed", error=str(e))
            continue
        kept = [k for k in entry["pieces"] if (out / ".parts" / f"{output_name(path)}.{k}.csv").exists()]
        entry.update(status="todo", fps=fps, frames=frames, pieces=kept)
        tasks += [("video", path, k, start, stop, fps, frames) for k, (start, stop) in enumerate(pieces)
                  if k not in entry["pieces"]]
        entry["count"] = len(pieces)
    image_done = manifest.data["images"]
    todo_images = [p for p in images if image_done.get(str(p.resolve()), {}).get("status") != "done"]
    tasks += [("images", todo_images[i:i + IMAGES_PER_TASK]) for i in range(0, len(todo_images), IMAGES_PER_TASK)]
    total = sum(map(task_frames, tasks))
    manifest.save()
    (out / ".parts").mkdir(exist_ok=True)

    def finished(task, result):
        if task[0] == "images":
            rows, bad = result
            for path in task[1]:
                key = str(Path(path).resolve())
                reason = next((why for p, why in bad if p == str(path)), None)
                image_done[key] = {"status": "failed", "error": reason} if reason else {"status": "done"}
            by_image = {}
            for row in rows:
                by_image.setdefault(row[0], []).append(row)
            for path, image_rows in by_image.items():
                write_csv(out / ".parts" / f"image.{output_name(Path(path))}.csv", IMAGE_COLUMNS, image_rows)
        else:
            _, path, k, *_ = task
            entry = manifest.video(path)
            write_csv(out / ".parts" / f"{output_name(path)}.{k}.csv", FRAME_COLUMNS, result)
            entry["pieces"] = sorted(set(entry["pieces"]) | {k})
            if len(entry["pieces"]) == entry["count"]:
                finish_video(out, path, entry)
        manifest.save()

    def failed_task(task, error):
        if task[0] == "images":          # (read errors are per image; anything else is a bug)
            raise error
        _, path, *_ = task
        entry = manifest.video(path)
        if entry["status"] != "failed":
            failed.append((str(path), str(error)))
            entry.update(status="failed", error=str(error))
        manifest.save()

    run_tasks(tasks, total, settings, args.workers, finished, failed_task, args.ray)
    write_summaries(out, manifest, videos, images)
    failed += [(p, e["error"]) for p, e in image_done.items() if e["status"] == "failed"
               and p in {str(q.resolve()) for q in images}]
    done_videos = sum(manifest.video(p)["status"] == "done" for p in videos)
    done_images = sum(image_done.get(str(p.resolve()), {}).get("status") == "done" for p in images)
    print(f"{args.out}: {done_videos} of {len(videos)} video(s) and {done_images} of {len(images)} image(s) analysed; "
          "summary.csv, images.csv and manifest.json written")
    for path, why in failed:
        print(f"failed: {why}" if path in why else f"failed: {path}: {why}", file=sys.stderr)
    return 1 if failed else 0


def finish_video(out, path, entry):
    """A video whose pieces are all done: its frames.csv (the pieces in order), tracks.csv and timeline.png."""
    name = output_name(path)
    parts = [out / ".parts" / f"{name}.{k}.csv" for k in range(entry["count"])]
    frames_csv = out / f"{name}.frames.csv"

    def concatenate(tmp):
        with open(tmp, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(FRAME_COLUMNS)
            for part in parts:
                writer.writerows(read_rows(part))
    write_atomically(frames_csv, concatenate)
    tracks = track_rows(read_rows(frames_csv))
    write_csv(out / f"{name}.tracks.csv", TRACK_COLUMNS, tracks)
    draw_timeline(out / f"{name}.timeline.png", frames_csv, tracks, f"{path.name}: each person's expression over time")
    entry["status"] = "done"
    for part in parts:
        part.unlink(missing_ok=True)


def write_summaries(out, manifest, videos, images):
    """summary.csv from every finished video's tracks.csv, images.csv from every image's part."""
    rows = []
    for path in videos:
        if manifest.video(path)["status"] == "done":
            rows += [[str(path), *row] for row in read_rows(out / f"{output_name(path)}.tracks.csv")]
    write_csv(out / "summary.csv", ["video", *TRACK_COLUMNS], rows)
    rows = []
    for path in images:
        part = out / ".parts" / f"image.{output_name(path)}.csv"
        if part.exists():
            rows += list(read_rows(part))
    write_csv(out / "images.csv", IMAGE_COLUMNS, rows)


def run_tasks(tasks, total, settings, workers, finished, failed_task, ray_address=None):
    """Every task on ``workers`` processes (in this one for 1), or on a Ray cluster, with one progress display
    over all frames."""
    if not tasks:
        return
    if ray_address:
        return run_on_ray(tasks, total, settings, ray_address, finished, failed_task)
    ctx = get_context("spawn")            # fresh workers: no thread pool or lock copied from this process
    progress = ctx.Value("q", 0)
    threads = max(1, default_num_threads() // workers)
    show = Progress(total, "analyze")
    if workers == 1:
        start_worker(settings, threads, progress)
        try:
            for task in tasks:
                try:
                    result = call(task)
                except DataError as e:
                    failed_task(task, e)
                else:
                    finished(task, result)
                show(progress.value)
        finally:
            _worker.clear()
            show.close()
        return
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=start_worker,
                             initargs=(settings, threads, progress, True)) as pool:
        pending = {pool.submit(call, task): task for task in tasks}
        try:
            while pending:
                done, _ = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                for future in done:
                    task = pending.pop(future)
                    error = future.exception()
                    if isinstance(error, DataError):
                        failed_task(task, error)
                    elif error is not None:
                        raise error
                    else:
                        finished(task, future.result())
                show(progress.value)
        except BaseException:
            for future in pending:
                future.cancel()
            for process in list(pool._processes.values()):    # (no public way) a piece in flight is redone later
                process.terminate()
            raise
        finally:
            show.close()


def run_on_ray(tasks, total, settings, address, finished, failed_task):
    """The same tasks as Ray tasks, one core each; their rows come back through Ray's object store and every
    file is written here, by the driver, so the outputs equal a local run's.  Every machine must see the
    videos, images and model at the same paths (a shared folder)."""
    try:
        import ray
    except ImportError:
        raise UserError("--ray needs Ray: pip install -e \".[cluster]\"") from None
    ray.init(address=None if address == "local" else address, include_dashboard=False, log_to_driver=False,
             logging_level="ERROR")
    remote = ray.remote(num_cpus=1)(ray_task)
    show, done = Progress(total, "analyze"), 0
    try:
        pending = {remote.remote(settings, task): task for task in tasks}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
            for ref in ready:
                task = pending.pop(ref)
                kind, result = ray.get(ref)
                if kind == "failed":
                    failed_task(task, DataError(result))
                else:
                    finished(task, result)
                done += task_frames(task)
            show(done)
    finally:
        show.close()
        ray.shutdown()


def ray_task(settings, task):
    """One task in a Ray worker process (which Ray reuses: the recognizer is built once per process)."""
    if _worker.get("settings") != settings:
        start_worker(settings, 1, None)
    try:
        return "done", call(task)
    except DataError as e:                   # an input's fault: told back as a value, like a local worker's
        return "failed", str(e)


def task_frames(task):
    """The frames (images count one each) a task goes through: what progress counts."""
    return len(task[1]) if task[0] == "images" else task[4] - task[3]


def call(task):
    if task[0] == "images":
        return analyse_images(task[1])
    _, path, k, start, stop, fps, total = task
    return analyse_piece(path, k, start, stop, fps, total)


def build_parser():
    p = cli.parser("analyze", __doc__.split("\n\n")[0])
    p.add_argument("sources", nargs="+", metavar="SOURCE", help="videos, images, folders (recursive) or glob patterns")
    p.add_argument("--out", required=True, help="the folder for the outputs (made if need be)")
    cli.add_model_option(p)
    p.add_argument("--workers", type=POSITIVE_INT, default=default_num_threads(),
                   help="worker processes, each with its share of the cores")
    step = p.add_mutually_exclusive_group()
    step.add_argument("--every", type=POSITIVE_INT, default=1, help="analyse every Nth frame of a video")
    step.add_argument("--fps", type=Range(0, 1000, low_open=True),
                      help="analyse about this many frames per second of video (default: every frame, or --every)")
    p.add_argument("--chunk-seconds", type=Range(1, 86400), default=CHUNK_SECONDS,
                   help="cut videos into pieces of this many seconds, analysed in parallel (tracks restart at each)")
    p.add_argument("--no-smooth", action="store_true", help="log each frame's own probabilities (default: smoothed "
                                                            "per face as in live)")
    p.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                   help="run on a Ray cluster: the address of its head (ray://HOST:10001), or no address for a Ray "
                        "instance on this machine; every machine must see the inputs and the model at the same "
                        "paths (default: local worker processes, no Ray)")
    p.add_argument("--overwrite", action="store_true", help="start again in an --out that holds another run's or "
                                                            "other files (default: refuse)")
    cli.add_detector_options(p)
    cli.add_tta_option(p)
    return p


def main(argv=None):
    return cli.face_command_main(build_parser, run, argv)


if __name__ == "__main__":
    sys.exit(main())
