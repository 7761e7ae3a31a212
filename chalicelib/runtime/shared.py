"""Read-only files that the workers of one machine share (issue 15 item 3, "Models shared,
not copied": concurrent workers on one machine share pages).

What a worker derives from stored data and keeps for serving (a solution version's model, a
data version's per-user index, a copy of the recorded events) is the same in every worker of
the machine. The first worker that needs it writes it once as a folder (`publish`: written in a
private folder beside it, then renamed into place, so no worker ever sees half of one; a
worker that loses the race uses the winner's folder); every worker then maps the files
read-only (`load`: `np.load(mmap_mode="r")`), so N workers hold one copy in the page cache
instead of N in their heaps, and a worker reads only the pages it touches.

A published folder never changes: its name says what it was built from (a data version, a
change-log key), so new data is a new folder. Unlinking a folder a worker still maps leaves
that worker's pages readable (POSIX), which is what lets `prune` drop superseded ones.

`Strings` holds strings of any length as two arrays (UTF-8 bytes and offsets), so ids map
like numbers do (a fixed-width unicode array would be as wide as the longest id).
"""
from __future__ import annotations

import bisect
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import time
from typing import Callable, Dict, Iterable, Optional, Tuple, TypeVar

import numpy as np

META = "meta.json"
T = TypeVar("T")


def machine_dir() -> str:
    """Where this machine keeps what its workers share (`RUNTIME_MODEL_DIR`, default a folder
    in the temporary directory)."""
    return os.environ.get("RUNTIME_MODEL_DIR") or os.path.join(tempfile.gettempdir(),
                                                               "personalize-models")


def digest(text: str) -> str:
    """A folder name for `text` (what the folder was built from)."""
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def folder(*parts: str) -> str:
    return os.path.join(machine_dir(), *parts)


def publish(final: str, fill: Callable[[str], None]) -> str:
    """`final`, filled by `fill(private_folder)` unless it exists: renamed into place whole."""
    if os.path.isdir(final):
        return final
    parent = os.path.dirname(final)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".writing-", dir=parent)
    try:
        fill(tmp)
        try:
            os.rename(tmp, final)
        except OSError:       # another worker renamed its copy first: use that one
            if not os.path.isdir(final):
                raise
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def save(final: str, arrays: Dict[str, np.ndarray], meta: Optional[dict] = None) -> str:
    """Publish `arrays` (numbers or fixed-width strings, never objects) and `meta` (JSON)."""
    def fill(tmp):
        for name, value in arrays.items():
            np.save(os.path.join(tmp, name + ".npy"), np.ascontiguousarray(value), allow_pickle=False)
        with open(os.path.join(tmp, META), "w") as f:
            json.dump(meta or {}, f)
    return publish(final, fill)


def load(final: str) -> Optional[Tuple[Dict[str, np.ndarray], dict]]:
    """(arrays mapped read-only, meta) of a published folder; None when there is none."""
    try:
        with open(os.path.join(final, META)) as f:
            meta = json.load(f)
        arrays = {n[:-4]: np.load(os.path.join(final, n), mmap_mode="r", allow_pickle=False)
                  for n in os.listdir(final) if n.endswith(".npy")}
    except FileNotFoundError:      # none, or pruned meanwhile
        return None
    return {n: a.view(np.ndarray) for n, a in arrays.items()}, meta


def once(lock_path: str, ready: Callable[[], Optional[T]], build: Callable[[], T],
         wait: float = 60.0) -> T:
    """`ready()` when it gives something; else `build()` by the one worker of the machine
    holding the lock file, the others polling `ready()` meanwhile (up to `wait` seconds, then
    building their own: a builder that hangs holds no one up for longer; one that died holds
    no one up at all, `Lock`)."""
    lock = Lock(lock_path)
    deadline = time.monotonic() + wait
    while True:
        found = ready()
        if found is not None:
            return found
        got = lock.acquire()
        if got or time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    try:
        found = ready()        # published while this worker took the lock
        return found if found is not None else build()
    finally:
        if got:
            lock.release()


def saved(final: str, build: Callable[[], Tuple[Dict[str, np.ndarray], dict]]):
    """`load(final)`, after one worker did `save(final, *build())` (`once`)."""
    def publish_():
        save(final, *build())
        return load(final)
    return once(final + ".lock", lambda: load(final), publish_)


def prune(parent: str, keep: int) -> None:
    """Remove all but the `keep` newest (by name) published folders under `parent`. Each is
    renamed away first, so a worker loading it meanwhile finds it whole or not at all (never
    with some of its files removed)."""
    try:
        names = sorted(n for n in os.listdir(parent) if not n.startswith("."))
    except FileNotFoundError:
        return
    for name in names[:-keep] if keep else names:
        doomed = tempfile.mkdtemp(prefix=".removing-", dir=parent)
        try:
            os.rename(os.path.join(parent, name), doomed)    # onto the empty folder
        except OSError:       # removed by another worker meanwhile
            pass
        shutil.rmtree(doomed, ignore_errors=True)


class Lock:
    """A lock file between the workers of the machine (one of them builds, the others wait or
    go on): `acquire()` is False when another holds it. The lock is an `flock` on the file,
    which the kernel drops when its holder exits, so a worker killed while holding it holds no
    one up; the file itself stays (unlinking it would let two workers lock different files)."""

    def __init__(self, path: str):
        self.path = path
        self._fd: Optional[int] = None

    def acquire(self) -> bool:
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)      # drops the lock
            self._fd = None


def _hash(key: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little", signed=True)


def hash64(values: Iterable[str]) -> np.ndarray:
    """64-bit hashes of strings, the same in every process (unlike `hash`)."""
    return np.fromiter((_hash(v.encode("utf-8")) for v in values), np.int64)


class Strings:
    """Strings of any length as `offsets` (int64, n + 1) into `data` (UTF-8 bytes). `find`
    bisects when they are sorted (by code point, which is the order of their UTF-8 bytes and
    of `np.unique`); an `indexed` one also keeps their `hash64` sorted (`hash_sorted`, with
    `hash_rows`), so `find` is one `searchsorted` (100,000 ids, on this loaded 2-core machine:
    about 6 us a lookup where bisecting them took 15 us)."""

    def __init__(self, offsets: np.ndarray, data: np.ndarray, hash_sorted: Optional[np.ndarray] = None,
                 hash_rows: Optional[np.ndarray] = None):
        self.offsets = offsets
        self.data = data
        self.hash_sorted, self.hash_rows = hash_sorted, hash_rows
        self._bytes = memoryview(np.ascontiguousarray(data, np.uint8))

    @classmethod
    def of(cls, values: Iterable[str], indexed: bool = False) -> "Strings":
        values = list(values)
        encoded = [v.encode("utf-8") for v in values]
        offsets = np.zeros(len(encoded) + 1, np.int64)
        if encoded:
            np.cumsum(np.fromiter(map(len, encoded), np.int64, len(encoded)), out=offsets[1:])
        out = cls(offsets, np.frombuffer(b"".join(encoded), np.uint8).copy())
        return out._indexed(hash64(values)) if indexed else out

    def _indexed(self, row_hashes: np.ndarray) -> "Strings":
        rows = np.argsort(row_hashes, kind="stable")
        self.hash_sorted, self.hash_rows = row_hashes[rows], rows.astype(np.int64)
        return self

    def _row_hashes(self) -> np.ndarray:
        out = np.empty(len(self), np.int64)
        out[self.hash_rows] = self.hash_sorted
        return out

    @classmethod
    def of_arrays(cls, arrays: Dict[str, np.ndarray], name: str) -> "Strings":
        return cls(arrays[name + ".offsets"], arrays[name + ".data"], arrays.get(name + ".hash_sorted"),
                   arrays.get(name + ".hash_rows"))

    def arrays(self, name: str) -> Dict[str, np.ndarray]:
        out = {name + ".offsets": self.offsets, name + ".data": self.data}
        if self.hash_sorted is not None:
            out.update({name + ".hash_sorted": self.hash_sorted, name + ".hash_rows": self.hash_rows})
        return out

    def __len__(self) -> int:
        return self.offsets.shape[0] - 1

    def raw(self, i: int) -> bytes:
        return bytes(self._bytes[int(self.offsets[i]):int(self.offsets[i + 1])])

    def __getitem__(self, i: int) -> str:
        return self.raw(i).decode("utf-8")

    def tolist(self):
        return [self[i] for i in range(len(self))]

    def find(self, value: str) -> int:
        """Position of `value` (indexed, or sorted strings), -1 when absent."""
        key = value.encode("utf-8")
        if self.hash_sorted is None:
            pos = self.insertion(value)
            return pos if pos < len(self) and self.raw(pos) == key else -1
        h = _hash(key)
        at = int(np.searchsorted(self.hash_sorted, h))
        while at < self.hash_sorted.shape[0] and self.hash_sorted[at] == h:
            row = int(self.hash_rows[at])
            if self.raw(row) == key:
                return row
            at += 1
        return -1

    def insertion(self, value: str) -> int:
        """How many of these (sorted) strings come before `value`."""
        return bisect.bisect_left(range(len(self)), value.encode("utf-8"), key=self.raw)

    def take(self, rows: np.ndarray) -> "Strings":
        """These strings at `rows` (a gather of the bytes, no decoding; indexed if these are)."""
        rows = np.asarray(rows, np.int64)
        starts, lengths = self.offsets[:-1][rows], np.diff(self.offsets)[rows]
        offsets = np.zeros(rows.shape[0] + 1, np.int64)
        np.cumsum(lengths, out=offsets[1:])
        gather = np.repeat(starts - offsets[:-1], lengths) + np.arange(offsets[-1], dtype=np.int64)
        out = Strings(offsets, np.asarray(self.data)[gather])
        return out._indexed(self._row_hashes()[rows]) if self.hash_sorted is not None else out

    @staticmethod
    def join(first: "Strings", second: "Strings") -> "Strings":
        """`first` then `second` (indexed if both are)."""
        offsets = np.concatenate([first.offsets[:-1], second.offsets + first.offsets[-1]])
        out = Strings(offsets, np.concatenate([np.asarray(first.data), np.asarray(second.data)]))
        if first.hash_sorted is not None and second.hash_sorted is not None:
            out._indexed(np.concatenate([first._row_hashes(), second._row_hashes()]))
        return out
