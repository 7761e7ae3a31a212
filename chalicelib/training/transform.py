"""The feature transformation parameters, applied before the evaluation split.

Seed: "Bring Your Own Recipe" step b, the supported keys `max_hist_length_percentile`,
`min_hist_length_percentile`, "train ratio" and "test ratio" (spelled `train_ratio`,
`test_ratio` in `chalicelib.domain.recipes`, which also validates them); EVALUATION.md step 1
(history-length percentiles are one of the solution's filters).

Decisions (the seed gives the keys, not their meaning in detail):
- A user is kept when the length of their history lies between the `min_` and `max_`
  percentiles of all users' history lengths (inclusive; numpy's linear interpolation), so the
  defaults 0.0 and 1.0 keep everyone. Dropped users keep their index but have no interactions.
- `test_ratio` is the share of users drawn as evaluation users (EVALUATION.md's 10% is the
  default 0.1); every other user trains. `train_ratio` is accepted and validated but not used
  on its own, since the training users are simply the rest.
"""
from __future__ import annotations

from chalicelib.algorithms.base import TrainingData
from chalicelib.algorithms.data import history_length_filter

DEFAULT_TEST_RATIO = 0.1


def filter_history_lengths(data: TrainingData, params: dict) -> TrainingData:
    """Keep the interactions of users whose history length is within the percentile range."""
    return history_length_filter(data, float(params.get("min_hist_length_percentile", 0.0)),
                                 float(params.get("max_hist_length_percentile", 1.0)))


def evaluation_share(params: dict) -> float:
    """The share of users held out for evaluation (`test_ratio`)."""
    share = float(params.get("test_ratio", DEFAULT_TEST_RATIO))
    if not 0.0 < share < 1.0:
        raise ValueError(f"test_ratio: {share} leaves no evaluation users or no training users; "
                         "metrics need a value between 0 and 1")
    return share
