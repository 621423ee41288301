"""What a training run is: ``TrainConfig``, one typed configuration with its defaults and its checks.

The command line (``python -m fer_app.train``, whose options are made from these fields), a ``--config``
JSON file, the options a checkpoint keeps and each of fer_app.tune's trials are all a TrainConfig, checked
by the same rules (fer_app/checks.py).  Fields left None are filled by ``for_data`` once the data is known
(the demo faces get a smaller net, fewer epochs and a lower learning rate).
"""
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from .augment import BLUR_SIGMAS, CLOSEUP_SCALES, CUT_MAX, JPEG_QUALITIES, LOWRES_SIDES, Augmentation
from .checks import FRACTION, NON_NEGATIVE, POSITIVE, POSITIVE_INT, PROBABILITY, SEED, Range, UserError
from .data import LABEL_SOURCES
from .detect import DEFAULT_DETECTOR, DETECTORS
from .models import ARCHITECTURES, MIN_SIZE
from .preprocess import EQUALIZATIONS, FACE_SIZE

MAX_BATCH = 4096                # beyond this a step's activations outgrow a desktop's memory
AUGMENT = Augmentation()


def option(default, help, allowed=None, group="run", metavar=None):
    """A field that is also a command-line option: ``allowed`` is a checks.Range or a tuple of choices."""
    return field(default=default, metadata={"help": help, "allowed": allowed, "group": group, "metavar": metavar})


@dataclass(frozen=True)
class TrainConfig:
    data: str = option(None, "fer2013.csv[.gz], Kaggle folders, a class-folder tree, or 'demo' "
                             "(default: data/fer2013, then data/fer2013.csv, else demo)", group="data")
    val_fraction: float = option(0.1, "share of train held out when there is no val split", FRACTION, "data")
    skip_bad: bool = option(False, "skip (and count) bad rows/files (default: stop at the first)", group="data")
    no_cache: bool = option(False, "do not read or write the dataset cache (default: use it)", group="data")
    detector: str = option(DEFAULT_DETECTOR, "face detector for the photos of a class-folder tree (yunet or haar)",
                           tuple(sorted(DETECTORS)), "data")
    equalize: str = option("none", "histogram equalisation of faces", EQUALIZATIONS, "data")
    labels: str = option("fer2013", "where the labels come from: the dataset's own, or FER+'s ten crowd votes per "
                                    "FER-2013 face (ferplus.csv in the folder, or fer2013new.csv beside "
                                    "fer2013.csv; fer_app/ferplus.py)", LABEL_SOURCES, "data")
    ferplus_mix: float = option(1.0, "with --labels ferplus: share of the crowd's vote shares in each training "
                                     "target; the rest is the FER-2013 label", PROBABILITY, "data")

    arch: str = option(None, "architecture (default: vgg, or tiny on demo data)", tuple(sorted(ARCHITECTURES)), "model")
    dropout: float = option(None, "dropout rate (default: the architecture's)", FRACTION, "model")
    width: float = option(1.0, "channel multiplier of the architecture (0.5: half as wide, a quarter of the "
                                "multiply-adds)", Range(0.25, 4), "model")
    init: str = option(None, "start from this model file's weights (a model of the same --arch; fine-tuning, "
                             "snapshot ensembles) (default: random weights from --seed)", group="model",
                       metavar="MODEL")

    epochs: int = option(None, "number of epochs (default: 40, or 6 on demo data)", POSITIVE_INT, "optimisation")
    batch_size: int = option(64, "images per step", Range(1, MAX_BATCH, integer=True), "optimisation")
    optimizer: str = option("sgd", "SGD with momentum, or Adam", ("sgd", "adam"), "optimisation")
    lr: float = option(None, "learning rate (default: 0.05 for sgd, 0.02 on demo data, 0.002 for adam)", POSITIVE,
                       "optimisation")
    momentum: float = option(0.9, "SGD momentum", FRACTION, "optimisation")
    nesterov: bool = option(False, "Nesterov momentum (default: classical)", group="optimisation")
    weight_decay: float = option(5e-4, "L2 penalty on the weights", NON_NEGATIVE, "optimisation")
    schedule: str = option("cosine", "learning-rate schedule over the epochs", ("none", "step", "cosine", "plateau"),
                           "optimisation")
    cycles: int = option(1, "with --schedule cosine: restart the cosine this many times over --epochs (a "
                            "multiple of it) and keep the model at each cycle's end as <out>.cycle-K.npz, the "
                            "members of a snapshot ensemble", POSITIVE_INT, "optimisation")
    step_size: int = option(10, "epochs per decay for --schedule step", POSITIVE_INT, "optimisation")
    label_smoothing: float = option(0.1, "share of each target spread over all classes", FRACTION, "optimisation")
    class_weights: str = option("sqrt", "weight the loss by inverse class frequency (balanced) or its square root",
                                ("none", "balanced", "sqrt"), "optimisation")
    teacher: str = option(None, "distillation: also learn the soft targets of this model or ensemble file "
                                "(Hinton et al. 2015), computed once on the un-augmented training faces and "
                                "kept in the checkpoint (default: labels only)", group="optimisation", metavar="MODEL")
    distill_temperature: float = option(4.0, "temperature of the teacher's and the student's probabilities "
                                             "in the distillation loss", Range(1, 100), "optimisation", "T")
    distill_weight: float = option(0.5, "share of the distillation loss; the rest is the labels' cross-entropy",
                                   PROBABILITY, "optimisation")
    early_stop: int = option(None, "stop after this many epochs without a better val accuracy (default: never)",
                             POSITIVE_INT, "optimisation", "PATIENCE")

    no_augment: bool = option(False, "switch all augmentation off (default: on)", group="augmentation")
    rotation: float = option(AUGMENT.rotation, "max rotation, degrees", Range(0, 180), "augmentation")
    no_flip: bool = option(False, "no horizontal flips (default: flip half the faces)", group="augmentation")
    shift: float = option(AUGMENT.shift, "max shift, fraction of the side", Range(0, 0.5), "augmentation")
    zoom: float = option(AUGMENT.zoom, "max zoom in/out, fraction", FRACTION, "augmentation")
    brightness: float = option(AUGMENT.brightness, "max brightness change ([0, 1] units)", PROBABILITY, "augmentation")
    contrast: float = option(AUGMENT.contrast, "max contrast change, fraction", PROBABILITY, "augmentation")
    noise: float = option(AUGMENT.noise, "Gaussian noise std ([0, 1] units)", PROBABILITY, "augmentation")
    erase: float = option(AUGMENT.erase, "probability of random erasing", PROBABILITY, "augmentation")
    lowres: float = option(AUGMENT.lowres, "probability of a low-resolution copy of the face (shrunk to "
                                           f"{LOWRES_SIDES[0]}-{LOWRES_SIDES[1]} px and enlarged back, as live "
                                           "enlarges a far face)", PROBABILITY, "augmentation")
    jpeg: float = option(AUGMENT.jpeg, "probability of a JPEG-compressed copy of the face (quality "
                                       f"{JPEG_QUALITIES[0]}-{JPEG_QUALITIES[1]}, as a video stream or a shared photo "
                                       "compresses it)", PROBABILITY, "augmentation")
    blur: float = option(AUGMENT.blur, "probability of a blurred copy of the face (a Gaussian of sigma "
                                       f"{BLUR_SIGMAS[0]}-{BLUR_SIGMAS[1]} px: out of focus, or moving)", PROBABILITY,
                         "augmentation")
    cut: float = option(AUGMENT.cut, f"probability of a face cut short: up to {CUT_MAX:.0%}% of each side replaced by "
                                     "its repeated edge, as the live crop fills a face cut by the frame's edge",
                        PROBABILITY, "augmentation")
    closeup: float = option(AUGMENT.closeup, "probability of a close-up: the face enlarged "
                                             f"{CLOSEUP_SCALES[0]}-{CLOSEUP_SCALES[1]} times about its centre, its rim "
                                             "lost, as the live crop takes a face photo cropped inside the face",
                            PROBABILITY, "augmentation")
    crop: int = option(None, "train on random CROPxCROP crops of the augmented 48x48 face (e.g. 44): the net takes "
                             "CROPxCROP faces, validation and use take the centre crop and --tta crops the four "
                             "corners and the centre (default: the whole face)", Range(MIN_SIZE, FACE_SIZE,
                                                                                     integer=True), "augmentation")

    out: str = option(None, "where the best model goes; its checkpoint, log and curves go beside it "
                            "(default: runs/<data>-<arch>.npz, numbered -2, -3 … when taken)")
    seed: int = option(0, "random seed (weights, shuffling, augmentation)", SEED)
    threads: int = option(None, "threads for minicnn (default: the cores this process may use)",
                          Range(1, 1024, integer=True))
    device: str = option("cpu", "where minicnn trains: the CPU's cores, or cuda: an NVIDIA GPU through CuPy "
                                "(pip install cupy-cuda12x)", ("cpu", "cuda"))
    checkpoint_minutes: float = option(5.0, "also checkpoint inside an epoch this often (0: only at epoch ends)",
                                       NON_NEGATIVE)
    quiet: bool = option(False, "no progress bar (default: a bar on a terminal)")

    def __post_init__(self):
        for f in fields(self):
            problem = value_problem(f, getattr(self, f.name))
            if problem:
                raise UserError(f"{f.name} {problem}")
        if self.nesterov and self.momentum == 0:
            raise UserError("nesterov needs a momentum above 0")
        if self.cycles > 1 and self.schedule != "cosine":
            raise UserError(f"cycles {self.cycles} needs schedule cosine, not {self.schedule}")
        if self.epochs and self.epochs % self.cycles:
            raise UserError(f"epochs {self.epochs} is not a multiple of cycles {self.cycles}")

    @classmethod
    def from_dict(cls, options, source):
        """A configuration from a dict (a --config file, a checkpoint's options); UserError naming ``source``
        and the option for anything unknown or out of range."""
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise UserError(f"{source}: unknown option(s) {', '.join(unknown)}")
        for name, value in options.items():
            problem = value_problem(known[name], value)
            if problem:
                raise UserError(f"{source}: {name!r} {problem}")
        try:
            return cls(**options)
        except UserError as e:
            raise UserError(f"{source}: {e}") from None

    def to_dict(self):
        return asdict(self)

    def for_data(self, data):
        """The defaults that depend on the data filled in: demo data gets the tiny net, 6 epochs, lr 0.02."""
        demo = data == "demo"
        arch = self.arch or ("tiny" if demo else "vgg")
        return replace(self, data=data, arch=arch, epochs=self.epochs or (6 if demo else 40),
                       lr=self.lr or (0.002 if self.optimizer == "adam" else 0.02 if demo else 0.05),
                       out=self.out or f"runs/{'demo' if demo else Path(data).name.split('.')[0]}-{arch}.npz")

    def augmentation(self):
        """The Augmentation these options ask for (each of its fields but flip is an option of the same name)."""
        names = [f.name for f in fields(Augmentation) if f.name != "flip"]
        if self.no_augment:
            return Augmentation(flip=False, **dict.fromkeys(names, 0))
        return Augmentation(flip=not self.no_flip, **{name: getattr(self, name) for name in names})


def value_problem(f, value):
    """What is wrong with ``value`` for the field ``f``, or None (None itself is always allowed: "default")."""
    allowed = f.metadata["allowed"]
    if value is None:
        return None
    if isinstance(allowed, Range):
        return allowed.problem(value)
    if isinstance(allowed, tuple):
        return None if value in allowed else f"must be one of {', '.join(allowed)}, got {value!r}"
    if f.type is bool:
        return None if isinstance(value, bool) else f"must be true or false, got {value!r}"
    return None if isinstance(value, str) else f"must be a string, got {value!r}"


def add_options(parser, only=None):
    """One command-line option per TrainConfig field (or per field named in ``only``: another command that takes
    some of train's options, stated once here), in its group, with its rule as the argparse type."""
    groups = {}
    for f in fields(TrainConfig):
        if only is not None and f.name not in only:
            continue
        meta = f.metadata
        group = groups.get(meta["group"]) or groups.setdefault(meta["group"], parser.add_argument_group(meta["group"]))
        flag = "--" + f.name.replace("_", "-")
        if f.type is bool:
            group.add_argument(flag, action="store_true", help=meta["help"])
        elif isinstance(meta["allowed"], tuple):
            group.add_argument(flag, choices=meta["allowed"], default=f.default, help=meta["help"])
        else:
            group.add_argument(flag, type=meta["allowed"], default=f.default, help=meta["help"], metavar=meta["metavar"])
    return groups
