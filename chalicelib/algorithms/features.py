"""Metadata columns -> a sparse feature matrix, one row per user or item.

Seed: "Datasets and Schemas" (Users and Items datasets; string fields marked
`"categorical": true` hold several values separated by `|`) and the
HRNN-metadata recipe ("additional features derived from ... user and item
metadata"). Encoding:

- categorical field: one column per distinct value (`field=value`), the row's
  values weighted 1/sqrt(count) so a row with many genres is not louder than
  a row with one;
- other string field: one column per distinct whole value, kept only when the
  field has at most `MAX_STRING_VALUES` distinct values (free text and ids
  carry no reusable signal);
- numeric field: one column, z-scored over the known values, missing -> 0,
  clipped to +-5 standard deviations.

Rows with no metadata are all zero.
"""
from __future__ import annotations

from typing import List, Optional, Tuple

import numpy as np
import scipy.sparse as sp

from chalicelib.algorithms.base import Metadata

MAX_STRING_VALUES = 1000


def metadata_features(meta: Optional[Metadata], n: int) -> Tuple[Optional[sp.csr_matrix], List[str]]:
    """Encode `meta` for `n` entities; returns `(csr [n, F] float64, column names)`,
    or `(None, [])` when there is nothing to encode."""
    if meta is None or not meta.fields:
        return None, []
    rows, cols, vals, names = [], [], [], []
    for fname in sorted(meta.fields):
        col = np.asarray(meta.fields[fname])
        if col.shape[0] != n:
            raise ValueError(f"metadata field {fname!r} has {col.shape[0]} rows, expected {n}")
        if col.dtype.kind in "fiub":
            _numeric(col.astype(np.float64), fname, rows, cols, vals, names)
        else:
            _strings(col.astype(str), fname, fname in meta.categorical, rows, cols, vals, names)
    if not names:
        return None, []
    m = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                      shape=(n, len(names)), dtype=np.float64)
    m.sum_duplicates()
    return m, names


def _numeric(col, fname, rows, cols, vals, names):
    known = np.isfinite(col)
    if known.sum() == 0:
        return
    mu, sd = col[known].mean(), col[known].std()
    z = np.zeros_like(col)
    z[known] = np.clip((col[known] - mu) / (sd if sd > 0 else 1.0), -5.0, 5.0)
    nz = np.flatnonzero(z)
    rows.append(nz)
    cols.append(np.full(nz.shape[0], len(names)))
    vals.append(z[nz])
    names.append(fname)


def _strings(col, fname, categorical, rows, cols, vals, names):
    r, v = [], []
    for i, s in enumerate(col):
        parts = [p.strip() for p in s.split("|")] if categorical else [s.strip()]
        parts = sorted({p for p in parts if p and p.lower() not in ("nan", "none")})
        for p in parts:
            r.append(i)
            v.append(p)
    if not v:
        return
    vocab, inv = np.unique(np.asarray(v), return_inverse=True)
    if not categorical and vocab.shape[0] > MAX_STRING_VALUES:
        return
    r = np.asarray(r)
    per_row = np.bincount(r, minlength=col.shape[0])
    rows.append(r)
    cols.append(inv + len(names))
    vals.append(1.0 / np.sqrt(per_row[r]))
    names.extend(f"{fname}={value}" for value in vocab)
