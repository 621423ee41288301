"""Every test sees the commands as a user without FER-2013 would: $FER2013_DIR, which points the tests that
need the real data at it (read when their module is imported), is not passed on to the code under test."""
import pytest


@pytest.fixture(autouse=True)
def no_fer2013_dir_for_the_code_under_test(monkeypatch):
    monkeypatch.delenv("FER2013_DIR", raising=False)
