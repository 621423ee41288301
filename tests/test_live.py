"""Live recognition end to end on a composed video, the Python API, tracking and the error paths."""
import json

import cv2
import numpy as np
import pytest

from fer_app import live
from fer_app.classifier import ExpressionClassifier, tta_views
from fer_app.recognizer import EmotionRecognizer
from fer_app.track import FaceTracker, iou

from .helpers import CLASSES, constant_model, start_module, untrained_model


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    return untrained_model(tmp_path_factory.mktemp("model") / "tiny.npz")


@pytest.fixture(scope="module")
def face_photo():
    skimage_data = pytest.importorskip("skimage.data", reason="scikit-image not installed (optional: real photos)")
    return cv2.cvtColor(skimage_data.astronaut(), cv2.COLOR_RGB2BGR)


def compose_video(path, face_photo, n_frames=24, faces=1, size=(640, 360)):
    """The astronaut's head moving across a changing background, written with OpenCV."""
    head = face_photo[30:230, 120:330]                     # 200×210 crop around the face
    W, H = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 12, (W, H))
    rng = np.random.default_rng(0)
    for t in range(n_frames):
        frame = np.full((H, W, 3), 40 + 3 * t, np.uint8)
        frame += rng.integers(0, 20, frame.shape, dtype=np.uint8)
        for k in range(faces):
            x, y = 20 + 4 * t + 300 * k, 60 + 2 * k
            frame[y:y + head.shape[0], x:x + head.shape[1]] = head
        writer.write(frame)
    writer.release()
    return path


def test_recognizer_api(model_path, face_photo):
    rec = EmotionRecognizer(model_path)
    faces = rec.detect_emotions(face_photo)
    assert len(faces) == 1
    x, y, w, h = faces[0]["box"]
    assert 150 < x + w / 2 < 300 and 60 < y + h / 2 < 180           # the astronaut's face
    assert list(faces[0]["emotions"]) == CLASSES and abs(sum(faces[0]["emotions"].values()) - 1) < 1e-3
    assert 0.6 <= faces[0]["score"] <= 1                         # YuNet's confidence, above --min-score
    assert EmotionRecognizer(model_path, detector="haar").detect_emotions(face_photo)[0]["score"] is None
    label, score = rec.top_emotion(face_photo)
    assert label in CLASSES and score == max(faces[0]["emotions"].values())
    assert rec.detect_emotions(np.zeros((200, 200, 3), np.uint8)) == []
    assert rec.top_emotion(np.zeros((200, 200), np.uint8)) == (None, None)
    with pytest.raises(ValueError, match="uint8"):
        rec.detect_emotions(np.zeros((10, 10), np.float32))


def test_live_video_end_to_end(tmp_path, model_path, face_photo, capsys):
    video = compose_video(tmp_path / "in.mp4", face_photo, faces=2)
    out, log = tmp_path / "annotated.mp4", tmp_path / "frames.jsonl"
    code = live.main(["--source", str(video), "--model", str(model_path), "--no-display",
                      "--output", str(out), "--jsonl", str(log)])
    assert code == 0
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["frame"] for r in lines] == list(range(24))
    for record in lines:
        assert set(record) >= {"frame", "time", "faces"}
        for face in record["faces"]:
            assert set(face) >= {"box", "score", "emotions", "label", "track_id"} and face["label"] in CLASSES
            assert 0.6 <= face["score"] <= 1
    with_two = [r for r in lines if len(r["faces"]) == 2]
    assert len(with_two) >= 20
    ids = {tuple(sorted(f["track_id"] for f in r["faces"])) for r in with_two}
    assert ids == {(0, 1)}, "each face keeps its own track across frames"
    assert f"written: annotated video: {out}; JSONL: {log}" in capsys.readouterr().out
    cap = cv2.VideoCapture(str(out))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 24 and int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)) == 640
    assert cap.get(cv2.CAP_PROP_FPS) == 12                       # recorded at the source's frame rate


def test_frame_ranges_name_runs_of_frames():
    assert live.frame_ranges([3, 4, 5, 9, 11, 12]) == "3-5, 9, 11-12"
    assert live.frame_ranges([0]) == "0" and live.frame_ranges([]) == ""


def test_undecodable_frames_are_one_warning_with_their_ranges(tmp_path, model_path, face_photo, monkeypatch, capsys):
    video = compose_video(tmp_path / "in.mp4", face_photo, n_frames=12)
    capture_frames = live._capture_frames

    def damaged(*args):
        for index, t, frame, name in capture_frames(*args):
            yield index, t, None if index in (3, 4, 5, 9) else frame, name
    monkeypatch.setattr(live, "_capture_frames", damaged)
    assert live.main(["--source", str(video), "--model", str(model_path), "--no-display"]) == 0
    printed = capsys.readouterr()
    assert printed.err.strip() == f"warning: 4 frame(s) of {video} could not be decoded and were skipped: frames 3-5, 9"
    assert "8 frame(s) in" in printed.out and "4 undecodable frame(s) skipped" in printed.out


def test_a_video_without_a_terminal_prints_progress_lines(tmp_path, model_path, face_photo, monkeypatch, capsys):
    video = compose_video(tmp_path / "in.mp4", face_photo, n_frames=6)
    monkeypatch.setattr(live, "PROGRESS_LINE_SECONDS", -1)            # a line after every frame
    assert live.main(["--source", str(video), "--model", str(model_path), "--no-display"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith(f"{video}: frame")]
    assert [line.split(",")[0] for line in lines] == [f"{video}: frame {k}/6" for k in range(1, 7)]
    assert lines[-1].endswith("about 0 s left") and "FPS" in lines[0]


def decoded_frames(path):
    cap = cv2.VideoCapture(str(path))
    frames = []
    while (frame := cap.read()[1]) is not None:
        frames.append(frame)
    return frames


def test_live_jsonl_does_not_change_when_faces_are_detected(tmp_path, model_path, face_photo, monkeypatch):
    """Logging is a side effect: with detection every 3rd frame and confirmation by hits only, the detector
    runs on the same frames with --jsonl as without, and the annotated frames are the same (the log once
    replaced the faces that decide when to detect, so an unconfirmed face made every frame a detection frame).
    The recordings are MJPG, each frame its own JPEG, so the FPS counter's corner is all that may differ."""
    video = compose_video(tmp_path / "in.mp4", face_photo)
    common = ["--source", str(video), "--model", str(model_path), "--no-display", "--detect-every", "3",
              "--confirm-score", "1"]
    calls = []
    find_faces = EmotionRecognizer.find_faces
    monkeypatch.setattr(EmotionRecognizer, "find_faces", lambda self, image: calls.append(1) or find_faces(self, image))
    assert live.main(common + ["--output", str(tmp_path / "plain.avi")]) == 0
    plain, calls[:] = len(calls), []
    assert live.main(common + ["--output", str(tmp_path / "logged.avi"), "--jsonl", str(tmp_path / "f.jsonl")]) == 0
    assert plain == len(calls) == 8                  # frames 0, 3, …, 21
    shown = [decoded_frames(tmp_path / name) for name in ("plain.avi", "logged.avi")]
    assert len(shown[0]) == len(shown[1]) == 24
    for a, b in zip(*shown):
        a[:32, :136] = b[:32, :136] = 0              # the FPS counter
        assert np.array_equal(a, b)
    records = [json.loads(line) for line in (tmp_path / "f.jsonl").read_text().splitlines()]
    assert next(r["frame"] for r in records if r["faces"]) == 6     # confirmed by its 3rd detection pass


def test_live_images_folder_skips_a_corrupt_image(tmp_path, model_path, face_photo, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.jpg"), face_photo)
    (folder / "b.png").write_bytes(b"not an image")
    cv2.imwrite(str(folder / "c.png"), np.zeros((100, 100, 3), np.uint8))
    code = live.main(["--source", str(folder), "--model", str(model_path), "--no-display",
                      "--output", str(tmp_path / "out"), "--jsonl", str(tmp_path / "f.jsonl")])
    assert code == 0
    printed = capsys.readouterr()
    assert "b.png: not a readable image" in printed.err and printed.err.count("b.png") == 1
    assert "no face found in 1 image(s): c.png" in printed.out
    lines = [json.loads(line) for line in (tmp_path / "f.jsonl").read_text().splitlines()]
    assert [len(r["faces"]) for r in lines] == [1, 0]           # frames without faces are logged too
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "c.png"]
    annotated = cv2.imread(str(tmp_path / "out" / "a.png"))
    assert annotated.shape == face_photo.shape                  # 512 px: drawn at its own size
    blank = cv2.imread(str(tmp_path / "out" / "c.png"))
    assert blank.shape == (400, 400, 3)                         # 100 px, enlarged 4× to reach 360
    assert tuple(blank[4, 4]) == (40, 40, 220) and blank[200:, :].max() == 0       # the "no face found" band


def test_a_folder_of_only_unreadable_images_is_a_failure(tmp_path, model_path, capsys):
    folder = tmp_path / "broken"
    folder.mkdir()
    for name in ("a.png", "b.jpg"):
        (folder / name).write_bytes(b"not an image")
    assert live.main(["--source", str(folder), "--model", str(model_path), "--no-display"]) == 2
    assert f"error: {folder}: none of its 2 image(s) could be read" in capsys.readouterr().err


def test_a_truncated_video_is_processed_up_to_the_damage_and_fails_saying_where(tmp_path, model_path, capsys):
    rng = np.random.default_rng(0)
    writer = cv2.VideoWriter(str(tmp_path / "full.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 12, (160, 120))
    for _ in range(80):
        writer.write(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8))
    writer.release()
    data = (tmp_path / "full.avi").read_bytes()
    (tmp_path / "cut.avi").write_bytes(data[:len(data) // 2])            # the file says 80 frames, holds about 40
    log = tmp_path / "f.jsonl"
    assert live.main(["--source", str(tmp_path / "cut.avi"), "--model", str(model_path), "--no-display",
                      "--jsonl", str(log)]) == 2
    err = capsys.readouterr().err
    assert "cut.avi: unreadable from frame" in err and "of 80 on (damaged?); frames before it are kept" in err
    kept = [json.loads(line)["frame"] for line in log.read_text().splitlines()]   # complete lines only
    assert 30 < len(kept) < 50 and kept == list(range(len(kept)))


def test_a_camera_that_stops_giving_frames_ends_the_run_with_one_line(tmp_path, model_path, monkeypatch, capsys):
    class Camera:                     # three frames, then unplugged
        def __init__(self, index):
            self.frames = 3
        def isOpened(self):
            return True
        def get(self, prop):
            return 30.0 if prop == cv2.CAP_PROP_FPS else 0
        def read(self):
            self.frames -= 1
            return (True, np.zeros((120, 160, 3), np.uint8)) if self.frames >= 0 else (False, None)
        def release(self):
            pass
    monkeypatch.setattr(live.cv2, "VideoCapture", Camera)
    log = tmp_path / "f.jsonl"
    assert live.main(["--source", "0", "--model", str(model_path), "--no-display", "--jsonl", str(log)]) == 2
    assert "camera 0 stopped giving frames after frame 2; what came before is kept" in capsys.readouterr().err
    assert [json.loads(line)["frame"] for line in log.read_text().splitlines()] == [0, 1, 2]


def test_a_second_live_writing_the_same_output_stops_at_once(tmp_path, model_path, face_photo, capsys):
    import os
    from fer_app.checks import writing_alone
    video = compose_video(tmp_path / "in.mp4", face_photo, n_frames=4)
    out = tmp_path / "annotated.avi"
    with writing_alone(out, "--output"):                       # as a first live run holds it
        assert live.main(["--source", str(video), "--model", str(model_path), "--no-display",
                          "--output", str(out)]) == 2
    assert f"--output {out}: another run (process {os.getpid()}) is writing there" in capsys.readouterr().err
    assert not out.exists()
    assert live.main(["--source", str(video), "--model", str(model_path), "--no-display", "--output", str(out)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["annotated.avi", "in.mp4"]     # no lock left


@pytest.mark.parametrize("stop", ["SIGTERM", "SIGINT"])
def test_a_stop_between_a_frames_jsonl_line_and_its_recording_waits_for_both(tmp_path, model_path, face_photo,
                                                                           monkeypatch, stop):
    """The signal arrives just as frame 3's line has been written and before its frame is recorded (the moment
    a flaky run once hit): the run stops after recording it, so the JSONL and the recording hold as many frames."""
    import os
    import signal
    video = compose_video(tmp_path / "in.mp4", face_photo, n_frames=8)
    out, log = tmp_path / "out.avi", tmp_path / "f.jsonl"
    record = live.Recorder.write

    def stopped_before_the_third(self, frame, name):
        if log.read_text().count("\n") == 3:
            os.kill(os.getpid(), getattr(signal, stop))
        record(self, frame, name)
    monkeypatch.setattr(live.Recorder, "write", stopped_before_the_third)
    assert live.main(["--source", str(video), "--model", str(model_path), "--no-display", "--output", str(out),
                      "--jsonl", str(log)]) == 130
    assert log.read_text().count("\n") == 3 == len(decoded_frames(out))


@pytest.mark.parametrize("stop", ["SIGTERM", "SIGINT", "SIGKILL"])
def test_a_stopped_live_run_leaves_a_playable_recording_and_whole_jsonl_lines(tmp_path, model_path, face_photo, stop):
    import signal
    import time
    clip = decoded_frames(compose_video(tmp_path / "clip.mp4", face_photo))
    video = tmp_path / "long.avi"                                # the 24-frame clip 17 times: long enough to stop
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 12, clip[0].shape[1::-1])
    for frame in clip * 17:
        writer.write(frame)
    writer.release()
    out, log = tmp_path / "out.mp4", tmp_path / "f.jsonl"
    proc = start_module("fer_app.live", "--source", video, "--model", model_path, "--no-display", "--output", out,
                        "--jsonl", log)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not log.exists() or log.read_text().count("\n") < 30):
        time.sleep(0.05)
    proc.send_signal(getattr(signal, stop))
    output, _ = proc.communicate(timeout=60)
    records = [json.loads(line) for line in log.read_text().splitlines()]     # every line whole
    assert 30 <= len(records) < 408
    recorded = decoded_frames(out)                              # the recording plays
    if stop == "SIGKILL":       # what was made until the last whole fragment: at most a second (12 frames) lost
        assert proc.returncode == -signal.SIGKILL
        assert len(records) - 13 <= len(recorded) <= len(records)
        assert np.abs(recorded[5].astype(int) - clip[5]).mean() < 20          # the annotated frame, not noise
    else:                       # stopped, not finished, and the file closed properly
        assert proc.returncode == 130, output
        assert len(recorded) == len(records)


def test_a_full_disk_while_recording_ends_with_one_line_and_keeps_what_was_recorded(tmp_path, model_path, face_photo,
                                                                                   monkeypatch, capsys):
    import errno
    from fer_app.recording import VideoRecording
    video = compose_video(tmp_path / "in.mp4", face_photo, n_frames=48)
    out, log = tmp_path / "out.mp4", tmp_path / "f.jsonl"
    write = VideoRecording.write

    def fill_the_disk(self, frame):
        if self.frames == 30:
            raise OSError(errno.ENOSPC, "No space left on device", str(out))
        write(self, frame)
    monkeypatch.setattr(VideoRecording, "write", fill_the_disk)
    assert live.main(["--source", str(video), "--model", str(model_path), "--no-display", "--output", str(out),
                      "--jsonl", str(log)]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == f"error: {out}: No space left on device"
    assert len(log.read_text().splitlines()) == 31                # the frame being recorded is logged
    assert 30 - 12 <= len(decoded_frames(out)) <= 30             # the recording plays, to its last fragment


def test_a_small_photo_is_annotated_on_an_enlarged_copy(tmp_path, model_path, face_photo):
    folder = tmp_path / "small"
    folder.mkdir()
    head = cv2.resize(face_photo[30:230, 120:330], (48, 48), interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(folder / "face.png"), cv2.cvtColor(head, cv2.COLOR_BGR2GRAY))     # a FER-2013-sized photo
    assert live.main(["--source", str(folder), "--model", str(model_path), "--no-display",
                      "--output", str(tmp_path / "out"), "--jsonl", str(tmp_path / "f.jsonl")]) == 0
    (record,) = [json.loads(line) for line in (tmp_path / "f.jsonl").read_text().splitlines()]
    (face,) = record["faces"]
    x, y, w, h = face["box"]                                    # logged in the photo's own pixels
    assert x + w <= 48 and y + h <= 48 and w > 20               # found on the copy, logged in the photo's pixels
    annotated = cv2.imread(str(tmp_path / "out" / "face.png"))
    assert annotated.shape == (384, 384, 3)                     # enlarged 8×, in colour to draw on
    assert tuple(annotated[8 * y - 4, 8 * x + 4]) == live.COLOURS[face["label"]]   # the label band above the box


def test_tracks_smooth_independently():
    happy, sad = np.eye(7)[3], np.eye(7)[4]
    tracker = FaceTracker(smoothing=0.8)
    left, right = (10, 10, 50, 50), (200, 10, 50, 50)
    for t in range(10):
        boxes = [left, right] if t % 2 else [right, left]       # the order of detections changes
        probs = [happy, sad] if t % 2 else [sad, happy]
        tracks = tracker.update([(x + t, y, w, h) for x, y, w, h in boxes], probs)
    by_x = sorted(tracks, key=lambda tr: tr.box[0])
    assert np.allclose(by_x[0].probs, happy) and np.allclose(by_x[1].probs, sad)
    assert {tr.id for tr in tracks} == {0, 1}


def test_smoothing_follows_a_change_of_expression():
    tracker = FaceTracker(smoothing=0.5)
    box = (0, 0, 40, 40)
    tracker.update([box], [np.eye(7)[0]])
    (track,) = tracker.update([box], [np.eye(7)[6]])
    assert np.allclose(track.probs, 0.5 * np.eye(7)[0] + 0.5 * np.eye(7)[6])
    assert iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(50 / 150)


@pytest.mark.parametrize("source,message", [("missing.mp4", "no such file"), ("7", "camera 7 is not available")])
def test_live_bad_sources(tmp_path, model_path, capsys, source, message):
    assert live.main(["--source", source, "--model", str(model_path), "--no-display"]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_live_unreadable_video_and_foreign_model(tmp_path, model_path, capsys):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00" * 1000)
    assert live.main(["--source", str(junk), "--model", str(model_path), "--no-display"]) == 2
    assert "junk.mp4" in capsys.readouterr().err
    image = tmp_path / "x.png"
    cv2.imwrite(str(image), np.zeros((50, 50, 3), np.uint8))
    not_model = tmp_path / "model.npz"
    not_model.write_text("hello")
    assert live.main(["--source", str(image), "--model", str(not_model), "--no-display"]) == 2
    assert "not a readable .npz" in capsys.readouterr().err


def laid_out(boxes, frame_shape=(720, 1280, 3), style="auto"):
    """The layout of the widest labels ("#k surprise 100%") for these boxes."""
    compact = live.is_compact(style, len(boxes))
    sizes = [live.label_size(live.label_text("surprise", 1.0, k), compact) for k in range(len(boxes))]
    return live.layout_overlays(boxes, sizes, frame_shape, 7, compact)


def assert_clear(boxes, labels, panels, frame_shape):
    """No label or panel covers another face or another label or panel, and all lie inside the frame."""
    H, W = frame_shape[:2]
    drawn = [(i, r) for i, r in enumerate(labels)] + [(i, r) for i, r in enumerate(panels) if r]
    for k, (i, rect) in enumerate(drawn):
        x, y, w, h = rect
        assert 0 <= x and 0 <= y and x + w <= W and y + h <= H, rect
        assert all(live.overlap_area(rect, b) == 0 for j, b in enumerate(boxes) if j != i), (rect, boxes)
        assert all(live.overlap_area(rect, other) == 0 for m, (_, other) in enumerate(drawn) if m != k), rect
    assert all(live.overlap_area(p, boxes[i]) == 0 for i, p in enumerate(panels) if p)   # panels beside, never over


CROWDS = {
    "a row of seven, close together": [(40 + 175 * k, 300, 150, 150) for k in range(7)],
    "two rows of five": [(30 + 250 * k, 80 + 330 * r, 120, 130) for r in range(2) for k in range(5)],
    "at the edges and corners": [(0, 0, 100, 110), (1180, 0, 100, 100), (0, 610, 110, 110), (1170, 620, 110, 100),
                                 (600, 0, 90, 90), (600, 630, 90, 90), (0, 300, 100, 100)],
    "nearly touching, one above another": [(500, 100, 120, 120), (500, 250, 120, 120), (500, 400, 120, 120),
                                           (650, 100, 120, 120), (650, 250, 120, 120), (650, 400, 120, 120),
                                           (800, 250, 120, 120), (950, 250, 120, 120)],
}


@pytest.mark.parametrize("crowd", list(CROWDS))
def test_labels_and_panels_cover_no_face_and_each_other_in_a_crowd(crowd):
    boxes = CROWDS[crowd]
    labels, panels = laid_out(boxes)
    assert_clear(boxes, labels, panels, (720, 1280, 3))
    assert sum(p is not None for p in panels) == 1                 # compact: the largest face's panel only
    largest = max(range(len(boxes)), key=lambda i: boxes[i][2] * boxes[i][3])
    assert panels[largest] is not None


def test_few_faces_get_a_panel_each_and_full_or_compact_can_be_chosen():
    boxes = [(100, 120, 90, 90), (200, 120, 90, 90)]
    labels, panels = laid_out(boxes, (360, 640, 3))
    assert_clear(boxes, labels, panels, (360, 640, 3))
    assert all(panels)
    assert sum(map(bool, laid_out(boxes, (360, 640, 3), "compact")[1])) == 1
    row = CROWDS["a row of seven, close together"]
    labels, panels = laid_out(row, style="full")
    assert_clear(row, labels, panels, (720, 1280, 3))              # where no place is free a panel is left out
    assert sum(map(bool, panels)) >= 2


def test_a_face_at_the_top_edge_keeps_its_label_inside_the_frame():
    frame = np.zeros((200, 300, 3), np.uint8)
    probs = np.array([0.7, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05])
    box = (150, 0, 80, 80)
    (label,), (panel,) = live.layout_overlays([box], [live.label_size(live.label_text("angry", 0.7, 0), False)],
                                              frame.shape, 7, compact=False)
    assert label[1] >= 0 and panel is not None
    live.draw_face(frame, box, probs, CLASSES, 0, label, panel)
    label_colour = np.array(live.COLOURS[CLASSES[0]], np.uint8)
    lx, ly, lw, lh = label
    band = frame[ly + 1:ly + lh - 1, lx + 1:lx + lw - 1]
    assert (band == label_colour).all(axis=-1).mean() > 0.3            # black text on the class colour


def test_crop_views_are_the_face_moved_two_pixels_and_mirrored():
    x = np.arange(2 * 1 * 6 * 6, dtype=np.float32).reshape(2, 1, 6, 6)
    assert len(tta_views(x, None)) == 1 and len(tta_views(x, "mirror")) == 2
    views = tta_views(x, "crops")
    assert len(views) == 10 and all(v.shape == x.shape for v in views)
    left = views[1]                                   # moved by dx = -2: column j shows column j - 2
    assert np.array_equal(left[..., 2:], x[..., :-2]) and np.array_equal(left[..., 0], x[..., 2])  # reflected edge
    assert np.array_equal(views[5], x[..., ::-1])     # the second half: the first half mirrored


def test_a_net_trained_on_crops_sees_the_centre_crop_or_the_four_corners_and_centre_mirrored():
    x = np.arange(2 * 1 * 6 * 6, dtype=np.float32).reshape(2, 1, 6, 6)
    (plain,) = tta_views(x, None, size=4)
    assert np.array_equal(plain, x[:, :, 1:5, 1:5])
    views = tta_views(x, "crops", size=4)
    assert len(views) == 10 and all(v.shape == (2, 1, 4, 4) for v in views)
    corners = [x[:, :, 0:4, 0:4], x[:, :, 0:4, 2:6], x[:, :, 2:6, 0:4], x[:, :, 2:6, 2:6]]
    assert all(np.array_equal(v, c) for v, c in zip(views[1:5], corners))
    assert all(np.array_equal(views[5 + i], views[i][..., ::-1]) for i in range(5))


def test_test_time_views_average_the_nets_answers_for_each_face_on_its_own(tmp_path):
    """The probabilities are the mean of the net's softmax over each face's own views, built here by hand
    (shifts by 2 pixels with the edge mirrored in, and mirror images), whatever the batch size."""
    from minicnn.losses import softmax
    faces = np.random.default_rng(0).integers(0, 256, (5, 48, 48), dtype=np.uint8)
    classifier = ExpressionClassifier(untrained_model(tmp_path / "m.npz"))
    x = classifier.preprocessing(faces)
    padded = np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)), mode="reflect")
    shifted = [x] + [padded[:, :, 2 + dy:50 + dy, 2 + dx:50 + dx] for dx, dy in ((-2, 0), (2, 0), (0, -2), (0, 2))]
    by_hand = {None: [x], "mirror": [x, x[..., ::-1]], "crops": shifted + [v[..., ::-1] for v in shifted]}
    for tta, views in by_hand.items():
        expected = np.mean([softmax(classifier.model.predict(np.ascontiguousarray(v))) for v in views], axis=0)
        for batch_size in (3, 256):                   # 3: fewer than a face's views, so one face a batch
            got = classifier.predict_proba(faces, tta=tta, batch_size=batch_size)
            np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)
    assert not np.allclose(by_hand["crops"][1], x)     # the views differ, so the test can tell them apart
    with pytest.raises(ValueError, match="tta must be one of None, mirror, crops, got 'all'"):
        classifier.predict_proba(faces, tta="all")


def test_the_recognizer_averages_ten_views_by_default_and_one_with_tta_none(tmp_path):
    model = untrained_model(tmp_path / "m.npz")
    image = np.random.default_rng(2).integers(0, 256, (120, 120, 3), dtype=np.uint8)
    box = [(20, 20, 70, 70)]
    default = EmotionRecognizer(model, detector="haar").classify_faces(image, box)
    crops = EmotionRecognizer(model, detector="haar", tta="crops").classify_faces(image, box)
    one = EmotionRecognizer(model, detector="haar", tta="none").classify_faces(image, box)
    assert np.array_equal(default, crops) and not np.allclose(one, crops)
    assert np.allclose(one, EmotionRecognizer(model, detector="haar", tta=None).classify_faces(image, box))


def test_an_ensemble_averages_its_members_and_every_command_takes_it(tmp_path, capsys):
    from fer_app import ensemble, evaluate
    happy, sad = constant_model(tmp_path / "happy.npz", favourite=3), constant_model(tmp_path / "sad.npz", favourite=4)
    out = tmp_path / "both.npz"
    assert ensemble.main(["--models", str(happy), str(sad), "--out", str(out)]) == 0
    faces = np.random.default_rng(1).integers(0, 256, (4, 48, 48), dtype=np.uint8)
    joined = ExpressionClassifier(out)
    expected = (ExpressionClassifier(happy).predict_proba(faces) + ExpressionClassifier(sad).predict_proba(faces)) / 2
    assert len(joined.members) == 2 and np.allclose(joined.predict_proba(faces), expected)
    assert np.allclose(joined.predict_proba(faces)[:, [3, 4]], expected[:, [3, 4]]) and expected[0, 3] == expected[0, 4]
    assert evaluate.main(["--model", str(out), "--data", "demo", "--json", str(tmp_path / "r.json")]) == 0
    assert EmotionRecognizer(out).classify_faces(np.zeros((100, 100, 3), np.uint8), [(10, 10, 60, 60)]).shape == (1, 7)
    capsys.readouterr()
    assert ensemble.main(["--models", str(happy), "--out", str(tmp_path / "one.npz")]) == 2
    assert "give at least two models" in capsys.readouterr().err
