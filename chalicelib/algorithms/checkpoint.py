"""Pausing a fit and resuming it later with the same result (issue 16 item 4: no 15-minute wall).

A recipe whose `fit` takes `checkpoint=` (`Recipe.supports_checkpoint`) asks the checkpoint at the
end of every epoch whether the next epoch still fits in the invocation's time
(`Checkpoint.should_pause(epoch_seconds)`). If not, it hands over everything the rest of the fit
depends on, as named numpy arrays (parameters, optimizer moments, best parameters so far) and a
small JSON-safe dict (epoch and step counters, the RNG's bit-generator state, the loss history),
and raises `Paused`. The next invocation builds the same starting point from the same seed, then
`resume()` gives the arrays and dict back and the loop goes on from the next epoch: the resumed
fit computes exactly what the uninterrupted one would (same float operations in the same order,
so the parameters are bit-identical).

Where the state is kept is the caller's business (`chalicelib.training.entry` writes a folder,
the trainer Lambda syncs it with S3); this module is numpy and the standard library only.
"""
from __future__ import annotations

import json
import os
import time
from typing import Dict, Optional, Tuple

import numpy as np

ARRAYS_FILE = "arrays.npz"
STATE_FILE = "state.json"


class Paused(Exception):
    """A fit stopped at a checkpoint; the caller runs it again to continue."""

    def __init__(self, state: dict):
        super().__init__(f"paused after epoch {state.get('epoch')}")
        self.state = state


class Checkpoint:
    """A place for one fit's state in a folder, and the time budget of this invocation.
    `budget_seconds` None: never pause (SageMaker, the command line)."""

    def __init__(self, directory: str, budget_seconds: Optional[float] = None, clock=time.monotonic):
        self.directory = directory
        self.budget = budget_seconds
        self.clock = clock
        self.started = clock()
        self.saves = 0
        self.save_seconds = 0.0

    def should_pause(self, next_epoch_seconds: float) -> bool:
        """True when another epoch of about `next_epoch_seconds` would overrun the budget."""
        if self.budget is None:
            return False
        return self.clock() - self.started + next_epoch_seconds > self.budget

    def resume(self) -> Optional[Tuple[Dict[str, np.ndarray], dict]]:
        state_path = os.path.join(self.directory, STATE_FILE)
        if not os.path.isfile(state_path):
            return None
        with open(state_path) as f:
            state = json.load(f)
        with np.load(os.path.join(self.directory, ARRAYS_FILE), allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        return arrays, state

    def save(self, arrays: Dict[str, np.ndarray], state: dict) -> None:
        """Write the arrays, then the dict (its presence marks a complete checkpoint)."""
        t0 = time.perf_counter()
        os.makedirs(self.directory, exist_ok=True)
        tmp = os.path.join(self.directory, "arrays.tmp.npz")
        np.savez(tmp, **arrays)
        os.replace(tmp, os.path.join(self.directory, ARRAYS_FILE))
        with open(os.path.join(self.directory, STATE_FILE + ".tmp"), "w") as f:
            json.dump(state, f)
        os.replace(os.path.join(self.directory, STATE_FILE + ".tmp"), os.path.join(self.directory, STATE_FILE))
        self.saves += 1
        self.save_seconds += time.perf_counter() - t0

    def pause(self, arrays: Dict[str, np.ndarray], state: dict):
        self.save(arrays, state)
        raise Paused(state)


def rng_state(rng: np.random.Generator) -> dict:
    """The generator's bit-generator state (PCG64's 128-bit integers stay exact in JSON)."""
    return json.loads(json.dumps(rng.bit_generator.state))


def set_rng_state(rng: np.random.Generator, state: dict) -> None:
    rng.bit_generator.state = state


def prefixed(prefix: str, arrays: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    return {f"{prefix}{k}": v for k, v in arrays.items()}


def unprefixed(prefix: str, arrays: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    return {k[len(prefix):]: np.array(v) for k, v in arrays.items() if k.startswith(prefix)}
