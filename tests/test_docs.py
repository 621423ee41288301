"""The worked examples in docs/ are executed, so the numbers in the docs stay true."""
import doctest
from pathlib import Path

import pytest

DOCS = sorted((Path(__file__).resolve().parents[1] / "docs").glob("*.md"))


@pytest.mark.parametrize("page", DOCS, ids=lambda p: p.name)
def test_worked_examples(page):
    result = doctest.testfile(str(page), module_relative=False, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} example(s) in {page.name} disagree with the code"


def test_every_block_has_a_page():
    names = {p.stem for p in DOCS}
    assert {"convolution", "pooling", "dense", "relu", "dropout", "batchnorm", "residual", "softmax_cross_entropy",
            "sgd", "adam", "gradient_checking"} <= names
