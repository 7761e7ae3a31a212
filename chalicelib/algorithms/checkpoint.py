"""Pausing a fit and resuming it later with the same result (issue 16 item 4: no 15-minute wall).

A recipe whose `fit` takes `checkpoint=` (`Recipe.supports_checkpoint`) asks the checkpoint at the
end of every epoch whether the next epoch still fits in the invocation's time
(`at_epoch_end(checkpoint, epoch, epochs, epoch_seconds)`, which also reports the epoch to
`Checkpoint.on_epoch`: the training's progress). If not, it hands over everything the rest of
the fit depends on, as named numpy arrays (parameters, optimizer moments, best parameters so
far) and a small JSON-safe dict (epoch and step counters, the RNG's bit-generator state, the
loss history), and raises `Paused`. The next invocation builds the same starting point from the
same seed, then `resume()` gives the arrays and dict back and the loop goes on from the next
epoch: the resumed fit computes exactly what the uninterrupted one would (same float operations
in the same order, so the parameters are bit-identical).

The epoch loops of the gradient-trained recipes (FFNN, DeepFM, the v2 attention recipes) hold
the same three things between epochs: parameters updated in place by an `optim.Adam`, its
moments and step count, one `np.random.Generator`. `pause_loop` / `resume_loop` save and
restore exactly those (plus any extra arrays and JSON-safe fields a loop names), so each loop
adds two calls and no checkpoint code of its own.

Where the state is kept is the caller's business (`chalicelib.training.entry` writes a folder,
the trainer Lambda syncs it with S3); this module is numpy and the standard library only.
"""
from __future__ import annotations

import json
import os
import time
from typing import Callable, Dict, Optional, Tuple

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

    def __init__(self, directory: str, budget_seconds: Optional[float] = None, clock=time.monotonic,
                 on_epoch: Optional[Callable[[int, int], None]] = None):
        self.directory = directory
        self.budget = budget_seconds
        self.clock = clock
        self.started = clock()
        self.saves = 0
        self.save_seconds = 0.0
        self.on_epoch = on_epoch     # (epoch done, epochs planned): progress, from `at_epoch_end`

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


def report_epoch(checkpoint: Optional[Checkpoint], epoch: int, epochs: int) -> None:
    """Epoch `epoch` of at most `epochs` is done (`Checkpoint.on_epoch`: the training's progress)."""
    if checkpoint is not None and checkpoint.on_epoch is not None:
        checkpoint.on_epoch(int(epoch), int(epochs))


def at_epoch_end(checkpoint: Optional[Checkpoint], epoch: int, epochs: int, epoch_seconds: float,
                 report: bool = True) -> bool:
    """Report epoch `epoch` of `epochs` as done (unless `report` is False: a loop that may stop
    early reports with `report_epoch` first); True when the loop should pause now (another epoch
    of about `epoch_seconds` would overrun the budget; never after the last epoch)."""
    if checkpoint is None:
        return False
    if report:
        report_epoch(checkpoint, epoch, epochs)
    return epoch < epochs and checkpoint.should_pause(epoch_seconds)


def pause_loop(checkpoint: Checkpoint, *, epoch: int, params: Dict[str, np.ndarray], opt, rng,
               seconds: float, arrays: Optional[Dict[str, np.ndarray]] = None, **fields) -> None:
    """Save an epoch loop's state after `epoch` and raise `Paused`: `params` (updated in place by
    `opt`, an `optim.Adam`), Adam's moments and step count, `rng`'s state, the seconds spent so
    far, and the loop's own `arrays` and JSON-safe `fields`."""
    saved = dict(prefixed("p.", params), **prefixed("m.", opt.m), **prefixed("v.", opt.v),
                 **prefixed("x.", arrays or {}))
    checkpoint.pause(saved, dict(fields, epoch=int(epoch), adamSteps=int(opt.t), rng=rng_state(rng),
                                 seconds=float(seconds)))


def resume_loop(checkpoint: Optional[Checkpoint], params: Dict[str, np.ndarray], opt, rng):
    """None without a saved state; else restore what `pause_loop` saved into `params` (in place:
    the optimizer and the network hold the same arrays), `opt` and `rng`, and return
    `(next epoch, the loop's arrays, its fields with "seconds")`."""
    saved = checkpoint.resume() if checkpoint is not None else None
    if saved is None:
        return None
    arrays, state = saved
    for name, value in unprefixed("p.", arrays).items():
        params[name][...] = value
    opt.m.update(unprefixed("m.", arrays))
    opt.v.update(unprefixed("v.", arrays))
    opt.t = int(state["adamSteps"])
    set_rng_state(rng, state["rng"])
    return int(state["epoch"]) + 1, unprefixed("x.", arrays), state


def resume_epochs(checkpoint: Optional[Checkpoint], params: Dict[str, np.ndarray], opt, rng,
                  log: Callable[[str], None] = lambda m: None):
    """`resume_loop` for a loop whose own state is its `history` list (saved by `pause_loop(...,
    history=...)`): `(first epoch to run, history so far, seconds spent before)`, (1, [], 0.0)
    for a fresh fit."""
    resumed = resume_loop(checkpoint, params, opt, rng)
    if resumed is None:
        return 1, [], 0.0
    first, _, state = resumed
    log(f"resumed from the checkpoint after epoch {first - 1}")
    return first, list(state["history"]), float(state["seconds"])
