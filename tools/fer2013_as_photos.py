"""FER-2013's test faces as a folder of a user's own labelled photos (``<class>/<file>.png``), framed another way:
what `fer_app.evaluate --split all` then scores through face detection and the live crop, as it scores any
class-folder dataset (docs/detection.md, "A face cut by the frame's edge, and a face photo cropped
already").

    python3 tools/fer2013_as_photos.py ../shared/data/fer2013 /tmp/fer2013-tight70 --framing tight70
    python3 -m fer_app.evaluate --data /tmp/fer2013-tight70 --split all --no-cache

Framings: ``tight80`` and ``tight70``, the central 80 % or 70 % of each face enlarged to 96 or 128 pixels (a
face photo cropped closer than FER-2013 crops, as posed-face datasets often are); ``photo``, the face enlarged
3× with its edges mirrored around it to 256 pixels (a face inside a larger picture).  The folder it writes
must not exist yet.
"""
import argparse
import sys
from pathlib import Path

import cv2

FRAMINGS = {"tight80": (0.8, 96), "tight70": (0.7, 128), "photo": (1.0, 144)}
PHOTO_BORDER = 56            # mirrored pixels around the 144-pixel face: a 256-pixel picture


def reframed(face, framing):
    """A 48×48 FER face as the framing has it."""
    share, size = FRAMINGS[framing]
    cut = int(round(face.shape[0] * share))
    top = (face.shape[0] - cut) // 2
    image = cv2.resize(face[top:top + cut, top:top + cut], (size, size), interpolation=cv2.INTER_LINEAR)
    if framing == "photo":
        image = cv2.copyMakeBorder(image, *[PHOTO_BORDER] * 4, cv2.BORDER_REFLECT)
    return image


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("data", help="a Kaggle-layout FER-2013 folder (with test/<class>/*.png)")
    p.add_argument("out", help="the folder to write (must not exist)")
    p.add_argument("--framing", choices=FRAMINGS, required=True)
    args = p.parse_args(argv)
    files = sorted(Path(args.data, "test").glob("*/*.png"))
    if not files:
        sys.exit(f"error: {args.data}: no test/<class>/*.png files (is it a Kaggle-layout FER-2013 folder?)")
    out = Path(args.out)
    if out.exists():
        sys.exit(f"error: {out} exists: give a new folder")
    for path in files:
        target = out / path.parent.name / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(target), reframed(cv2.imread(str(path), cv2.IMREAD_GRAYSCALE), args.framing))
    print(f"{len(files)} faces written to {out}")


if __name__ == "__main__":
    main()
