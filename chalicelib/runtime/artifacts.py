"""A solution version's model files in S3 -> a loaded `Model` (seed: "Creating a Campaign":
a campaign deploys a trained solution version).

`modelKey` (recorded by the training workflow) is either the SageMaker-style archive
`.../model.tar.gz` holding `model.json` and `arrays.npz`, or the folder (prefix) holding them
(`.../model.json` names the same folder). Archives are unpacked with member names checked, so
an archive cannot write outside its temporary folder. Unpacked models stay on the machine
(`local_copy`) so that workers memory-map the same files (issue 15 item 3).
"""
from __future__ import annotations

import io
import os
import posixpath
import tarfile

from chalicelib.algorithms.base import Model, load_model
from chalicelib.runtime import shared
from chalicelib.storage import objects

MODEL_FILE = "model.json"
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")


class ArtifactsMissing(LookupError):
    """No model files where the solution version says they are."""


class ArtifactsUnreadable(ValueError):
    """The model files are there but are not a model (a damaged archive, bad JSON)."""


def _is_archive(location):
    return location.endswith(ARCHIVE_SUFFIXES)


def _folder(location):
    if location.endswith("/" + MODEL_FILE):
        return location[: -len(MODEL_FILE)]
    return location.rstrip("/") + "/"


def present(location):
    """True when the model files are there (the deployment workflow's check)."""
    if not location:
        return False
    if _is_archive(location):
        return objects.head(location) is not None
    return objects.head(_folder(location) + MODEL_FILE) is not None


def _extract(data, directory):
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
        for member in tar.getmembers():
            name = posixpath.normpath(member.name)
            if not member.isfile() or name.startswith(("/", "..")):
                continue
            target = os.path.join(directory, *name.split("/"))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with tar.extractfile(member) as src, open(target, "wb") as dst:
                dst.write(src.read())


def _model_dir(directory):
    """The folder holding model.json: the root, or the one sub-folder an archive may use."""
    if os.path.isfile(os.path.join(directory, MODEL_FILE)):
        return directory
    for root, _dirs, files in os.walk(directory):
        if MODEL_FILE in files:
            return root
    raise ArtifactsMissing(f"no {MODEL_FILE} among the model files")


def download(location, directory):
    """Copy the model files at `location` into `directory`; returns the folder to load."""
    if _is_archive(location):
        try:
            data = objects.get_bytes(location)
        except Exception as e:  # noqa: BLE001 - S3 says why (NoSuchKey, AccessDenied, ...)
            raise ArtifactsMissing(f"cannot read the model archive {location}: {e}") from e
        try:
            _extract(data, directory)
        except (tarfile.TarError, EOFError, OSError) as e:
            raise ArtifactsUnreadable(f"the model archive {location} cannot be unpacked: {e}") from e
    else:
        prefix = _folder(location)
        found = objects.list_prefix(prefix)
        if not found:
            raise ArtifactsMissing(f"no model files under {prefix}")
        bucket, key_prefix = objects.split(prefix)
        for obj in found:
            rel = obj["key"][len(key_prefix):]
            if not rel or rel.endswith("/"):
                continue
            target = os.path.join(directory, *posixpath.normpath(rel).split("/"))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            objects.get_file(objects.uri(bucket, obj["key"]), target)
    return _model_dir(directory)


def local_copy(location) -> str:
    """The model folder for `location` on this machine, downloaded by the first worker that
    needs it (`shared.publish` into the machine's folder, `shared.machine_dir`: a worker never
    sees half a model, every worker maps the same files). The folder's name hashes the location
    and its object's ETag and size, so a rewritten object is a new folder."""
    marker = location if _is_archive(location) else _folder(location) + MODEL_FILE
    found = objects.head(marker)
    if found is None:
        raise ArtifactsMissing(f"no model files at {location}")
    tag = shared.digest(f"{location}|{found.get('etag')}|{found.get('size')}")
    return _model_dir(shared.publish(shared.folder(tag), lambda tmp: download(location, tmp)))


def load(location) -> Model:
    """Load the model at `location` from this machine's copy (`local_copy`): its arrays are
    read-only memory maps of the files (`base.load_arrays`), shared by the workers."""
    if not location:
        raise ArtifactsMissing("the solution version records no model location")
    return load_model(local_copy(location))


def model_nbytes(model: Model) -> int:
    """Bytes of the model's arrays (what it holds in memory, besides Python objects)."""
    total = model.item_ids.nbytes
    for value in model.arrays().values():
        total += getattr(value, "nbytes", 0)
    return int(total)
