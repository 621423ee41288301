"""The pictures: a one-epoch training run still gets readable curves; the confusion matrix says what it shows."""
import numpy as np

from fer_app import plots

ONE_EPOCH = [{"epoch": 1, "train_loss": 2.03, "val_loss": 1.75, "train_acc": 0.22, "val_acc": 0.30, "lr": 0.05}]


def test_one_epoch_curves_have_whole_epoch_ticks_and_no_negative_learning_rate(tmp_path):
    figure = plots.curves_figure(ONE_EPOCH)
    loss, accuracy, lr = figure.axes
    for axes in (loss, accuracy, lr):
        assert list(axes.get_xticks()) == [1] and axes.get_xlabel() == "epoch"
        assert axes.get_lines()[0].get_xydata().tolist()[0][0] == 1
    assert lr.get_ylim()[0] == 0 and [t.get_text() for t in loss.get_legend().get_texts()] == ["train", "val"]
    plots.training_curves(ONE_EPOCH, tmp_path / "c.png")
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_long_runs_get_whole_epoch_ticks_too():
    history = [dict(ONE_EPOCH[0], epoch=e) for e in range(1, 89)]
    for axes in plots.curves_figure(history).axes:
        ticks = axes.get_xticks()
        assert np.allclose(ticks, np.round(ticks))


def test_confusion_matrix_png(tmp_path):
    path = tmp_path / "cm.png"
    plots.confusion_matrix_image(np.array([[5, 1], [0, 4]]), ["happy", "sad"], path, "val: accuracy 90.0%, no TTA")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["cm.png"]           # no temporary file left beside it
