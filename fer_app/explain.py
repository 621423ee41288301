"""Look inside a trained network: ``python -m fer_app.explain --image face.png --out DIR``.

Writes PNGs and an index page for one face:
* filters.png         the first conv layer's filters, one tile each;
* features_<i>.png    the feature maps of every conv layer (after its activation);
* saliency.png        |∂ score / ∂ pixel| for the predicted class (Simonyan et al., 2013), over the face;
* gradcam.png         Grad-CAM (Selvaraju et al., 2017) of the last conv block, over the face:
                      α_k = mean_{h,w} ∂ score / ∂ A_k[h, w],   map = ReLU(Σ_k α_k · A_k), upsampled;
* probabilities.png   the 7 class probabilities, over the same test-time views as EmotionRecognizer() (crops);
* index.html / overview.png   everything on one page.
"""
import html
import sys
from pathlib import Path

import cv2
import numpy as np

from minicnn import layers as L
from minicnn.losses import softmax

from .classifier import DEFAULT_TTA, ExpressionClassifier
from . import cli
from .checks import POSITIVE_INT, UserError, check_outputs
from .cli import run_command
from .images import read_image
from .detect import DEFAULT_DETECTOR, DETECTORS, centre_face, face_crop, make_detector
from .preprocess import center_crop
from .plots import explain_overview, probability_chart, write_png

TILE = 96          # pixels per tile in the grids
GAP_COLOUR = (200, 120, 40)     # BGR


def trace_forward(model, x):
    """Every layer's output for input x, in inference mode: outputs[i] is layer i's output."""
    outputs = []
    for layer in model.layers:
        x = layer.forward(x, training=False)
        outputs.append(x)
    return outputs


def trace_backward(model, dlogits):
    """Gradient of the score with respect to every layer's output, and to the input (after trace_forward)."""
    grads = [None] * len(model.layers)
    dy = dlogits
    for i in range(len(model.layers) - 1, -1, -1):
        grads[i] = dy
        dy = model.layers[i].backward(dy)
    return grads, dy


def block_end(model, conv_index):
    """Index of the layer that ends the block started by the conv at ``conv_index`` (past its BatchNorm/activation)."""
    i = conv_index
    while i + 1 < len(model.layers) and isinstance(model.layers[i + 1], (L.BatchNorm2D, L.ReLU, L.LeakyReLU)):
        i += 1
    return i


def last_conv_block(model):
    """Index of the activation that ends the last convolutional block (what Grad-CAM looks at); a Residual block
    (of convolutions) counts as one."""
    conv = max((i for i, layer in enumerate(model.layers) if isinstance(layer, (L.Conv2D, L.Residual))), default=None)
    if conv is None:
        raise ValueError("the model has no convolutional layer")
    return block_end(model, conv)


def saliency_and_gradcam(model, x, target, outputs=None):
    """(saliency (H, W), grad-cam (h, w) at the last conv block's resolution, probabilities) for class ``target``;
    ``outputs``: trace_forward(model, x) where the caller has it already (the layers still hold that pass)."""
    outputs = trace_forward(model, x) if outputs is None else outputs
    dlogits = np.zeros_like(outputs[-1])
    dlogits[0, target] = 1
    grads, dx = trace_backward(model, dlogits)
    saliency = np.abs(dx[0]).max(axis=0)
    k = last_conv_block(model)
    activation, gradient = outputs[k][0], grads[k][0]
    alpha = gradient.mean(axis=(1, 2))
    cam = np.maximum((alpha[:, None, None] * activation).sum(axis=0), 0)
    return saliency, cam, softmax(outputs[-1])[0]


def normalize01(a):
    a = np.asarray(a, np.float64)
    span = a.max() - a.min()
    return (a - a.min()) / span if span > 0 else np.zeros_like(a)


def heat_overlay(face, heat, size=240):
    """Heat map (any resolution) upsampled and blended over the grey face, as a BGR image."""
    face = cv2.cvtColor(cv2.resize(face, (size, size), interpolation=cv2.INTER_CUBIC), cv2.COLOR_GRAY2BGR)
    heat = cv2.resize(normalize01(heat).astype(np.float32), (size, size), interpolation=cv2.INTER_LINEAR)
    colour = cv2.applyColorMap((255 * heat).astype(np.uint8), cv2.COLORMAP_JET)
    return cv2.addWeighted(face, 0.55, colour, 0.45, 0)


def tile_grid(maps, columns=8, tile=TILE, title=""):
    """Grid of 2-D maps, each normalised on its own, as a grey image with an optional title strip."""
    rows = int(np.ceil(len(maps) / columns))
    grid = np.full((rows * (tile + 4) + 24, columns * (tile + 4), 3), 255, np.uint8)
    grid[24:] = GAP_COLOUR           # a coloured gap between tiles: grey maps run into white or black ones
    for i, m in enumerate(maps):
        r, c = divmod(i, columns)
        img = cv2.resize((255 * normalize01(m)).astype(np.uint8), (tile, tile), interpolation=cv2.INTER_NEAREST)
        y, x = 24 + r * (tile + 4), c * (tile + 4)
        grid[y:y + tile, x:x + tile] = img[:, :, None]
    cv2.putText(grid, title, (4, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    return grid


def conv_layers(model):
    return [i for i, layer in enumerate(model.layers) if isinstance(layer, L.Conv2D)]


def picture_names(model):
    """Every file explain writes for ``model``."""
    return (["filters.png"] + [f"features_{n + 1}.png" for n in range(len(conv_layers(model)))]
            + ["saliency.png", "gradcam.png", "probabilities.png", "face.png", "overview.png", "index.html"])


def explain(classifier, face48, out_dir, max_maps=32):
    """Write every picture for one 48×48 face into out_dir; returns {name: path} and the probabilities."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model, classes = classifier.model, classifier.classes
    size = classifier.members[0].size              # a net trained on crops (--crop) looks at the centre crop
    x = center_crop(classifier.preprocessing(face48[None]), size)
    face = center_crop(face48, size)
    outputs = trace_forward(model, x)
    probs = classifier.predict_proba(face48[None], tta=DEFAULT_TTA)[0]     # what the recognizer answers
    target = int(np.argmax(probs))                  # the maps explain that class, on the face as it is
    saliency, cam, _ = saliency_and_gradcam(model, x, target)
    files = {}

    def save(name, image):
        files[name] = out / f"{name}.png"
        write_png(files[name], image)

    convs = conv_layers(model)
    first = model.layers[convs[0]].params["weight"]
    save("filters", tile_grid([w[0] if w.shape[0] == 1 else w.mean(axis=0) for w in first], tile=48,
                              title=f"layer {convs[0]} filters ({first.shape[0]} of {first.shape[2]}x{first.shape[3]})"))
    for n, i in enumerate(convs):
        j = block_end(model, i)
        maps = outputs[j][0][:max_maps]
        save(f"features_{n + 1}", tile_grid(list(maps), title=f"conv {n + 1} (layer {i}): {len(maps)} of "
                                                             f"{outputs[j].shape[1]} maps, {maps.shape[1]}x{maps.shape[2]}"))
    overlays = {"saliency": heat_overlay(face, saliency), "gradcam": heat_overlay(face, cam)}
    for name, image in overlays.items():
        save(name, image)
    files["probabilities"] = out / "probabilities.png"
    probability_chart(probs, classes, files["probabilities"])
    save("face", cv2.resize(face, (240, 240), interpolation=cv2.INTER_CUBIC))
    files["overview"] = out / "overview.png"
    explain_overview(face, overlays["saliency"], overlays["gradcam"], probs, classes, files["overview"])
    sections = "".join(f"<h2>{html.escape(name)}</h2><img src='{p.name}'>\n" for name, p in files.items())
    (out / "index.html").write_text(
        f"<!doctype html><meta charset='utf-8'><title>fer_app explain</title>"
        f"<h1>Predicted: {html.escape(classes[target])} ({100 * probs[target]:.1f}%)</h1>\n{sections}")
    return files, probs


def build_parser():
    p = cli.parser("explain", __doc__.split("\n\n")[0])
    cli.add_model_option(p)
    p.add_argument("--image", required=True, help="a face photo (its largest face is used, or --face's) or a 48x48 face")
    p.add_argument("--face", type=POSITIVE_INT, default=1, help="which face of a photo with several, by size: 1 "
                                                                 "is the largest (default: 1)")
    p.add_argument("--out", default="explain", help="folder for the PNGs and index.html")
    p.add_argument("--detector", choices=sorted(DETECTORS), default=DEFAULT_DETECTOR,
                   help="face detector for a photo: yunet (a CNN; turns the face level) or haar")
    p.add_argument("--overwrite", action="store_true", help="replace the pictures of an earlier explain in --out "
                                                            "(default: refuse)")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    return run_command(lambda: run(args))


def run(args):
    classifier = ExpressionClassifier(args.model)
    if len(classifier.members) > 1:
        raise UserError(f"--model {classifier.path}: is an ensemble of {len(classifier.members)} networks; "
                        f"explain looks inside one: give one of its models")
    if not conv_layers(classifier.model):
        raise UserError(f"--model {classifier.path}: has no convolutional layer to look inside")
    check_outputs([("--out", args.out, picture_names(classifier.model))],
                  [("--image", args.image), ("--model", args.model)], args.overwrite)
    image = read_image(args.image)
    faces = make_detector(args.detector, min_face=20).find(image)
    if args.face > max(len(faces), 1):
        raise UserError(f"--face {args.face}: {args.image} has {len(faces) or 'no'} face(s) the detector finds")
    if faces:
        face = face_crop(image, faces[args.face - 1])
        if len(faces) > 1:
            print(f"{len(faces)} faces found; explaining face {args.face} of them, largest first, box "
                  f"{tuple(int(v) for v in faces[args.face - 1].box)} (--face N picks another)")
    else:
        face = centre_face(image)
        print("note: no face detected; using the centre of the image", file=sys.stderr)
    files, probs = explain(classifier, face, args.out)
    top = int(np.argmax(probs))
    print(f"{classifier.classes[top]} ({100 * probs[top]:.1f}%); pictures in {args.out}/ "
          f"(open {Path(args.out) / 'index.html'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
