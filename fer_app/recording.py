"""An annotated video that survives its writer being killed.

OpenCV's video writers keep a file's index in memory and write it when the file is closed: an MP4 of a
run killed with SIGKILL (or cut by a power loss) has no ``moov`` box and plays not at all.  This writer
uses PyAV (FFmpeg's libraries) the way a streaming recorder does:

- MP4, M4V and MOV are written as *fragmented* MP4 (an empty index up front, then a ``moof``+``mdat``
  fragment starting at each keyframe, one keyframe a second), MKV and WebM are streamed by nature, AVI
  holds one JPEG per frame;
- every packet is flushed to the file as it is made, and the encoder keeps no frames back
  (``tune=zerolatency``), so after a kill the file plays up to its last whole fragment — at most one
  second is lost (MP4), or nothing but the frame being written (MKV, AVI).

MP4, MOV and MKV carry H.264 (plays in browsers and every player); WebM VP8, WMV WMV2.
"""
from fractions import Fraction
from pathlib import Path

import av
import cv2

CODECS = {".mp4": "libx264", ".m4v": "libx264", ".mov": "libx264", ".mkv": "libx264", ".webm": "libvpx",
          ".avi": "mjpeg", ".wmv": "wmv2"}
FRAGMENTED = {".mp4", ".m4v", ".mov"}
ENCODER_OPTIONS = {"libx264": {"preset": "ultrafast", "tune": "zerolatency"},   # 5 ms a 720p frame on one core
                   "libvpx": {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}}


class VideoRecording:
    """``write(frame)`` BGR frames of one size to ``path`` at ``fps`` frames a second; ``close()`` finishes
    the file (a normal end, Ctrl-C and SIGTERM all close it).  Sizes with an odd side are padded by one
    black row or column (the encoders' 4:2:0 colour needs even sides)."""

    def __init__(self, path, fps):
        suffix = Path(path).suffix.lower()
        self.codec = CODECS[suffix]
        self.rate = Fraction(fps).limit_denominator(1001)
        options = {"flush_packets": "1"}
        if suffix in FRAGMENTED:
            options["movflags"] = "frag_keyframe+empty_moov+default_base_moof"
        self.container = av.open(str(path), "w", options=options)
        self.stream, self.frames = None, 0

    def _open_stream(self, width, height):
        stream = self.container.add_stream(self.codec, rate=self.rate, options=ENCODER_OPTIONS.get(self.codec, {}))
        stream.width, stream.height = width + width % 2, height + height % 2
        stream.pix_fmt = "yuvj420p" if self.codec == "mjpeg" else "yuv420p"
        stream.codec_context.gop_size = max(1, round(self.rate))          # a keyframe, so a fragment, a second
        return stream

    def write(self, frame):
        if self.stream is None:
            self.stream = self._open_stream(frame.shape[1], frame.shape[0])
        pad_rows, pad_cols = self.stream.height - frame.shape[0], self.stream.width - frame.shape[1]
        if pad_rows or pad_cols:
            frame = cv2.copyMakeBorder(frame, 0, pad_rows, 0, pad_cols, cv2.BORDER_CONSTANT)
        picture = av.VideoFrame.from_ndarray(frame, format="bgr24")
        picture.pts = self.frames
        picture.time_base = 1 / self.rate
        self.container.mux(self.stream.encode(picture))
        self.frames += 1

    def close(self):
        if self.stream is not None:
            self.container.mux(self.stream.encode())       # what the encoder still holds
        self.container.close()
