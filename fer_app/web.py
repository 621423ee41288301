"""A web page to watch the network think: ``python -m fer_app.web [--model M] [--host 127.0.0.1] [--port 8000]``.

The page (fer_app/web_static/, plain HTML, CSS and a JavaScript module, nothing fetched from elsewhere) takes the
webcam, a dropped photo or a dropped video, sends frames here and draws the answers: every face boxed with its
label and probabilities.  Click a face for the network view: the 48×48 input, every layer's feature maps, a
map's 3×3 filters, the arithmetic behind one pixel of a convolution (its inputs, weights, bias and sum, which
equal minicnn's own activation), saliency and Grad-CAM.

The server is a Starlette app on uvicorn (the optional extra ``[web]``).  It keeps the faces of the last
frames it analysed (FRAMES_KEPT, any tab) so that the network view can look into a face the page picked,
and one lock around the network: minicnn's layers keep what their last forward pass saw.
"""
import base64
import sys
import threading
from collections import OrderedDict
from pathlib import Path

import cv2
import numpy as np

from minicnn import layers as L
from minicnn.losses import softmax

from . import cli
from .checks import Range, UserError
from .explain import block_end, heat_overlay, normalize01, saliency_and_gradcam, trace_forward
from .preprocess import FACE_SIZE, center_crop

STATIC = Path(__file__).with_name("web_static")
FRAMES_KEPT = 16                  # analysed frames whose faces the network view may still ask for
MAX_UPLOAD_BYTES = 16 << 20       # a frame or photo larger than this is refused
MAX_SIDE = 4096                   # pixels; a larger picture is refused (the detector shrinks to 320 anyway)
MAX_MAPS = 64                     # feature maps drawn per layer
TILE, GAP = 40, 2                 # pixels per map in a layer's grid, and between maps
DOCS = {L.Conv2D: "convolution", L.BatchNorm2D: "batchnorm", L.BatchNorm1D: "batchnorm", L.ReLU: "relu",
        L.LeakyReLU: "relu", L.MaxPool2D: "pooling", L.AvgPool2D: "pooling", L.GlobalAvgPool2D: "pooling",
        L.Dense: "dense", L.Dropout: "dropout", L.Flatten: "dense", L.Residual: "residual"}
SENTENCES = {
    L.Conv2D: "Each map is one filter slid over every map of the layer before: a weighted sum of a 3×3 patch of "
              "each input map, plus a bias. Bright: where the filter's pattern is.",
    L.BatchNorm2D: "Each map shifted and scaled by the statistics training measured, so that every channel has "
                   "a similar range.",
    L.ReLU: "Negative values set to 0: only the places where the pattern is present pass on.",
    L.MaxPool2D: "Each 2×2 block keeps its largest value: half the width and height, the strongest responses kept.",
    L.Dense: "Every unit a weighted sum of all the values before it.",
    L.BatchNorm1D: "Each unit shifted and scaled by the statistics training measured.",
    L.Flatten: "The maps laid end to end as one long vector.",
    L.Dropout: "At inference, nothing: dropout only acts in training.",
    L.Residual: "The maps that came in, plus what the layers inside the block made of them: the block learns a "
                "change to its input, not a whole new picture.",
}


class BadInput(ValueError):
    """A picture the page sent that cannot be used; the page shows the message."""


def png_data_url(image):
    ok, data = cv2.imencode(".png", image)
    return "data:image/png;base64," + base64.b64encode(data.tobytes()).decode()


def decode_picture(data):
    """The BGR image in ``data`` (a JPEG or PNG the page sent), checked."""
    if not data:
        raise BadInput("no picture was sent")
    if len(data) > MAX_UPLOAD_BYTES:
        raise BadInput(f"the picture is larger than {MAX_UPLOAD_BYTES >> 20} MB")
    header = np.frombuffer(data, np.uint8)
    image = cv2.imdecode(header, cv2.IMREAD_COLOR)
    if image is None:
        raise BadInput("this file is not a picture the server can read (JPEG, PNG, BMP, WebP, TIFF)")
    if max(image.shape[:2]) > MAX_SIDE:
        raise BadInput(f"the picture is {image.shape[1]}x{image.shape[0]}; at most {MAX_SIDE} pixels a side")
    return image


class Explainer:
    """The recognizer, the faces of the last frames, and what the page asks of the network."""

    def __init__(self, recognizer):
        self.recognizer = recognizer
        self.classifier = recognizer.classifier
        member = self.classifier.members[0]
        self.model, self.preprocessing, self.size = member.model, member.preprocessing, member.size
        self.frames = OrderedDict()          # frame id -> its 48×48 faces (N, 48, 48)
        self.lock = threading.Lock()
        self.next_id = 0

    def analyse(self, image):
        """Faces of one frame: box, label, probabilities (in the model's class order); the frame's id."""
        with self.lock:
            faces = self.recognizer.find_faces(image)
            crops = self.recognizer.face_crops(image, faces)      # kept for the network view: cut once
            probs = self.classifier.predict_proba(crops, tta=self.recognizer.tta)
            frame_id, self.next_id = self.next_id, self.next_id + 1
            self.frames[frame_id] = crops
            while len(self.frames) > FRAMES_KEPT:
                self.frames.popitem(last=False)
        classes = list(self.classifier.classes)
        return {"frame": frame_id, "classes": classes,
                "faces": [{"box": [int(v) for v in face.box], "label": classes[int(np.argmax(p))],
                           "probabilities": [round(float(v), 4) for v in p]} for face, p in zip(faces, probs)]}

    def face(self, frame_id, index):
        crops = self.frames.get(frame_id)
        if crops is None:
            raise BadInput(f"frame {frame_id} is no longer kept; pick the face again")
        if not 0 <= index < len(crops):
            raise BadInput(f"frame {frame_id} has no face {index}")
        return crops[index]

    def network_input(self, face48):
        return center_crop(self.preprocessing(face48[None]), self.size)

    def network(self, frame_id, index):
        """Every layer's maps for one face, with the probabilities, saliency and Grad-CAM."""
        face48 = self.face(frame_id, index)
        x = self.network_input(face48)
        with self.lock:
            outputs = trace_forward(self.model, x)
            probs = softmax(outputs[-1])[0]
            target = int(np.argmax(probs))
            saliency, cam, _ = saliency_and_gradcam(self.model, x, target, outputs)
        layers = []
        for i, (layer, out) in enumerate(zip(self.model.layers, outputs)):
            kind = type(layer)
            entry = {"index": i, "name": describe(layer, out), "shape": list(out.shape[1:]),
                     "doc": f"docs/{DOCS.get(kind, 'walkthrough')}.md", "sentence": SENTENCES.get(kind, ""),
                     "kind": kind.__name__}
            if out.ndim == 4:
                maps = out[0, :MAX_MAPS]
                columns = int(np.ceil(np.sqrt(len(maps))))
                entry.update(count=int(out.shape[1]), drawn=len(maps), columns=columns, tile=TILE, gap=GAP,
                             maps=png_data_url(map_grid(maps, columns)))
            else:
                entry.update(count=int(out.shape[1]), values=[round(float(v), 4) for v in out[0][:512]])
            layers.append(entry)
        face_view = cv2.resize((255 * normalize01(x[0, 0])).astype(np.uint8), (192, 192),
                               interpolation=cv2.INTER_NEAREST)
        classes = list(self.classifier.classes)
        return {"input": png_data_url(face_view), "layers": layers, "classes": classes,
                "probabilities": [round(float(v), 4) for v in probs], "label": classes[target],
                "saliency": png_data_url(heat_overlay(face48, saliency)),
                "gradcam": png_data_url(heat_overlay(face48, cam))}

    def conv_layer(self, i):
        if not 0 <= i < len(self.model.layers) or not isinstance(self.model.layers[i], L.Conv2D):
            raise BadInput(f"layer {i} is not a convolution")
        return self.model.layers[i]

    def filters(self, layer_index, map_index):
        """A conv layer's filter for one output map: its C kernels as numbers and as a picture."""
        layer = self.conv_layer(layer_index)
        if not 0 <= map_index < layer.out_channels:
            raise BadInput(f"layer {layer_index} has no map {map_index}")
        w = layer.params["weight"][map_index][:MAX_MAPS]
        columns = int(np.ceil(np.sqrt(len(w))))
        return {"layer": layer_index, "map": map_index, "channels": layer.in_channels,
                "picture": png_data_url(map_grid(w, columns))}

    def arithmetic(self, frame_id, index, layer_index, map_index, y, x):
        """The sum behind one pixel of a conv layer's map: its 3×3×C inputs, the weights, the bias, the total —
        and minicnn's own value of that pixel, which it equals."""
        layer = self.conv_layer(layer_index)
        x0 = self.network_input(self.face(frame_id, index))
        with self.lock:
            outputs = trace_forward(self.model, x0)
        inputs = x0 if layer_index == 0 else outputs[layer_index - 1]
        out = outputs[layer_index]
        if not (0 <= map_index < out.shape[1] and 0 <= y < out.shape[2] and 0 <= x < out.shape[3]):
            raise BadInput(f"layer {layer_index} has no pixel ({map_index}, {y}, {x})")
        k, s, p = layer.kernel_size, layer.stride, layer.padding
        padded = np.pad(inputs[0], ((0, 0), (p, p), (p, p)))
        patch = padded[:, y * s:y * s + k, x * s:x * s + k]
        weights = layer.params["weight"][map_index]
        bias = float(layer.params["bias"][map_index])
        products = patch.astype(np.float64) * weights
        total = float(products.sum()) + bias
        after = block_end(self.model, layer_index)
        return {"layer": layer_index, "map": map_index, "y": y, "x": x, "kernel": k, "channels": int(patch.shape[0]),
                "inputs": np.round(patch, 4).tolist(), "weights": np.round(weights, 4).tolist(),
                "bias": round(bias, 6), "sum": round(total, 6), "activation": round(float(out[0, map_index, y, x]), 6),
                "after_block": round(float(outputs[after][0, map_index, y, x]), 6), "block_end": after}


def describe(layer, out):
    name = type(layer).__name__
    if isinstance(layer, L.Conv2D):
        return f"{name} {layer.in_channels}→{layer.out_channels}, {layer.kernel_size}×{layer.kernel_size}"
    return f"{name} → {'×'.join(map(str, out.shape[1:]))}"


def map_grid(maps, columns):
    """Maps (n, h, w), each normalised on its own, as one grey image, map (r, c) at (r·(TILE + GAP), c·(TILE + GAP)).
    explain.tile_grid draws the same in colour with a title; a grey PNG encodes in a third of the time, and the
    page asks for some twenty at every click."""
    rows = int(np.ceil(len(maps) / columns))
    grid = np.full((rows * (TILE + GAP), columns * (TILE + GAP)), 64, np.uint8)
    for i, m in enumerate(maps):
        r, c = divmod(i, columns)
        grid[r * (TILE + GAP):r * (TILE + GAP) + TILE, c * (TILE + GAP):c * (TILE + GAP) + TILE] = cv2.resize(
            (255 * normalize01(m)).astype(np.uint8), (TILE, TILE), interpolation=cv2.INTER_NEAREST)
    return grid


def create_app(explainer):
    """The Starlette app: the page, its files, and the JSON API it calls."""
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import FileResponse, JSONResponse
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    def answer(fn):
        async def endpoint(request):
            try:
                body = await request.body() if request.method == "POST" else b""
                result = await run_in_threadpool(fn, request.query_params, body)
            except BadInput as e:
                return JSONResponse({"error": str(e)}, status_code=400)
            except (KeyError, ValueError) as e:
                return JSONResponse({"error": f"a bad request: {e}"}, status_code=400)
            return JSONResponse(result)
        return endpoint

    def integer(params, name):
        return int(params[name])

    routes = [
        Route("/", lambda request: FileResponse(STATIC / "index.html")),
        Route("/api/frame", answer(lambda q, body: explainer.analyse(decode_picture(body))), methods=["POST"]),
        Route("/api/network", answer(lambda q, body: explainer.network(integer(q, "frame"), integer(q, "face")))),
        Route("/api/filters", answer(lambda q, body: explainer.filters(integer(q, "layer"), integer(q, "map")))),
        Route("/api/arithmetic", answer(lambda q, body: explainer.arithmetic(
            integer(q, "frame"), integer(q, "face"), integer(q, "layer"), integer(q, "map"), integer(q, "y"),
            integer(q, "x")))),
        Route("/api/model", answer(lambda q, body: {"classes": list(explainer.classifier.classes),
                                                    "face_size": FACE_SIZE})),
        Mount("/static", app=StaticFiles(directory=STATIC)),
        Mount("/docs", app=StaticFiles(directory=Path(__file__).resolve().parents[1] / "docs", check_dir=False)),
    ]
    return Starlette(routes=routes)


def build_parser():
    p = cli.parser("web", __doc__.split("\n\n")[0])
    cli.add_model_option(p)
    p.add_argument("--host", default="127.0.0.1", help="address to serve on (0.0.0.0: every network of this machine)")
    p.add_argument("--port", type=Range(1, 65535, integer=True), default=8000, help="port to serve on")
    cli.add_detector_options(p)
    cli.add_tta_option(p)
    return p


def main(argv=None):
    return cli.face_command_main(build_parser, run, argv)


def run(args):
    try:
        import uvicorn
        import starlette  # noqa: F401
    except ImportError:
        raise UserError("the web page needs Starlette and uvicorn: pip install -e \".[web]\"") from None
    app = create_app(Explainer(cli.recognizer(args)))
    print(f"fer_app web: open http://{args.host}:{args.port}/ in a browser (Ctrl-C stops)", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
