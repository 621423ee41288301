"""Export a model to ONNX: ``python -m fer_app.export [--model M.npz] --out FILE.onnx``.

The file classifies faces without minicnn or fer_app: ONNX Runtime, OpenCV's DNN module and any other
ONNX reader run it.  One graph holds everything after the pixels:

    faces (batch, 1, 48, 48): grey 48×48 faces, pixel values / 255 (equalised first where the metadata says)
      → (x − mean) · (1 / std), the model's own standardisation        for each network of the file
      → the centre crop, for a net trained on crops (--crop)
      → the network → softmax, columns in the file's class order
      → the mean over the networks (an ensemble: one graph, one call)
    probabilities (batch, 7)

The file's metadata_props hold the classes, the input's preparation (face size, resizing, equalisation,
each network's mean and std) and the model it came from, as JSON strings.  One view per face: the
ten-view test-time augmentation fer_app uses by default is left to the caller (README).
"""
import sys
from pathlib import Path

import numpy as np

from minicnn import onnx as minicnn_onnx

from . import cli
from .checks import UserError, check_outputs
from .classifier import SHIPPED_MODEL, ExpressionClassifier
from .cli import run_command
from .preprocess import CLAHE_CLIP_LIMIT, CLAHE_TILES, FACE_SIZE

INPUT, OUTPUT = "faces", "probabilities"


def member_nodes(member, index, classes, helper, numpy_helper):
    """The nodes and initialisers from INPUT to this network's probabilities in ``classes`` order."""
    prefix = f"m{index}/"
    pre = member.preprocessing
    weights = [numpy_helper.from_array(np.array(pre.mean, np.float32), prefix + "mean"),
               numpy_helper.from_array(np.array(1 / pre.std, np.float32), prefix + "inv_std")]
    nodes = [helper.make_node("Sub", [INPUT, prefix + "mean"], [prefix + "centred"]),
             helper.make_node("Mul", [prefix + "centred", prefix + "inv_std"], [prefix + "standardised"])]
    x = prefix + "standardised"
    if member.size < FACE_SIZE:
        top = (FACE_SIZE - member.size) // 2
        for name, value in (("starts", [top, top]), ("ends", [top + member.size] * 2), ("axes", [2, 3])):
            weights.append(numpy_helper.from_array(np.array(value, np.int64), prefix + name))
        nodes.append(helper.make_node("Slice", [x, prefix + "starts", prefix + "ends", prefix + "axes"],
                                      [prefix + "crop"]))
        x = prefix + "crop"
    net_nodes, net_weights, x = minicnn_onnx.graph_nodes(member.model, x, prefix)
    nodes += net_nodes + [helper.make_node("Softmax", [x], [prefix + "softmax"], axis=1)]
    weights += net_weights
    x = prefix + "softmax"
    order = [member.classes.index(c) for c in classes]
    if order != list(range(len(order))):
        weights.append(numpy_helper.from_array(np.array(order, np.int64), prefix + "class_order"))
        nodes.append(helper.make_node("Gather", [x, prefix + "class_order"], [prefix + "probabilities"], axis=1))
        x = prefix + "probabilities"
    return nodes, weights, x


def export(model_path, out):
    """Write ``model_path`` (a model or an ensemble file; None: the shipped model) to ``out`` as ONNX."""
    classifier = ExpressionClassifier(model_path)         # a file that is not a model is named before onnx is needed
    onnx = minicnn_onnx.require_onnx()
    helper = onnx.helper
    members, classes = classifier.members, list(classifier.classes)
    equalizations = {m.preprocessing.equalize for m in members}
    if len(equalizations) > 1:
        raise UserError(f"--model {classifier.path}: its networks equalise faces differently "
                        f"({', '.join(sorted(equalizations))}); one ONNX input cannot serve them all")
    nodes, weights, outputs = [], [], []
    for i, member in enumerate(members):
        member_graph, member_weights, x = member_nodes(member, i, classes, helper, onnx.numpy_helper)
        nodes += member_graph
        weights += member_weights
        outputs.append(x)
    nodes.append(helper.make_node("Mean", outputs, [OUTPUT]) if len(outputs) > 1
                 else helper.make_node("Identity", outputs, [OUTPUT]))
    metadata = {
        "classes": classes,
        "input": f"{INPUT}: (batch, 1, {FACE_SIZE}, {FACE_SIZE}) float32, grey faces resized to {FACE_SIZE}x"
                 f"{FACE_SIZE} (OpenCV INTER_AREA when shrinking, INTER_LINEAR when enlarging), pixel values / 255",
        "equalize": equalizations.pop(),
        "equalize_how": f"before / 255 — none: as it is; global: cv2.equalizeHist(face); clahe: cv2.createCLAHE("
                        f"clipLimit={CLAHE_CLIP_LIMIT}, tileGridSize={CLAHE_TILES}).apply(face)",
        "preprocessing": [m.preprocessing.to_dict() | {"crop": m.size} for m in members],
        "output": f"{OUTPUT}: (batch, {len(classes)}), the mean of the networks' softmax outputs, in the order "
                  "of classes",
        "source": Path(classifier.path).name,
    }
    proto = minicnn_onnx.build(nodes, weights, INPUT, (1, FACE_SIZE, FACE_SIZE), OUTPUT, len(classes), metadata,
                               graph_name="fer_app")
    minicnn_onnx.save(proto, out)
    return len(members)


def build_parser():
    p = cli.parser("export", __doc__.split("\n\n")[0])
    p.add_argument("--model", default=None, help=f"model or ensemble file (default: the shipped {SHIPPED_MODEL.name})")
    p.add_argument("--out", required=True, help="the .onnx file to write")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out (default: refuse)")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    return run_command(lambda: run(args))


def run(args):
    check_outputs([("--out", args.out)], [("--model", args.model or SHIPPED_MODEL)], args.overwrite)
    try:
        n = export(args.model, args.out)
    except ImportError as e:
        raise UserError(str(e)) from None
    print(f"{args.out}: {n} network{'s' if n > 1 else ''}; input '{INPUT}' (batch, 1, 48, 48), pixels / 255; "
          f"output '{OUTPUT}'; classes and preprocessing in its metadata")
    return 0


if __name__ == "__main__":
    sys.exit(main())
