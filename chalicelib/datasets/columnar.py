"""A block of CSV lines -> typed column arrays in numpy, without a Python object per cell.

Seed: "Formatting your Input Data" (CSV, the first row holds the headers) and "Datasets
and Schemas" (the field types). This is the importer's fast path; the exact path is
`csv_stream.RowBatches` + `cells.convert`, whose rules and messages are the only rules.

`parse_block` takes whole lines (no header) and answers the typed columns only for the
blocks it can read *and* that hold no problem: no quote character, no NUL, UTF-8 text,
one line-end style (LF, or CRLF throughout), no blank line, every line with the header's
number of values, no field over csv's size limit, every cell valid for its type. Anything
else answers None, and the importer reads that block again on the exact path, which
reports file, line, column and rule as it always has. A column whose cells are valid but
not in the plain forms read here (" 5", "+5", "1e3", booleans) is converted by
`cells.convert` from its decoded strings, so the values are the same either way.

Numbers: an integer is [-]digits (up to 18); a decimal is [-]digits[.digits] with at most
15 digits, computed as mantissa / 10**fraction digits - both exact in float64, and IEEE
division rounds correctly, so the value equals float(text). String cells come out as
`Keys` (their bytes packed into integers), which `KeyCodes` turns into dictionary codes.
"""
from __future__ import annotations

import csv
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from chalicelib.datasets import cells
from chalicelib.datasets.schema import FieldSpec

COMMA, LF, MINUS, DOT = 44, 10, 45, 46
PAD = 32                      # zero bytes around the block: right-aligned reads stay inside
MAX_INT_DIGITS = 18           # below 10**18 < 2**63
MAX_DECIMAL_DIGITS = 15       # below 2**53: the mantissa is exact in float64
_LOW_BYTES = np.array([(1 << (8 * n)) - 1 for n in range(8)] + [(1 << 64) - 1], dtype=np.uint64)
_POW10 = 10 ** np.arange(MAX_INT_DIGITS, dtype=np.int64)


class Keys:
    """One string column of a block: each cell's UTF-8 bytes packed into a key (uint64 for
    cells of at most 8 bytes, else fixed-width bytes); zero padding is unambiguous because
    a block with a NUL byte never reaches here. Key 0 / b"" is the empty cell."""

    def __init__(self, keys: np.ndarray):
        self.keys = keys

    def __len__(self):
        return len(self.keys)


def parse_block(block: bytes, width: int,
                specs: Sequence[Tuple[int, FieldSpec]]) -> Optional[Tuple[int, Dict[str, tuple]]]:
    """(rows, {field: (data, null_mask)}) for a block of whole lines, or None when the
    block must be read on the exact path (see the module doc). `data` is `Keys` for
    string fields, the numpy array `cells.convert` would give otherwise."""
    if not block.endswith(b"\n"):
        block += b"\n"          # the file's last line without its line end
    if b'"' in block or b"\x00" in block:
        return None
    if not block.isascii():
        try:
            block.decode("utf-8")
        except UnicodeDecodeError:
            return None
    buf = np.frombuffer(bytes(PAD) + block + bytes(PAD), dtype=np.uint8)
    line_ends = buf == LF
    lines = int(np.count_nonzero(line_ends))
    crs = 0
    if b"\r" in block:         # bytes.count is slower than a numpy pass
        crs = block.count(b"\r")
        if crs != lines or block.count(b"\r\n") != lines:
            return None         # a lone CR, or mixed line ends: csv's own line splitting
    seps = np.flatnonzero(line_ends | (buf == COMMA))
    if seps.size != lines * width:
        return None
    seps = seps.reshape(lines, width)
    if not (buf[seps[:, -1]] == LF).all():
        return None             # some line has more or fewer values than the header
    starts = np.empty_like(seps)
    starts.flat[0] = PAD
    starts.flat[1:] = seps.flat[:-1] + 1
    lengths = seps - starts
    if crs:
        lengths[:, -1] -= 1     # the CR of CRLF ends the line, not the last value
    if width == 1 and not lengths.all():
        return None             # a blank line: csv skips it
    if lengths.max(initial=0) > csv.field_size_limit():
        return None
    columns = {}
    for index, spec in specs:
        column = _column(buf, block, starts[:, index], lengths[:, index], spec)
        if column is None:
            return None
        columns[spec.name] = column
    return lines, columns


def _column(buf, block, starts, lengths, spec: FieldSpec):
    empty = lengths == 0
    has_empty = bool(empty.any())
    if has_empty and not spec.nullable:
        return None
    mask = empty if has_empty else None
    if spec.type == "string":
        return Keys(_keys(buf, starts, lengths)), mask
    data = None
    if spec.type in ("int", "long"):
        data = _integers(buf, starts, lengths)
        if data is not None and not _integers_fit(data, spec):
            return None
    elif spec.type in ("float", "double"):
        data = _decimals(buf, starts, lengths)
    if data is None:            # valid cells in other forms, or booleans: the exact rules
        values = [block[s - PAD:s - PAD + n].decode("utf-8")
                  for s, n in zip(starts.tolist(), lengths.tolist())]
        try:
            return cells.convert(values, spec)
        except cells.CellProblems:
            return None
    if spec.type == "int":
        data = data.astype(np.int32)
    return data, mask


def _integers_fit(data, spec: FieldSpec) -> bool:
    low, high = cells.INT32 if spec.type == "int" else cells.INT64
    ok = bool(((data >= low) & (data <= high)).all())
    if ok and spec.name == "TIMESTAMP":
        ok = bool(((data >= 0) & (data < cells.MAX_TIMESTAMP)).all())
    return ok


def _integers_long(buf, starts, lengths) -> Optional[np.ndarray]:
    """`_integers` for cells of 17 or 18 digits."""
    aligned = _right_aligned(buf, starts, lengths, MAX_INT_DIGITS)
    if aligned is None:
        return None
    negative, matrix, valid, digits = aligned
    values = matrix.astype(np.int64) - 48
    if (((values < 0) | (values > 9)) & valid).any():
        return None
    values[~valid] = 0
    out = values @ _POW10[:matrix.shape[1]][::-1]
    return np.where(negative, -out, out)


def _right_aligned(buf, starts, lengths, max_width):
    """(negative, bytes matrix right-aligned on each cell's end, valid positions), or None
    when a cell is longer than max_width."""
    negative = (buf[starts] == MINUS) & (lengths > 0)
    ends = starts + lengths
    digits = lengths - negative
    width = int(digits.max(initial=0))
    if width > max_width:
        return None
    if width == 0:
        width = 1
    columns = np.arange(width)
    matrix = buf[ends[:, None] - width + columns]
    valid = columns >= (width - digits)[:, None]
    return negative, matrix, valid, digits


def _integers(buf, starts, lengths) -> Optional[np.ndarray]:
    """int64 values of [-]digits cells (empty cells: 0), or None if a cell has another form."""
    negative = (buf[starts] == MINUS) & (lengths > 0)
    digits = lengths - negative
    if ((digits == 0) & negative).any():
        return None
    if digits.max(initial=0) > 16:
        return _integers_long(buf, starts, lengths)
    words = _words(buf)
    ends = starts + lengths
    # The last 8 digits and the 8 before, right-aligned, '0' where the cell has none.
    low = _zero_filled(words[ends - 8], 8 - np.minimum(digits, 8))
    high = _zero_filled(words[ends - 16], 16 - np.maximum(digits, 8))
    if not (_all_digits(low) & _all_digits(high)).all():
        return None
    out = (_eight_digits(high).astype(np.int64) * 100_000_000
           + _eight_digits(low).astype(np.int64))   # uint64 + int64 would be float64
    return np.where(negative, -out, out)


def _words(buf):
    """Eight bytes read at every offset (unaligned, little-endian)."""
    return np.ndarray(shape=(len(buf) - 8,), dtype="<u8", buffer=buf, strides=(1,))


_ZEROS = np.uint64(0x3030303030303030)
_HIGH_NIBBLES = np.uint64(0xF0F0F0F0F0F0F0F0)
_SIXES = np.uint64(0x0606060606060606)


def _zero_filled(words, n_low):
    """`words` with their lowest `n_low` bytes replaced by '0'."""
    low = _LOW_BYTES[n_low]
    return (words & ~low) | (_ZEROS & low)


def _all_digits(words):
    return ((words & _HIGH_NIBBLES) == _ZEROS) & (((words + _SIXES) & _HIGH_NIBBLES) == _ZEROS)


def _eight_digits(words):
    """Eight ASCII digits, the first in the lowest byte -> their value (SWAR)."""
    v = words - _ZEROS
    v = v * np.uint64(10) + (v >> np.uint64(8))
    mask = np.uint64(0x000000FF000000FF)
    v = ((v & mask) * np.uint64(100 + (1000000 << 32))
         + ((v >> np.uint64(16)) & mask) * np.uint64(1 + (10000 << 32))) >> np.uint64(32)
    return v


_DOTS = np.uint64(0x2E2E2E2E2E2E2E2E)
_SEVENS = np.uint64(0x7F7F7F7F7F7F7F7F)


def _decimals(buf, starts, lengths) -> Optional[np.ndarray]:
    """float64 values of [-]digits[.digits] cells (empty cells: 0.0), or None."""
    if lengths.max(initial=0) > 8:
        return _decimals_long(buf, starts, lengths)
    words = _words(buf)[starts] & _LOW_BYTES[lengths]
    negative = ((words & np.uint64(0xFF)) == MINUS) & (lengths > 0)
    words = np.where(negative, words >> np.uint64(8), words)
    size = lengths - negative
    # Exact zero-byte test on words ^ dots: a high bit per byte that was a dot.
    x = words ^ _DOTS
    dots = ~(((x & _SEVENS) + _SEVENS) | x | _SEVENS)
    dots &= _LOW_BYTES[size]
    n_dots = np.bitwise_count(dots)
    if (n_dots > 1).any():
        return None
    at = np.bitwise_count((dots & (~dots + np.uint64(1))) - np.uint64(1)) // 8  # the dot's byte
    at = np.where(n_dots == 1, at, size).astype(np.int64)
    low = _LOW_BYTES[at]
    digits = np.where(n_dots == 1, (words & low) | ((words >> np.uint64(8)) & ~low), words)
    count = size - n_dots
    if ((count == 0) & (lengths > 0)).any():
        return None             # ".", "-": not the plain form
    # Right-align the digits on 8 bytes, '0' in front.
    shift = (8 * (8 - count)).astype(np.uint64)
    aligned = np.where(count > 0, _zero_filled(digits << (shift % np.uint64(64)), 8 - count),
                       _ZEROS)
    if not _all_digits(aligned).all():
        return None
    fraction = np.where(n_dots == 1, size - 1 - at, 0)
    out = _eight_digits(aligned).astype(np.float64) / _POW10F[fraction]
    return np.where(negative, -out, out)


_POW10F = 10.0 ** np.arange(23)


def _decimals_long(buf, starts, lengths) -> Optional[np.ndarray]:
    """`_decimals` for cells longer than 8 bytes."""
    aligned = _right_aligned(buf, starts, lengths, MAX_DECIMAL_DIGITS + 1)
    if aligned is None:
        return None
    negative, matrix, valid, _ = aligned
    dots = (matrix == DOT) & valid
    numerals = (matrix >= 48) & (matrix <= 57) & valid
    if (valid & ~numerals & ~dots).any():
        return None
    count = numerals.sum(axis=1)
    n_dots = dots.sum(axis=1)
    if (n_dots > 1).any() or ((count == 0) & (lengths > 0)).any():
        return None             # "1.2.3", ".", "-": not the plain form
    if (count > MAX_DECIMAL_DIGITS).any():
        return None
    width = matrix.shape[1]
    fraction = np.where(n_dots == 1, width - 1 - dots.argmax(axis=1), 0)
    values = matrix.astype(np.int64) - 48
    mantissa = np.zeros(len(matrix), dtype=np.int64)
    for k in range(width):      # at most 16 columns, each a vector step
        mantissa = np.where(numerals[:, k], mantissa * 10 + values[:, k], mantissa)
    out = mantissa.astype(np.float64) / (10.0 ** fraction)
    return np.where(negative, -out, out)


def _keys(buf, starts, lengths) -> np.ndarray:
    width = int(lengths.max(initial=0))
    if width <= 8:
        # Eight bytes read at each start (unaligned), the bytes past the cell masked off.
        return _words(buf)[starts] & _LOW_BYTES[lengths]
    columns = np.arange(width)
    matrix = buf[starts[:, None] + columns]
    matrix[columns >= lengths[:, None]] = 0
    return np.ascontiguousarray(matrix).view(f"S{width}").ravel()


def key_texts(keys: np.ndarray) -> list:
    """The cell texts that `keys` stand for."""
    raw = keys.view("S8") if keys.dtype == np.uint64 else keys
    try:
        return raw.astype(f"U{raw.dtype.itemsize}").tolist()   # ASCII, in C
    except UnicodeDecodeError:
        return [bytes(key).decode("utf-8") for key in raw.tolist()]


class _Table:
    """An open hash table of uint64 keys -> codes, one slot per hash (0 = free)."""

    def __init__(self, bits: int, multiplier: int):
        self.bits, self.multiplier = bits, np.uint64(multiplier)
        self.keys = np.zeros(1 << bits, dtype=np.uint64)
        self.codes = np.full(1 << bits, -1, dtype=np.int32)

    def slots(self, keys):
        return (keys * self.multiplier) >> np.uint64(64 - self.bits)

    def lookup(self, keys) -> np.ndarray:
        """Codes, -2 where the key is not here."""
        slots = self.slots(keys)
        return np.where(self.keys[slots] == keys, self.codes[slots], -2)

    def place(self, keys, codes) -> np.ndarray:
        """Put keys into free slots; returns the mask of those that found none."""
        slots = self.slots(keys)
        free = self.keys[slots] == 0
        self.keys[slots[free]] = keys[free]
        self.codes[slots[free]] = codes[free]
        return self.keys[slots] != keys          # two new keys on one free slot: one wins


_MULTIPLIERS = (0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F)


class KeyCodes:
    """Keys -> a string field's dictionary codes, sharing `values` (text -> code, in
    first-seen order) with the exact path. Short keys go through two open hash tables (a
    key that finds its slot taken in the first goes to the second, then to a small sorted
    overflow), so a block costs a few vector steps; only keys not seen before touch
    Python, once each."""

    def __init__(self, values: dict):
        self.values = values
        self._count = 0
        self._reset(12)

    def _reset(self, bits):
        self._tables = [_Table(bits, m) for m in _MULTIPLIERS]
        self._over_keys = np.zeros(0, dtype=np.uint64)
        self._over_codes = np.zeros(0, dtype=np.int32)

    def encode(self, keys: Keys, null: Optional[np.ndarray] = None) -> np.ndarray:
        """Codes of `keys`; -1 where `null` (the empty cells) is True."""
        keys = keys.keys
        if keys.dtype != np.uint64:
            return self._encode_bytes(keys)
        heads = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
        if heads.size * 2 < keys.size:
            # Runs of one value (a file grouped by user): look up each run once.
            codes = self.encode(Keys(keys[heads]), None if null is None else null[heads])
            return np.repeat(codes, np.diff(np.append(heads, keys.size)))
        codes = self._lookup(keys)
        if null is not None:
            codes[null] = -1
        unknown = np.flatnonzero(codes == -2)
        if unknown.size:
            self._add(keys[unknown])
            codes[unknown] = self._lookup(keys[unknown])
        return codes

    def _lookup(self, keys):
        """Codes, -2 for keys not known yet."""
        first, second = self._tables
        codes = first.lookup(keys)
        rest = np.flatnonzero(codes == -2)
        if rest.size:
            found = second.lookup(keys[rest])
            codes[rest] = found
            rest = rest[found == -2]
        if rest.size and self._over_keys.size:
            at = np.searchsorted(self._over_keys, keys[rest]).clip(max=self._over_keys.size - 1)
            hit = self._over_keys[at] == keys[rest]
            codes[rest[hit]] = self._over_codes[at[hit]]
        return codes

    def _add(self, keys):
        distinct, first = np.unique(keys, return_index=True)
        distinct = distinct[np.argsort(first)]          # first-seen order
        codes = np.array([self.values.setdefault(text, len(self.values))
                          for text in key_texts(distinct)], dtype=np.int32)
        self._count += len(distinct)
        if self._count * 4 > len(self._tables[0].keys):
            self._grow()
        self._place(distinct, codes)

    def _place(self, keys, codes):
        for table in self._tables:
            left = table.place(keys, codes)
            keys, codes = keys[left], codes[left]
        if keys.size:
            over_keys = np.concatenate([self._over_keys, keys])
            over_codes = np.concatenate([self._over_codes, codes])
            order = np.argsort(over_keys)
            self._over_keys, self._over_codes = over_keys[order], over_codes[order]

    def _grow(self):
        keys = np.concatenate([t.keys[t.keys != 0] for t in self._tables] + [self._over_keys])
        codes = np.concatenate([t.codes[t.keys != 0] for t in self._tables] + [self._over_codes])
        bits = self._tables[0].bits
        while self._count * 4 > (1 << bits):
            bits += 1
        self._reset(bits)
        self._place(keys, codes)

    def _encode_bytes(self, keys):
        distinct, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        order = np.argsort(first)
        codes = np.empty(len(distinct), dtype=np.int32)
        codes[order] = [-1 if text == "" else self.values.setdefault(text, len(self.values))
                        for text in key_texts(distinct[order])]
        return codes[inverse.ravel()]
