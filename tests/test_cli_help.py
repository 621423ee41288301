"""Every option of every fer_app command shows its real default in --help, once."""
import argparse
import importlib

import pytest

from fer_app.cli import HelpFormatter

COMMANDS = ["train", "evaluate", "tune", "live", "analyze", "web", "explain", "demo", "ensemble", "swa", "export"]


def options(command):
    parser = importlib.import_module(f"fer_app.{command}").build_parser()
    formatter = HelpFormatter(parser.prog)
    return [(action, formatter._get_help_string(action)) for action in parser._actions
            if action.option_strings and not isinstance(action, argparse._HelpAction)
            and action.help != argparse.SUPPRESS]          # (an option for the command's own children)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_states_its_default_once(command):
    for action, text in options(command):
        if action.required:
            assert "default" not in text, action.option_strings
            continue
        assert text.count("default") == 1, f"{command} {action.option_strings[0]}: {text!r}"
        if action.default is not None and action.default is not False:
            shown = ",".join(map(str, action.default)) if isinstance(action.default, list) else str(action.default)
            assert f"default: {shown}" in text, f"{command} {action.option_strings[0]}: {text!r}"


def test_the_help_of_a_command_shows_the_parsers_values():
    text = importlib.import_module("fer_app.train").build_parser().format_help()
    assert "images per step (default: 64)" in text and "(default: None)" not in text


def test_options_whose_default_depends_on_the_detector_state_the_detectors_own():
    from fer_app.detect import HaarFaceDetector, YuNetFaceDetector
    helps = {action.option_strings[0]: text for action, text in options("live")}
    for option, field in (("--detect-width", "max_side"), ("--min-face", "min_face")):
        stated = f"default: {getattr(YuNetFaceDetector, field)} for yunet, {getattr(HaarFaceDetector, field)} for haar"
        assert stated in " ".join(helps[option].split()), helps[option]
    assert f"default: {YuNetFaceDetector.min_score})" in helps["--min-score"]
    assert f"default: {HaarFaceDetector.scale_factor})" in helps["--scale-factor"]
    assert f"default: {HaarFaceDetector.min_neighbors})" in helps["--min-neighbors"]
