"""Bytes in chunks -> CSV rows in batches, with bounded memory.

Seed: "Formatting your Input Data": files are CSV, values separated by
commas, and the first row holds the column headers. We accept UTF-8 with or
without a byte-order mark, LF or CRLF line ends, and RFC 4180 quoting (a
quoted field may hold commas, doubled quotes and line breaks).

The reader never holds more than one batch of rows plus the decoder's
buffer, whatever the object's size: S3 bodies arrive as an iterator of byte
chunks (boto3 `StreamingBody.iter_chunks`).
"""
from __future__ import annotations

import codecs
import csv
import io
import itertools
from typing import Iterable, Iterator, List, Optional

import numpy as np

READ_SIZE = 1 << 20
BLOCK_BYTES = 4 << 20  # the columnar reader's unit (`blocks`)


class _ChunkRaw(io.RawIOBase):
    """A read-only raw stream over an iterator of byte chunks."""

    def __init__(self, chunks: Iterable[bytes]):
        self._chunks = iter(chunks)
        self._view = memoryview(b"")
        self._pos = 0
        self.offset = 0  # bytes handed out so far

    def readable(self):
        return True

    def readinto(self, buffer):
        # A position into the current chunk, not slicing: slicing a 1 MB chunk
        # per 8 KB read copies the rest of it every time.
        while self._pos >= len(self._view):
            try:
                self._view = memoryview(next(self._chunks))
            except StopIteration:
                return 0
            self._pos = 0
        n = min(len(buffer), len(self._view) - self._pos)
        buffer[:n] = self._view[self._pos:self._pos + n]
        self._pos += n
        self.offset += n
        return n


class NotUtf8(ValueError):
    """Raised with the line being read, which is approximate: the text layer
    decodes ahead. `first_bad_line` finds the exact line on a second pass."""

    def __init__(self, line):
        super().__init__(f"line {line}: the file is not UTF-8 text")
        self.line = line


class BadCsv(ValueError):
    """The csv module cannot read on (for example a NUL byte); reading stops here."""

    def __init__(self, line, message):
        super().__init__(f"line {line}: {message}")
        self.line, self.message = line, message


def first_bad_line(chunks: Iterable[bytes]) -> Optional[int]:
    """The 1-based line of the first byte sequence that is not UTF-8, or None."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    lines_before = 0
    pending = b""  # bytes of an incomplete character carried into this chunk
    for chunk in chunks:
        data = pending + chunk
        try:
            decoder.decode(chunk)
        except UnicodeDecodeError as e:
            offset = max(0, e.start)
            return lines_before + data[:offset].count(b"\n") + 1
        state = decoder.getstate()[0]
        lines_before += data[:len(data) - len(state)].count(b"\n")
        pending = state
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return lines_before + 1
    return None


class RowBatches:
    """Iterate a CSV byte stream: `header` first, then `batches(n)` of rows.

    Each batch is `(first_line, rows)`: `rows` are lists of cell strings and
    `first_line` is the 1-based physical line where the batch's first row
    starts. Blank lines are skipped (a trailing empty line is common).
    `line_of(first_line, rows, i)` gives the line of row i, counting line
    breaks inside quoted cells.
    """

    def __init__(self, chunks: Iterable[bytes], lines_before: int = 0, bom: bool = True):
        raw = _ChunkRaw(chunks)
        # utf-8-sig drops a leading BOM (only at the start of a file: `bom`); newline=""
        # hands \r\n to csv untouched so quoted line breaks survive and csv counts
        # physical lines. `lines_before`: lines of the file before these bytes.
        self._text = io.TextIOWrapper(io.BufferedReader(raw, READ_SIZE),
                                      encoding="utf-8-sig" if bom else "utf-8", newline="")
        self._text._CHUNK_SIZE = READ_SIZE  # decode in large blocks (default 8 KB)
        self._reader = csv.reader(self._text, strict=False)
        self._before = lines_before

    @property
    def line_num(self):
        return self._before + self._reader.line_num

    def header(self) -> Optional[List[str]]:
        """The first non-blank row, or None for a file with no rows at all."""
        try:
            for row in self._reader:
                if row:
                    return row
        except UnicodeDecodeError:
            raise NotUtf8(self.line_num + 1) from None
        except csv.Error as e:
            raise BadCsv(self.line_num, str(e)) from None
        return None

    def batches(self, size: int) -> Iterator["Batch"]:
        reader = self._reader
        while True:
            first_line = self.line_num + 1
            try:
                rows = list(itertools.islice(reader, size))
            except UnicodeDecodeError:
                raise NotUtf8(self.line_num + 1) from None
            except csv.Error as e:  # the rows read before it are lost: the run fails anyway
                raise BadCsv(self.line_num, str(e)) from None
            if not rows:
                return
            batch = Batch(first_line, rows)
            if [] in rows:
                batch = batch.without_blank_rows()
                if not batch.rows:
                    continue
            yield batch


def blocks(chunks: Iterable[bytes], size: int = BLOCK_BYTES) -> Iterator[bytes]:
    """The bytes of `chunks` regrouped into blocks of about `size` that end just after
    a line feed (the last block: wherever the data ends). A cut after LF is a character
    boundary in UTF-8 and never splits CRLF; it may fall inside a quoted cell, which is
    why a block holding a quote is read by `RowBatches` together with what follows."""
    pending, held = [], 0
    for chunk in chunks:
        pending.append(chunk)
        held += len(chunk)
        if held < size:
            continue
        data = b"".join(pending)
        cut = data.rfind(b"\n") + 1
        if cut == 0:            # one very long line: keep reading
            pending, held = [data], len(data)
            continue
        yield data[:cut]
        pending, held = [data[cut:]], len(data) - cut
    data = b"".join(pending)
    if data:
        yield data


def count_lines(data: bytes) -> int:
    """Physical lines ended in `data` as csv counts them: LF, CRLF and a lone CR."""
    lines = int(np.count_nonzero(np.frombuffer(data, dtype=np.uint8) == 10))  # bytes.count is slower
    if b"\r" in data:
        lines += data.count(b"\r") - data.count(b"\r\n")
    return lines


class Batch:
    """Rows read together; `line(i)` is the physical line where row i starts."""

    def __init__(self, first_line: int, rows: List[List[str]], gaps=None):
        self.first_line = first_line
        self.rows = rows
        self._gaps = gaps      # blank lines skipped after each kept row, if any
        self._lines = None

    def __len__(self):
        return len(self.rows)

    def without_blank_rows(self) -> "Batch":
        kept, gaps, lead = [], [], 0
        for row in self.rows:
            if row:
                kept.append(row)
                gaps.append(0)
            elif kept:
                gaps[-1] += 1
            else:
                lead += 1
        return Batch(self.first_line + lead, kept, gaps)

    def line(self, index: int) -> int:
        # Computed only when a problem needs a line number: count the line
        # breaks inside quoted cells of the rows before.
        if self._lines is None:
            lines, line = [], self.first_line
            for i, row in enumerate(self.rows):
                lines.append(line)
                line += 1 + sum(_breaks(cell) for cell in row if "\n" in cell or "\r" in cell)
                if self._gaps:
                    line += self._gaps[i]
            self._lines = lines
        return self._lines[index]


def _breaks(cell: str) -> int:
    """Line breaks inside a quoted cell: \n, \r\n and a lone \r each end a line."""
    return cell.count("\n") + cell.count("\r") - cell.count("\r\n")
