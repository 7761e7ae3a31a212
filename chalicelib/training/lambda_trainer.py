"""The trainer Lambda (emulators, where there is no SageMaker): the S3 shim around `entry`.

DESIGN.md, "One deployment, three places": on the `lambda` training backend the state machine
invokes this function instead of `sagemaker:createTrainingJob.sync`, with the same facts a
training job gets:

    {"trainingJobName": "...", "hyperparameters": {name: string},
     "channels": {"train": "s3://bucket/prefix/"}, "outputUri": "s3://bucket/prefix/"}

`should_stop` (from the training workflow, which reads the version's status) is handed to
`entry.run`: a stopped training returns its failureReason like any other that ends early.

It downloads each channel into an /opt/ml-shaped folder under /tmp, runs `entry.run` in
process, and uploads `/opt/ml/model` as `<outputUri>/<trainingJobName>/output/model.tar.gz`
(SageMaker's place and format). It answers {"modelArtifacts": uri, "trainingTimeInSeconds"} or,
when the entry point failed, {"failureReason": the failure file's text} (an answer, not an
error, so the state machine does not retry a training that cannot succeed). Errors of its own
(S3 unreachable, ...) raise, and the state machine retries them.
"""
from __future__ import annotations

import os
import tempfile
import time

from chalicelib.storage import objects
from chalicelib.training import artifacts, contract, entry


def _download_prefix(uri: str, directory: str) -> int:
    bucket, prefix = objects.split(uri)
    prefix = prefix.rstrip("/") + "/"
    found = objects.list_prefix(objects.uri(bucket, prefix))
    for obj in found:
        relative = obj["key"][len(prefix):]
        if not relative or relative.endswith("/"):
            continue
        target = os.path.join(directory, *relative.split("/"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        objects.get_file(obj["location"], target)
    return len(found)


def handle(event: dict, should_stop=None) -> dict:
    job = event["trainingJobName"]
    channels = event.get("channels") or {}
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="opt-ml-") as root:
        layout = contract.Layout(root)
        layout.create(event.get("hyperparameters") or {}, channels=tuple(channels) or (contract.TRAIN_CHANNEL,))
        for name, uri in channels.items():
            if not _download_prefix(uri, layout.channel_dir(name)):
                raise RuntimeError(f"channel {name}: nothing at {uri}")
        if entry.run(root, should_stop=should_stop) != 0:
            return {"failureReason": layout.read_failure() or "Training failed without saying why"}
        archive = artifacts.pack(layout.model_dir, os.path.join(root, artifacts.ARCHIVE))
        location = objects.put_file(artifacts.archive_key(event["outputUri"], job), archive)
    return {"modelArtifacts": location, "trainingTimeInSeconds": int(round(time.monotonic() - started))}
