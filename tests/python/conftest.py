"""pytest fixtures shared by the reference tests.

`shim` is the ctypes handle to the test shim library (path in $NM_SHIM, set by ctest);
`lib` the public C API's shared library (path in $NM_LIB) through tools/nanomind_ctypes.py;
`rng` is a fresh, logged random generator so every run draws new inputs but a failure
can be replayed with NM_SEED=<seed>.
"""
import ctypes
import os
import subprocess
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "reference"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tools"))


def _path_from_ctest(var):
    path = os.environ.get(var)
    if not path:
        pytest.fail(f"{var} is not set: run these tests through ctest")
    return path


@pytest.fixture(scope="session")
def shim():
    return ctypes.CDLL(_path_from_ctest("NM_SHIM"))


@pytest.fixture(scope="session")
def lib():
    import nanomind_ctypes
    return nanomind_ctypes.NanoMind(_path_from_ctest("NM_LIB"))


@pytest.fixture
def rng(request):
    seed = int(os.environ.get("NM_SEED", np.random.SeedSequence().entropy % (2**32)))
    print(f"{request.node.name}: NM_SEED={seed}")
    return np.random.default_rng(seed)


def ptr(a: np.ndarray):
    """ctypes void* to a contiguous numpy array's data."""
    assert a.flags["C_CONTIGUOUS"]
    return ctypes.c_void_p(a.ctypes.data)


@pytest.fixture(scope="session")
def tiny_q8_model(tmp_path_factory):
    """A tiny random-weight Q8_0 LLaMA GGUF (tools/make_tiny_llm.py --preset tiny), made once."""
    out = tmp_path_factory.mktemp("m") / "tiny.gguf"
    tools = os.path.join(os.path.dirname(__file__), "..", "..", "tools")
    subprocess.run([sys.executable, os.path.join(tools, "make_tiny_llm.py"), "--preset", "tiny", "--type", "q8_0",
                    "--out", str(out)], check=True, capture_output=True)
    return str(out)
