"""The SageMaker training contract, as the trainer sees it (seed: "Bring Your Own Recipe" step 1:
"containerize your algorithm in an Amazon SageMaker compatible manner").

    /opt/ml/input/config/hyperparameters.json   every value a string
    /opt/ml/input/config/inputdataconfig.json   {"<channel>": {"TrainingInputMode": "File", ...}}
    /opt/ml/input/data/<channel>/               the channel's files (ours: `train`, and `model`
                                                with the previous version's model.tar.gz for
                                                trainingMode UPDATE)
    /opt/ml/model/                              artifacts (SageMaker tars them to model.tar.gz)
    /opt/ml/output/failure                      why training failed (then exit non-zero)

Besides the algorithm's own hyperparameters (plain keys, strings), the workflow passes what to
train as reserved keys starting with `_`, all strings:

    _recipes                  JSON list of {"recipe": implementation name, "recipeArn": ARN,
                              "hyperparameters": {..}} (one entry unless AutoML; with one entry
                              the plain keys are its hyperparameters)
    _seed                     integer seed of every random choice (split, search, fit)
    _perform_automl           "true" | "false"
    _automl_metric            metric AutoML maximises (default precision_at_25)
    _perform_hpo              "true" | "false"
    _hpo_config               JSON of the solution's hpoConfig (ranges, objective, resources)
    _feature_transformation   JSON of the feature-transformation parameters (floats)
    _training_mode            "FULL" (default) | "UPDATE": warm-start from the `model` channel's
                              archive and fine-tune (today's CreateSolutionVersion.trainingMode;
                              `chalicelib.algorithms.warm_start`)
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass

RESERVED_PREFIX = "_"
STOPPED_REASON = "Training was stopped (StopSolutionVersionCreation)"
TRAIN_CHANNEL = "train"
MODEL_CHANNEL = "model"       # the previous version's model archive (trainingMode UPDATE)
TRAINING_MODES = ("FULL", "UPDATE")
FAILURE_LIMIT = 1024   # SageMaker keeps the first 1024 characters of the failure file


@dataclass(frozen=True)
class Layout:
    """The /opt/ml folder (or an /opt/ml-shaped folder under /tmp on the trainer Lambda)."""

    root: str = "/opt/ml"

    @property
    def config_dir(self):
        return os.path.join(self.root, "input", "config")

    @property
    def hyperparameters_file(self):
        return os.path.join(self.config_dir, "hyperparameters.json")

    @property
    def inputdataconfig_file(self):
        return os.path.join(self.config_dir, "inputdataconfig.json")

    def channel_dir(self, name=TRAIN_CHANNEL):
        return os.path.join(self.root, "input", "data", name)

    @property
    def model_dir(self):
        return os.path.join(self.root, "model")

    @property
    def output_dir(self):
        return os.path.join(self.root, "output")

    @property
    def failure_file(self):
        return os.path.join(self.output_dir, "failure")

    def create(self, hyperparameters, channels=(TRAIN_CHANNEL,)):
        """Make the folders and write the config files, as SageMaker does before `train`."""
        for path in [self.config_dir, self.model_dir, self.output_dir] + [self.channel_dir(c) for c in channels]:
            os.makedirs(path, exist_ok=True)
        write_json(self.hyperparameters_file, {str(k): str(v) for k, v in hyperparameters.items()})
        write_json(self.inputdataconfig_file, {c: {"TrainingInputMode": "File", "S3DistributionType":
                                                   "FullyReplicated", "RecordWrapperType": "None"}
                                               for c in channels})

    def read_hyperparameters(self):
        with open(self.hyperparameters_file, encoding="utf-8") as f:
            values = json.load(f)
        if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
            raise ValueError("hyperparameters.json must map names to strings (SageMaker contract)")
        return values

    def write_failure(self, text):
        os.makedirs(self.output_dir, exist_ok=True)
        with open(self.failure_file, "w", encoding="utf-8") as f:
            f.write(text[:FAILURE_LIMIT])

    def read_failure(self):
        try:
            with open(self.failure_file, encoding="utf-8") as f:
                return f.read().strip()
        except FileNotFoundError:
            return None


class TrainingStopped(Exception):
    """Raised inside the trainer when the caller's stop check says the training must end."""


def write_json(path, value):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=1, sort_keys=True)


def algorithm_hyperparameters(values):
    """The plain (non-reserved) keys: what the algorithm itself is given."""
    return {k: v for k, v in values.items() if not k.startswith(RESERVED_PREFIX)}


def flag(values, key, default=False):
    text = values.get(key)
    return default if text is None else text.strip().lower() == "true"


def json_value(values, key, default=None):
    text = values.get(key)
    if text in (None, ""):
        return default
    try:
        return json.loads(text)
    except ValueError:
        raise ValueError(f"hyperparameter {key}: not valid JSON") from None
