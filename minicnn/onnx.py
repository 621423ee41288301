"""Export a trained Sequential to ONNX, the exchange format that ONNX Runtime, OpenCV's DNN module,
TensorRT, onnxruntime-web and model viewers such as Netron read.

    from minicnn import onnx
    onnx.export(model, "net.onnx", input_shape=(1, 48, 48), softmax=True, metadata={"classes": "..."})

Each layer becomes the ONNX operator that computes the same function (opset OPSET):

    Conv2D          Conv (strides, pads), weight (F, C, k, k) and bias as initialisers
    BatchNorm2D/1D  BatchNormalization with the running statistics: inference, as predict
    ReLU, LeakyReLU Relu, LeakyRelu (alpha)
    MaxPool2D       MaxPool, AvgPool2D AveragePool (kernel_shape, strides, no padding: floor, as here)
    GlobalAvgPool2D GlobalAveragePool, then Flatten: minicnn's layer returns (N, C)
    Flatten         Flatten (axis 1)
    Dense           Gemm: x (N, D) · weight (D, M) + bias
    Dropout         nothing: it is the identity at inference
    Residual        its body's nodes (names prefixed with the block's index), then Add of input and body

The batch size is left free (the input's first dimension is named "batch").  ``softmax=True``
appends a Softmax so that the output is the class probabilities, not the scores.  The file is
checked with ``onnx.checker`` and written atomically.  The ``onnx`` package is an optional extra:
``pip install -e ".[onnx]"``.  ``graph_nodes`` gives a model's nodes alone, for callers that build a
larger graph around it (fer_app.export puts the preprocessing and an ensemble's average around its nets).
"""
import json

import numpy as np

from .layers import (AvgPool2D, BatchNorm1D, BatchNorm2D, Conv2D, Dense, Dropout, Flatten, GlobalAvgPool2D,
                     LeakyReLU, MaxPool2D, ReLU, Residual)
from .serialization import write_atomically

OPSET = 17
IR_VERSION = 8        # the IR of opset 17: files older readers (OpenCV, ONNX Runtime) all accept


def require_onnx():
    """The onnx package, or an ImportError that says how to install it."""
    try:
        import onnx
    except ImportError:
        raise ImportError("exporting to ONNX needs the onnx package: pip install -e \".[onnx]\"") from None
    return onnx


def graph_nodes(model, input_name, prefix=""):
    """(nodes, initialisers, output name) computing ``model.predict`` on the tensor ``input_name``.

    Every name made here starts with ``prefix``, so that several models can share one graph.
    A layer with no ONNX form raises ValueError naming it."""
    onnx = require_onnx()
    helper = onnx.helper
    nodes, weights = [], []
    x = input_name

    def weight(name, array):
        full = f"{prefix}{name}"
        weights.append(onnx.numpy_helper.from_array(np.asarray(array, dtype=np.float32), full))
        return full

    def node(op, inputs, i, **attributes):
        out = f"{prefix}{i}.{op.lower()}"
        nodes.append(helper.make_node(op, inputs, [out], name=out, **attributes))
        return out

    for i, layer in enumerate(model.layers):
        p, kind = layer.params, type(layer)       # the exact class: a subclass may compute something else
        if kind is Conv2D:
            k, s, pad = layer.kernel_size, layer.stride, layer.padding
            x = node("Conv", [x, weight(f"{i}.weight", p["weight"]), weight(f"{i}.bias", p["bias"])], i,
                     kernel_shape=[k, k], strides=[s, s], pads=[pad] * 4)
        elif kind in (BatchNorm2D, BatchNorm1D):
            x = node("BatchNormalization", [x, weight(f"{i}.gamma", p["gamma"]), weight(f"{i}.beta", p["beta"]),
                                            weight(f"{i}.running_mean", layer.buffers["running_mean"]),
                                            weight(f"{i}.running_var", layer.buffers["running_var"])],
                     i, epsilon=float(layer.eps))
        elif kind is LeakyReLU:
            x = node("LeakyRelu", [x], i, alpha=float(layer.alpha))
        elif kind is ReLU:
            x = node("Relu", [x], i)
        elif kind in (MaxPool2D, AvgPool2D):
            k, s = layer.kernel_size, layer.stride
            x = node("MaxPool" if kind is MaxPool2D else "AveragePool", [x], i,
                     kernel_shape=[k, k], strides=[s, s])
        elif kind is GlobalAvgPool2D:
            x = node("Flatten", [node("GlobalAveragePool", [x], i)], i, axis=1)
        elif kind is Flatten:
            x = node("Flatten", [x], i, axis=1)
        elif kind is Dense:
            x = node("Gemm", [x, weight(f"{i}.weight", p["weight"]), weight(f"{i}.bias", p["bias"])], i)
        elif kind is Dropout:
            continue
        elif kind is Residual:
            body_nodes, body_weights, h = graph_nodes(layer.body, x, prefix=f"{prefix}{i}.")
            nodes += body_nodes
            weights += body_weights
            x = node("Add", [x, h], i)
        else:
            raise ValueError(f"layer {i} ({kind.__name__}) has no ONNX form: export knows "
                             "Conv2D, BatchNorm, ReLU, LeakyReLU, pooling, Flatten, Dense, Dropout and Residual")
    return nodes, weights, x


def build(nodes, weights, input_name, input_shape, output_name, output_size, metadata=None, graph_name="minicnn"):
    """A checked ONNX ModelProto: one float32 input (batch, *input_shape), one output (batch, output_size)."""
    onnx = require_onnx()
    helper = onnx.helper
    graph = helper.make_graph(
        nodes, graph_name,
        [helper.make_tensor_value_info(input_name, onnx.TensorProto.FLOAT, ["batch", *map(int, input_shape)])],
        [helper.make_tensor_value_info(output_name, onnx.TensorProto.FLOAT, ["batch", int(output_size)])],
        initializer=weights)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="minicnn",
                              ir_version=IR_VERSION)
    for key, value in (metadata or {}).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = str(key), value if isinstance(value, str) else json.dumps(value)
    onnx.checker.check_model(proto, full_check=True)
    return proto


def save(proto, path):
    """Write an ONNX ModelProto atomically (a temporary file, then a rename)."""
    def write(tmp):
        with open(tmp, "wb") as f:
            f.write(proto.SerializeToString())
    write_atomically(path, write)


def export(model, path, input_shape, softmax=False, metadata=None):
    """Write ``model`` (a Sequential) to ``path`` as ONNX, for inputs (batch, *input_shape).

    The output "probabilities" (softmax=True) or "scores" is (batch, classes).  ``metadata``: a dict
    stored in the file's metadata_props (values that are not strings as JSON).  Returns the ModelProto."""
    input_shape = tuple(int(d) for d in input_shape)
    out_size = model.predict(np.zeros((1, *input_shape), np.float32)).shape[1:]
    if len(out_size) != 1:
        raise ValueError(f"the model's output for {input_shape} inputs is {out_size} per example; "
                         "export needs one vector (end with Dense or global pooling)")
    nodes, weights, x = graph_nodes(model, "input", prefix="")
    output = "probabilities" if softmax else "scores"
    nodes.append(require_onnx().helper.make_node("Softmax" if softmax else "Identity", [x], [output],
                                                 **({"axis": 1} if softmax else {})))
    proto = build(nodes, weights, "input", input_shape, output, out_size[0], metadata)
    save(proto, path)
    return proto
