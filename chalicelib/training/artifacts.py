"""The model archive: `model.tar.gz` holding the files the trainer wrote to /opt/ml/model
(`model.json`, `arrays.npz`, `metrics.json`, `training.json`) at its root.

SageMaker makes it at `<S3OutputPath>/<TrainingJobName>/output/model.tar.gz`; the trainer Lambda
makes the same archive at the same place, so the register step, the campaign workflow and the
runtime read one format whatever trained the model. A version's `modelKey` is that S3 URI.

    model = load_model(version["modelKey"], "/tmp/models/<id>")   # runtime / campaign deploy
"""
from __future__ import annotations

import json
import os
import tarfile
import tempfile

ARCHIVE = "model.tar.gz"


def archive_key(output_uri: str, job_name: str) -> str:
    """Where SageMaker puts a job's model archive under its S3OutputPath."""
    return f"{output_uri.rstrip('/')}/{job_name}/output/{ARCHIVE}"


def pack(model_dir: str, path: str) -> str:
    """Tar the files of `model_dir` (at the archive's root, as SageMaker does) into `path`."""
    with tarfile.open(path, "w:gz") as tar:
        for name in sorted(os.listdir(model_dir)):
            tar.add(os.path.join(model_dir, name), arcname=name)
    return path


def unpack(path: str, directory: str) -> str:
    """Extract an archive into `directory` (plain files only, no links or absolute paths)."""
    os.makedirs(directory, exist_ok=True)
    with tarfile.open(path, "r:gz") as tar:
        tar.extractall(directory, filter="data")
    return directory


def read_json_member(path: str, name: str):
    """One JSON file of an archive, or None if it is absent."""
    with tarfile.open(path, "r:gz") as tar:
        try:
            member = tar.getmember(name)
        except KeyError:
            return None
        with tar.extractfile(member) as f:
            return json.load(f)


def download(model_key: str, path: str) -> str:
    from chalicelib.storage import objects
    return objects.get_file(model_key, path)


def load_model(model_key: str, directory: str):
    """Download, unpack and load the model of a version (`chalicelib.algorithms.base.Model`)."""
    from chalicelib.algorithms.base import load_model as load
    os.makedirs(directory, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="model-") as tmp:
        archive = download(model_key, os.path.join(tmp, ARCHIVE))
        unpack(archive, directory)
    return load(directory)


def training_outcome(model_key: str) -> dict:
    """{"metrics", "report"} of a trained archive (the register step reads these)."""
    with tempfile.TemporaryDirectory(prefix="model-") as tmp:
        archive = download(model_key, os.path.join(tmp, ARCHIVE))
        return {"metrics": read_json_member(archive, "metrics.json"),
                "report": read_json_member(archive, "training.json") or {}}
