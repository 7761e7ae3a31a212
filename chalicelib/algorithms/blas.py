"""Run a block with single-threaded BLAS.

Recurrent training multiplies many small matrices (a batch of ~31 rows by a
few hundred columns). Multi-threaded OpenBLAS splits such products across
threads that then wait for each other; on a busy 2-core machine a 31x149 by
149x447 product was measured at 9.7 ms with 2 threads and 0.3 ms with one.
NumPy has no API for the thread count, so this finds the OpenBLAS bundled with
the numpy wheel through ctypes and sets it for the duration of the block
(restoring the previous value). Where the library or symbol is not found it
does nothing.
"""
from __future__ import annotations

import contextlib
import ctypes
import glob
import os

import numpy as np

_API = None


def _find_api():
    global _API
    if _API is not None:
        return _API or None
    _API = False
    libdir = os.path.join(os.path.dirname(os.path.dirname(np.__file__)), "numpy.libs")
    for path in sorted(glob.glob(os.path.join(libdir, "*openblas*.so*"))):
        try:
            lib = ctypes.CDLL(path)   # already loaded by numpy: same handle
        except OSError:
            continue
        for suffix in ("64_", "_64_", ""):
            get = getattr(lib, f"scipy_openblas_get_num_threads{suffix}", None)
            put = getattr(lib, f"scipy_openblas_set_num_threads{suffix}", None)
            if get is not None and put is not None:
                get.restype = ctypes.c_int
                put.argtypes = [ctypes.c_int]
                _API = (get, put)
                return _API
    return None


@contextlib.contextmanager
def single_threaded_blas():
    api = _find_api()
    if api is None:
        yield
        return
    get, put = api
    before = get()
    put(1)
    try:
        yield
    finally:
        put(before)
