"""The real-weight tier's gate, shared by its tests (label "real" in tests/CMakeLists.txt).

The tier runs where NM_REAL=1 (`NM_REAL=1 ctest -L real`) or NM_REAL_REQUIRED=1
(scripts/test.sh sets the latter after scripts/fetch-models.sh): then a missing model file
fails the test instead of skipping it, so CI cannot pass by not having the files.
"""
import os

import pytest

MODELS_DIR = os.environ.get("NM_MODELS_DIR") or os.path.join(
    os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "nanomind", "models")


def required():
    return os.environ.get("NM_REAL_REQUIRED") == "1"


def require_tier():
    """Skips the calling test unless the real-weight tier was asked for."""
    if os.environ.get("NM_REAL") != "1" and not required():
        pytest.skip("the real-weight tier runs with NM_REAL=1 (or NM_REAL_REQUIRED=1, as scripts/test.sh sets)")


def missing(path):
    """A model file that should be there is not: a failure where the files are required."""
    msg = f"{path} is missing: run scripts/fetch-models.sh"
    if required():
        pytest.fail(msg)
    pytest.skip(msg)


def model_file(name):
    """The path of a fetched model file, after the tier's gate; skips or fails without it."""
    require_tier()
    path = os.path.join(MODELS_DIR, name)
    if not os.path.exists(path):
        missing(path)
    return path
