"""Follow faces across video frames and smooth each face's probabilities on its own.

Boxes of a new frame are matched to existing tracks greedily by intersection over
union (IoU); each track keeps an exponential moving average (EMA) of its own
probabilities,  p̄ ← α·p̄ + (1 − α)·p,  so labels don't flicker — and two faces never
share a window, so one face's expression cannot leak into another's.
"""
import numpy as np


def iou(a, b):
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    ix = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = ix * iy
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


class Track:
    def __init__(self, track_id, box, probs):
        self.id, self.box, self.probs, self.missed = track_id, box, np.asarray(probs, np.float64), 0


class FaceTracker:
    def __init__(self, smoothing=0.6, min_iou=0.3, max_missed=5):
        if not 0 <= smoothing < 1:
            raise ValueError(f"smoothing must be in [0, 1), got {smoothing}")
        self.smoothing, self.min_iou, self.max_missed = smoothing, min_iou, max_missed
        self.tracks, self._next_id = [], 0

    def update(self, boxes, probs):
        """Feed one frame's detections; returns the tracks seen in this frame, in the order of ``boxes``."""
        pairs = sorted(((iou(t.box, b), ti, bi) for ti, t in enumerate(self.tracks) for bi, b in enumerate(boxes)),
                       reverse=True)
        track_of, used = {}, set()
        for overlap, ti, bi in pairs:
            if overlap < self.min_iou:
                break
            if ti in used or bi in track_of:
                continue
            used.add(ti)
            track_of[bi] = self.tracks[ti]
        a = self.smoothing
        for bi, (box, p) in enumerate(zip(boxes, probs)):
            track = track_of.get(bi)
            if track is None:
                track = Track(self._next_id, box, p)
                self._next_id += 1
                self.tracks.append(track)
                track_of[bi] = track
            else:
                track.box, track.probs, track.missed = box, a * track.probs + (1 - a) * np.asarray(p), 0
        seen = {id(t) for t in track_of.values()}
        for track in self.tracks:
            if id(track) not in seen:
                track.missed += 1
        self.tracks = [t for t in self.tracks if t.missed <= self.max_missed]
        return [track_of[bi] for bi in range(len(boxes))]
