"""Follow faces across video frames, show only faces that are really there, and smooth each face's
probabilities on its own.

Faces of a new frame are matched to existing tracks greedily by intersection over union (IoU).
A new track is *confirmed* — shown, logged and given an id — once the detector has found it in
``confirm_hits`` of its last ``confirm_window`` detection passes, or at once when a detection's score
reaches ``confirm_score``; a one-off false detection (a face-like pattern in the background) never is.
Each track keeps an exponential moving average (EMA) of its own probabilities,
p̄ ← α·p̄ + (1 − α)·p, so labels don't flicker — and two faces never share a window, so one face's
expression cannot leak into another's.
"""
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from .detect import Face


def iou(a, b):
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    ix = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = ix * iy
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


class Track:
    def __init__(self, face, probs, window):
        self.face, self.probs, self.missed = face, np.asarray(probs, np.float64), 0
        self.found = deque([True], maxlen=window)      # matched in each of the last detection passes
        self.id = None                                  # given when confirmed

    @property
    def box(self):
        return self.face.box

    @property
    def confirmed(self):
        return self.id is not None


@dataclass
class FaceTracker:
    smoothing: float = 0.6       # EMA weight of a track's past probabilities
    min_iou: float = 0.3         # a face continues the track it overlaps at least this much
    max_missed: int = 5          # detection passes a track may go unmatched before it ends
    confirm_hits: int = 3        # a track is confirmed when found in this many ...
    confirm_window: int = 5      # ... of its last this many detection passes
    confirm_score: float = 0.9   # or at once by a detection this confident
    tracks: list = field(default_factory=list, init=False)
    _next_id: int = field(default=0, init=False)

    def __post_init__(self):
        if not 0 <= self.smoothing < 1:
            raise ValueError(f"smoothing must be in [0, 1), got {self.smoothing}")
        if not 1 <= self.confirm_hits <= self.confirm_window:
            raise ValueError(f"confirm_hits must be between 1 and confirm_window ({self.confirm_window}), "
                             f"got {self.confirm_hits}")

    def update(self, faces, probs, detected=True):
        """Feed one frame's faces (Face objects or boxes) and their probabilities; returns the track of each
        face, in order.  ``detected``: the faces come from the detector (False: they are the tracks' own,
        carried over a frame without detection, which neither confirms nor misses anything)."""
        faces = [f if isinstance(f, Face) else Face(tuple(f)) for f in faces]
        pairs = sorted(((iou(t.box, f.box), ti, fi) for ti, t in enumerate(self.tracks) for fi, f in enumerate(faces)),
                       reverse=True)
        track_of, used = {}, set()
        for overlap, ti, fi in pairs:
            if overlap < self.min_iou:
                break
            if ti in used or fi in track_of:
                continue
            used.add(ti)
            track_of[fi] = self.tracks[ti]
        a = self.smoothing
        for fi, (face, p) in enumerate(zip(faces, probs)):
            track = track_of.get(fi)
            if track is None:
                track = track_of[fi] = Track(face, p, self.confirm_window)
                self.tracks.append(track)
            else:
                track.face, track.probs, track.missed = face, a * track.probs + (1 - a) * np.asarray(p), 0
                if detected:
                    track.found.append(True)
            if not track.confirmed and (sum(track.found) >= self.confirm_hits or
                                        (face.score is not None and face.score >= self.confirm_score)):
                track.id, self._next_id = self._next_id, self._next_id + 1
        matched = {id(t) for t in track_of.values()}
        for track in self.tracks:
            if id(track) not in matched:
                track.missed += 1
                if detected:
                    track.found.append(False)
        self.tracks = [t for t in self.tracks if t.missed <= self.max_missed]
        return [track_of[fi] for fi in range(len(faces))]
