"""The training curves, confusion matrices and explain overview as PNG files, drawn with matplotlib (Agg,
no display needed).

Figures are built with matplotlib's object interface (Figure + FigureCanvasAgg), so drawing changes no
process-wide setting of the program that imports fer_app (no pyplot state, no backend switch).
"""
import errno

import cv2
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .cli import write_atomically


def write_png(path, image):
    """Write an OpenCV image as PNG, atomically."""
    def write(tmp):
        if not cv2.imwrite(tmp, image):
            raise OSError(errno.EIO, "cannot write a PNG file there", str(path))
    write_atomically(path, write, suffix=".png")


def save_figure(figure, path):
    """Write a matplotlib figure as PNG, atomically."""
    FigureCanvasAgg(figure)
    write_atomically(path, lambda tmp: figure.savefig(tmp, dpi=100), suffix=".png")


def training_curves(history, path):
    """Loss and accuracy per epoch, train vs val, and the learning rate, side by side, as a PNG."""
    save_figure(curves_figure(history), path)


def curves_figure(history):
    """The figure training_curves draws: one panel each for loss, accuracy and learning rate."""
    epochs = [h.get("epoch", i + 1) for i, h in enumerate(history)]
    get = lambda key: [h.get(key, np.nan) for h in history]                          # noqa: E731
    figure = Figure(figsize=(13.2, 3.6), layout="constrained")
    panels = figure.subplots(1, 3)
    for axes, title, series in ((panels[0], "loss", {"train": "train_loss", "val": "val_loss"}),
                                (panels[1], "accuracy", {"train": "train_acc", "val": "val_acc"}),
                                (panels[2], "learning rate", {"lr": "lr"})):
        for name, key in series.items():
            axes.plot(epochs, get(key), marker="o", markersize=3, label=name)
        axes.set_title(title)
        axes.set_xlabel("epoch")
        if len(epochs) <= 12:
            axes.set_xticks(epochs)               # a short run: every epoch, whole numbers only
        else:
            axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_xlim(min(epochs, default=1) - 0.5, max(epochs, default=1) + 0.5)
        axes.grid(alpha=0.3)
        if len(series) > 1:
            axes.legend()
    panels[2].set_ylim(bottom=0)                  # a learning rate is never negative
    panels[2].ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))
    return figure


def confusion_matrix_image(confusion, classes, path, title="confusion matrix"):
    """Row-normalised heat map (each true class sums to 100 %) with the counts written in each cell."""
    confusion = np.asarray(confusion)
    rates = confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1)
    K = len(classes)
    figure = Figure(figsize=(1.0 * K + 2.2, 1.0 * K + 1.6), layout="constrained")
    axes = figure.subplots()
    axes.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    for i in range(K):
        for j in range(K):
            colour = "white" if rates[i, j] > 0.5 else "black"
            axes.text(j, i, f"{int(confusion[i, j])}\n{100 * rates[i, j]:.0f}%", ha="center", va="center",
                      color=colour, fontsize=9)
    axes.set_xticks(range(K), classes, rotation=45, ha="right")
    axes.set_yticks(range(K), classes)
    axes.set_xlabel("predicted class")
    axes.set_ylabel("true class")
    axes.set_title(title)
    save_figure(figure, path)


def probability_bars(axes, probs, classes):
    """Horizontal bars of the class probabilities in %, the most likely one highlighted and named in the title."""
    best = int(np.argmax(probs))
    rows = range(len(classes))
    axes.barh(rows, 100 * np.asarray(probs), color=["tab:orange" if i == best else "tab:blue" for i in rows])
    axes.set_yticks(rows, classes)
    axes.invert_yaxis()
    axes.set_xlim(0, 100)
    axes.set_xlabel("probability (%)")
    axes.set_title(f"predicted: {classes[best]} ({100 * probs[best]:.1f} %)", fontsize=10)
    for i, p in enumerate(probs):
        axes.text(min(100 * p + 1, 88), i, f"{100 * p:.1f}", va="center", fontsize=8)


def probability_chart(probs, classes, path):
    """The class probabilities of one face as a PNG."""
    figure = Figure(figsize=(4.6, 3.2), layout="constrained")
    probability_bars(figure.subplots(), probs, classes)
    save_figure(figure, path)


def explain_overview(face, saliency, gradcam, probs, classes, path):
    """One face explained on one page: the face, its saliency and Grad-CAM maps, and the probabilities.

    face is the grey face the network takes (48×48, or its centre crop); saliency and gradcam are BGR overlays
    of the same face."""
    figure = Figure(figsize=(13, 3.6), layout="constrained")
    panels = figure.subplots(1, 4, width_ratios=[1, 1, 1, 1.3])
    figure.get_layout_engine().set(w_pad=0.15, h_pad=0.1)     # the titles keep clear of the picture's edge
    for axes, image, title in ((panels[0], face, f"the face, as the network sees it\n({face.shape[0]}×{face.shape[1]})"),
                               (panels[1], saliency, "saliency:\n|∂ score / ∂ pixel|"),
                               (panels[2], gradcam, "Grad-CAM:\nwhere the last conv block looks")):
        if image.ndim == 2:
            axes.imshow(image, cmap="gray", vmin=0, vmax=255)
        else:
            axes.imshow(image[..., ::-1])          # OpenCV's BGR to RGB
        axes.set_title(title, fontsize=10)
        axes.set_axis_off()
    probability_bars(panels[3], probs, classes)
    save_figure(figure, path)


def search_history(trials, path):
    """A hyper-parameter search as a PNG: each trial's val accuracy by trial number (finished ones as dots,
    pruned ones as crosses at their last reported value), and the best so far as a step line.

    trials: (number, state, value) with state "complete", "pruned", "fail" or "running"; value may be None."""
    figure = Figure(figsize=(7.5, 4.2), layout="constrained")
    axes = figure.subplots()
    for state, marker, colour in (("complete", "o", "tab:blue"), ("pruned", "x", "tab:grey")):
        shown = [(n, v) for n, s, v in trials if s == state and v is not None]
        if shown:
            axes.scatter(*zip(*shown), marker=marker, color=colour, label=f"{state} ({len(shown)})", zorder=3)
    finished = sorted((n, v) for n, s, v in trials if s == "complete" and v is not None)
    if finished:
        best = np.maximum.accumulate([v for _, v in finished])
        axes.step([n for n, _ in finished], best, where="post", color="tab:orange", label="best so far")
    failed = [n for n, s, _ in trials if s == "fail"]
    if failed:
        axes.scatter(failed, [0] * len(failed), marker="v", color="tab:red", label=f"failed ({len(failed)})", zorder=3)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("trial")
    axes.set_ylabel("validation accuracy")
    axes.set_title("hyper-parameter search")
    axes.grid(alpha=0.3)
    axes.legend(loc="best")
    save_figure(figure, path)


def importance_chart(importances, path):
    """Each searched parameter's share of the variation in val accuracy (Optuna's importances) as bars."""
    names = list(importances)
    figure = Figure(figsize=(6.5, 0.5 * len(names) + 1.4), layout="constrained")
    axes = figure.subplots()
    axes.barh(range(len(names)), [100 * importances[n] for n in names], color="tab:blue")
    axes.set_yticks(range(len(names)), names)
    axes.invert_yaxis()
    axes.set_xlim(0, 100)
    axes.set_xlabel("importance (% of the variation in val accuracy)")
    axes.set_title("which parameters mattered")
    for i, n in enumerate(names):
        axes.text(min(100 * importances[n] + 1, 90), i, f"{100 * importances[n]:.0f}", va="center", fontsize=9)
    save_figure(figure, path)
