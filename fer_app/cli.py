"""What every fer_app command shares: its --help layout, and what it does with errors a user can cause
(one line on stderr, a non-zero exit)."""
import argparse
import sys
from pathlib import Path

from minicnn.serialization import ModelFileError, write_atomically
from minicnn.runtime import keep_freed_memory

from .checks import UserError
from .classifier import CROWD_MODEL, DEFAULT_TTA, SHIPPED_MODEL, TTA_NAMES
from .detect import DEFAULT_DETECTOR, DETECTOR_RANGES, DETECTORS
from .detect import HaarFaceDetector as HAAR
from .detect import YuNetFaceDetector as YUNET


def run_command(body):
    """Call ``body()`` and return its exit code; user errors print ``error: …`` and give 2, Ctrl-C gives 130.

    User errors are UserError, a bad model file (ModelFileError), and a file the system refuses to read or
    write (an OSError that names it: permission denied, disk full, a folder where a file was expected).
    Anything else is a bug and keeps its traceback.  A command owns its process, so it opts in to keeping
    freed memory (minicnn/runtime.py)."""
    keep_freed_memory()
    try:
        return body()
    except (UserError, ModelFileError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        if e.filename is None:
            raise
        print(f"error: {e.filename}: {e.strerror or e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("aborted", file=sys.stderr)
        return 130


def write_text_atomically(path, text):
    write_atomically(path, lambda tmp: Path(tmp).write_text(text))


class HelpFormatter(argparse.HelpFormatter):
    """--help that shows each option's default once: appended from the parser unless the help text
    already says it (an option whose default depends on others explains it in words)."""

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        unset = default is None or default is False or default is argparse.SUPPRESS    # 0 is a real default
        if "default" in text or unset or not action.option_strings:
            return text
        if isinstance(default, (list, tuple)):
            default = ",".join(str(v) for v in default)
        return f"{text} (default: {default})".strip()


class Parser(argparse.ArgumentParser):
    """argparse, with a mistake in the options reported on one line (not under the whole usage), and no
    option left empty (``--data ""`` would otherwise mean the current folder or the default)."""

    def parse_args(self, args=None, namespace=None):
        parsed = super().parse_args(args, namespace)
        for action in self._actions:
            if action.option_strings and getattr(parsed, action.dest, None) == "":
                self.error(f"argument {action.option_strings[-1]}: must not be empty")
        return parsed

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def add_tta_option(parser):
    """--tta [none|mirror|crops]: test-time views to average (fer_app.classifier.ExpressionClassifier.predict_proba)."""
    parser.add_argument("--tta", nargs="?", const="mirror", choices=TTA_NAMES, default=DEFAULT_TTA,
                        help="average each face over test-time views: crops (ten views: the face moved by 2 px four "
                             "ways, each mirrored too; about 4x the classifier's time of one view), mirror (--tta "
                             "alone: the face and its mirror image) or none (the face alone, fastest)")


def add_detector_options(parser):
    """--detector and its settings, for the commands that find faces in pictures (live, analyze); after parsing,
    check_detector_options, then recognizer(args) builds the EmotionRecognizer they describe."""
    parser.add_argument("--detector", choices=sorted(DETECTORS), default=DEFAULT_DETECTOR,
                        help="yunet: a small CNN, finds tilted and turned faces and levels their eyes; haar: "
                             "OpenCV's cascade, frontal faces only")
    parser.add_argument("--detect-width", type=DETECTOR_RANGES["max_side"],
                        help=f"detect on frames shrunk to this longer side (default: {YUNET.max_side} for yunet, "
                             f"{HAAR.max_side} for haar)")
    parser.add_argument("--min-face", type=DETECTOR_RANGES["min_face"],
                        help=f"smallest face side in pixels (default: {YUNET.min_face} for yunet, {HAAR.min_face} "
                             "for haar)")
    parser.add_argument("--min-score", type=DETECTOR_RANGES["min_score"],
                        help=f"yunet: lowest confidence kept (default: {YUNET.min_score})")
    parser.add_argument("--scale-factor", type=DETECTOR_RANGES["scale_factor"],
                        help=f"haar: cascade scale step (default: {HAAR.scale_factor})")
    parser.add_argument("--min-neighbors", type=DETECTOR_RANGES["min_neighbors"],
                        help=f"haar: cascade min neighbours (default: {HAAR.min_neighbors})")
    parser.add_argument("--no-align", action="store_true", help="do not turn faces level by their eyes (default: "
                                                                "yunet faces are turned level)")


def check_detector_options(parser, args):
    """An option of the detector not chosen is a mistake, said in one line."""
    detector_only = {"haar": ("min_score",), "yunet": ("scale_factor", "min_neighbors")}[args.detector]
    for name in detector_only:
        if getattr(args, name) is not None:
            parser.error(f"--{name.replace('_', '-')} is an option of the other detector, not {args.detector}")


def face_command_main(build_parser, run, argv=None):
    """main() of a command that finds faces and has nothing more to check (analyze, web): parse, check the
    detector options, run."""
    parser = build_parser()
    args = parser.parse_args(argv)
    check_detector_options(parser, args)
    return run_command(lambda: run(args))


def add_model_option(p):
    """--model, the same for every command that classifies faces."""
    p.add_argument("--model", help=f"model file (default: the shipped {SHIPPED_MODEL.name}; {CROWD_MODEL} beside "
                                   "it reads faces as FER+'s crowd does, docs/model.md)")


def recognizer(args):
    """The EmotionRecognizer that add_detector_options' options, --model and --tta describe."""
    from .recognizer import EmotionRecognizer
    return EmotionRecognizer(args.model, args.detector, min_face=args.min_face, max_side=args.detect_width,
                             min_score=args.min_score, scale_factor=args.scale_factor,
                             min_neighbors=args.min_neighbors, align=not args.no_align, tta=args.tta)


def parser(prog, description):
    """The argument parser every fer_app command starts from."""
    return Parser(prog=f"python -m fer_app.{prog}", description=description, formatter_class=HelpFormatter)
