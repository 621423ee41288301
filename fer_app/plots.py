"""PNG charts drawn with OpenCV alone (no plotting library needed): training curves and confusion matrices."""
import os

import cv2
import numpy as np

WHITE, BLACK, GREY = (255, 255, 255), (0, 0, 0), (200, 200, 200)
COLOURS = [(200, 90, 30), (40, 140, 240), (60, 170, 60), (50, 50, 210)]   # BGR
FONT = cv2.FONT_HERSHEY_SIMPLEX


def write_png(path, image):
    """Write atomically so a reader never sees half a picture."""
    tmp = f"{path}.tmp.png"
    if not cv2.imwrite(tmp, image):
        raise OSError(f"cannot write {path}")
    os.replace(tmp, path)


def _panel(series, title, size=(440, 300), fmt="{:.2f}"):
    """One line chart: series is {name: list of y values over epochs}; fmt writes the y-axis labels."""
    W, H = size
    img = np.full((H, W, 3), 255, np.uint8)
    left, right, top, bottom = 50, 15, 30, 35
    values = [v for ys in series.values() for v in ys if np.isfinite(v)]
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5, hi + 0.5
    n = max(len(ys) for ys in series.values()) if series else 1
    px = lambda i: int(left + (W - left - right) * (i / max(n - 1, 1)))          # noqa: E731
    py = lambda v: int(top + (H - top - bottom) * (1 - (v - lo) / (hi - lo)))    # noqa: E731
    for k in range(5):
        v = lo + (hi - lo) * k / 4
        cv2.line(img, (left, py(v)), (W - right, py(v)), GREY, 1)
        cv2.putText(img, fmt.format(v), (2, py(v) + 4), FONT, 0.35, BLACK, 1, cv2.LINE_AA)
    cv2.rectangle(img, (left, top), (W - right, H - bottom), BLACK, 1)
    cv2.putText(img, title, (left, 20), FONT, 0.5, BLACK, 1, cv2.LINE_AA)
    cv2.putText(img, "epoch", (W // 2 - 20, H - 8), FONT, 0.4, BLACK, 1, cv2.LINE_AA)
    cv2.putText(img, "1", (left - 3, H - bottom + 14), FONT, 0.35, BLACK, 1, cv2.LINE_AA)
    cv2.putText(img, str(n), (W - right - 12, H - bottom + 14), FONT, 0.35, BLACK, 1, cv2.LINE_AA)
    for (name, ys), colour in zip(series.items(), COLOURS):
        pts = [(px(i), py(v)) for i, v in enumerate(ys) if np.isfinite(v)]
        for a, b in zip(pts, pts[1:]):
            cv2.line(img, a, b, colour, 2, cv2.LINE_AA)
        for p in pts:
            cv2.circle(img, p, 2, colour, -1)
        y_label = top + 15 + 15 * list(series).index(name)
        cv2.putText(img, name, (W - right - 90, y_label), FONT, 0.4, colour, 1, cv2.LINE_AA)
    return img


def training_curves(history, path):
    """Loss and accuracy per epoch, train vs val, and the learning rate, side by side."""
    get = lambda key: [h.get(key, np.nan) for h in history]                          # noqa: E731
    loss = _panel({"train": get("train_loss"), "val": get("val_loss")}, "loss")
    acc = _panel({"train": get("train_acc"), "val": get("val_acc")}, "accuracy")
    lr = _panel({"lr": get("lr")}, "learning rate", fmt="{:.1e}")
    write_png(path, np.hstack([loss, acc, lr]))


def confusion_matrix_image(confusion, classes, path, title="confusion matrix (rows: true, columns: predicted)"):
    """Row-normalised heat map with the counts written in each cell."""
    K = len(classes)
    cell, left, top = 62, 90, 110
    img = np.full((top + K * cell + 20, left + K * cell + 20, 3), 255, np.uint8)
    rates = confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1)
    for i in range(K):
        for j in range(K):
            shade = int(255 * (1 - rates[i, j]))
            x0, y0 = left + j * cell, top + i * cell
            cv2.rectangle(img, (x0, y0), (x0 + cell, y0 + cell), (255, shade, shade), -1)
            colour = WHITE if rates[i, j] > 0.5 else BLACK
            cv2.putText(img, str(int(confusion[i, j])), (x0 + 6, y0 + 26), FONT, 0.45, colour, 1, cv2.LINE_AA)
            cv2.putText(img, f"{100 * rates[i, j]:.0f}%", (x0 + 6, y0 + 48), FONT, 0.4, colour, 1, cv2.LINE_AA)
        cv2.putText(img, classes[i], (4, top + i * cell + 36), FONT, 0.45, BLACK, 1, cv2.LINE_AA)
        label_pos = (left + i * cell + 4, top - 8)
        cv2.putText(img, classes[i][:8], label_pos, FONT, 0.4, BLACK, 1, cv2.LINE_AA)
    cv2.putText(img, title, (4, 20), FONT, 0.45, BLACK, 1, cv2.LINE_AA)
    write_png(path, img)
