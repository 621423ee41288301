"""Inference against what a user would deploy: minicnn's predict and predictor, PyTorch and ONNX Runtime, one run.

    python benchmarks/bench_inference.py [--arch small vgg] [--minicnn-first] [--busy N] [--threads N]

The same net in all three (ONNX Runtime runs the graph minicnn.onnx.export writes, its graph
optimisations on — it folds BatchNorm into the convolutions and fuses ReLU — and its threads told not to
spin between runs), at batch 64, at the live path's batches (one and three faces, each as the 10 views
of the default crops TTA: 10 and 30 images) and for one image, 2 threads each by default, timed in turn
(median of REPEATS).  minicnn twice: ``model.predict``, and a kept ``model.predictor()`` (its weights'
preparation done once, as an ONNX Runtime session's is, and as fer_app classifies).  Ratios: the other's
time / the predictor's, above 1 means minicnn is faster.  Then an
ensemble of two vgg nets, as fer_app.export writes it (one graph averaging both) against two files run
one after the other.
"""
import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import (add_scenario_arguments, busy_processes, environment, interleaved_medians, torch,  # noqa: E402
                    torch_twin)
import numpy as np  # noqa: E402

from fer_app import models  # noqa: E402
from fer_app.preprocess import Preprocessing  # noqa: E402
from minicnn import onnx as minicnn_onnx  # noqa: E402
from minicnn.serialization import save_models  # noqa: E402

try:
    import onnxruntime
except ImportError:
    sys.exit("bench_inference needs ONNX Runtime: pip install -e \".[onnx]\"")

REPEATS = 11


def session(path, threads):
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    # its threads otherwise spin after each run and take the cores from the next library timed (PyTorch's
    # time doubled); measured alone, ONNX Runtime is as fast either way
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", nargs="+", default=["small", "vgg"], choices=sorted(models.ARCHITECTURES))
    add_scenario_arguments(parser)
    args = parser.parse_args(argv)
    print(environment(args))
    print(f"ONNX Runtime {onnxruntime.__version__}: {args.threads} threads, graph optimisations on")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 1, 48, 48)).astype(np.float32)
    others = ["torch", "onnxruntime"] if torch is not None else ["onnxruntime"]
    print(f"{'net':<6}{'batch':>6}{'predict ms':>12}{'predictor ms':>14}"
          + "".join(f"{o + ' ms':>16}{'ratio':>7}" for o in others))
    with busy_processes(args.busy), tempfile.TemporaryDirectory() as tmp:
        for arch in args.arch:
            model = models.build(arch, np.random.default_rng(0))
            path = os.path.join(tmp, f"{arch}.onnx")
            minicnn_onnx.export(model, path, input_shape=(1, 48, 48))
            ort = session(path, args.threads)
            net = torch_twin(model).eval() if torch is not None else None
            predictor = model.predictor()
            for batch in (64, 30, 10, 1):
                xb = x[:batch]
                fns = {"predict": lambda: model.predict(xb), "predictor": lambda: predictor.predict(xb),
                       "onnxruntime": lambda: ort.run(None, {"input": xb})}
                if net is not None:
                    tx = torch.tensor(xb)

                    def torch_infer():
                        with torch.no_grad():
                            net(tx)
                    fns["torch"] = torch_infer
                t = interleaved_medians(fns, repeats=REPEATS, calls=max(1, 20 // batch))
                print(f"{arch:<6}{batch:>6}{1e3 * t['predict']:>12.2f}{1e3 * t['predictor']:>14.2f}"
                      + "".join(f"{1e3 * t[o]:>16.2f}{t[o] / t['predictor']:>7.2f}" for o in others), flush=True)
        ensemble_choice(tmp, x, args.threads)


def ensemble_choice(tmp, x, threads):
    """fer_app.export's ensemble (one graph, the mean inside) against one file per member, run in turn."""
    from fer_app.export import export
    members = {f"m{i}": models.build("vgg", np.random.default_rng(i)) for i in range(2)}
    for m in members.values():
        m.metadata.update(classes=list(models.CLASSES), preprocessing=Preprocessing().to_dict())
    save_models(os.path.join(tmp, "ensemble.npz"), members)
    export(os.path.join(tmp, "ensemble.npz"), os.path.join(tmp, "ensemble.onnx"))
    one_graph = session(os.path.join(tmp, "ensemble.onnx"), threads)
    apart = []
    for name, m in members.items():
        m.save(os.path.join(tmp, f"{name}.npz"))
        export(os.path.join(tmp, f"{name}.npz"), os.path.join(tmp, f"{name}.onnx"))
        apart.append(session(os.path.join(tmp, f"{name}.onnx"), threads))
    faces = (x + 2.0) / 4.0
    for batch in (64, 1):
        xb = faces[:batch]
        t = interleaved_medians({"one": lambda: one_graph.run(None, {"faces": xb}),
                                 "apart": lambda: [s.run(None, {"faces": xb}) for s in apart]},
                                repeats=REPEATS, calls=20 if batch == 1 else 1)
        print(f"ensemble of 2 vgg, batch {batch}: one graph {1e3 * t['one']:.2f} ms, "
              f"two files in turn {1e3 * t['apart']:.2f} ms ({t['apart'] / t['one']:.2f}x)")


if __name__ == "__main__":
    main()
