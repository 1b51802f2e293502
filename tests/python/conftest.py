"""pytest fixtures shared by the reference tests.

`shim` is the ctypes handle to the test shim library (path in $NM_SHIM, set by ctest);
`rng` is a fresh, logged random generator so every run draws new inputs but a failure
can be replayed with NM_SEED=<seed>.
"""
import ctypes
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "reference"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tools"))


@pytest.fixture(scope="session")
def shim():
    path = os.environ.get("NM_SHIM")
    if not path:
        pytest.fail("NM_SHIM is not set: run these tests through ctest")
    return ctypes.CDLL(path)


@pytest.fixture
def rng(request):
    seed = int(os.environ.get("NM_SEED", np.random.SeedSequence().entropy % (2**32)))
    print(f"{request.node.name}: NM_SEED={seed}")
    return np.random.default_rng(seed)


def ptr(a: np.ndarray):
    """ctypes void* to a contiguous numpy array's data."""
    assert a.flags["C_CONTIGUOUS"]
    return ctypes.c_void_p(a.ctypes.data)
