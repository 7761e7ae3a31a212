"""The garbage collector of the internal bucket (issue 16, item 1: nothing is destroyed before
the records that stop pointing at it are durable).

Jobs never delete what they supersede: an import publishes its new data version and leaves
the old one; a deleted solution version's record goes before its model. This collector, a
step of the scheduled `maintenance` workflow (`maintenance.collect`, EventBridge rule in
template.yaml) and callable as `collect()`, deletes under the internal prefixes only what no
record references, and only once it has been unreferenced for the grace period
(`config.collect_grace_seconds`, default one hour) - time for a training or an export that
picked up a data version just before it was superseded to finish reading it.

| prefix | kept while |
|---|---|
| `data-versions/<dataset>/<version>/` | it is the dataset's `dataVersion`; or it is newer than that while a run holds the dataset's import lock (being written); or the dataset record changed within the grace period |
| `models/<solution>/<version id>/` | the solution version record exists |
| `batch-jobs/<kind>/<name>/` | the batch job exists and is still running |

Every object of a unit must also be older than the grace period. Objects outside these
prefixes are not the collector's business.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta, timezone

from chalicelib import config
from chalicelib.domain import arns, lifecycle
from chalicelib.storage import objects
from chalicelib.storage.resources import store
from chalicelib.workflows.reconcile import as_datetime
from chalicelib.workflows.tasks import task

log = logging.getLogger(__name__)

IMPORT_LOCK = "importRunArn"   # service.datasets.IMPORT_LOCK (the service layer is above us)


def _units(prefix, depth):
    """{unit prefix: [objects]} under `prefix` of the internal bucket, a unit being the first
    `depth` folders after it (`models/<solution>/<version id>/` for depth 2)."""
    units = defaultdict(list)
    for obj in objects.list_prefix(objects.internal_uri(prefix)):
        rest = obj["key"][len(prefix):].split("/")
        if len(rest) <= depth:
            continue
        units[prefix + "/".join(rest[:depth]) + "/"].append(obj)
    return units


def _version_units():
    """{(dataset path, version id): [objects]}: a version folder is the one holding its parts,
    right below the dataset path (which itself has slashes)."""
    from chalicelib.datasets import versions
    units = defaultdict(list)
    for obj in objects.list_prefix(objects.internal_uri(versions.ROOT)):
        path, _, _name = obj["key"][len(versions.ROOT):].rpartition("/")
        dataset_path, _, version_id = path.rpartition("/")
        if dataset_path and version_id:
            units[(dataset_path, version_id)].append(obj)
    return units


def _old(found, cutoff):
    return all(o.get("lastModified") is None or o["lastModified"] <= cutoff for o in found)


def _delete(prefix_key):
    return objects.delete_prefix(objects.internal_uri(prefix_key))


def collect(grace_seconds=None, now=None):
    """Delete unreferenced internal objects older than the grace period; returns
    {"deleted": {kind: [unit prefixes]}, "objects": count}."""
    grace = config.collect_grace_seconds() if grace_seconds is None else grace_seconds
    cutoff = (now or datetime.now(timezone.utc)) - timedelta(seconds=grace)
    s = store()
    deleted, count = defaultdict(list), 0

    from chalicelib.datasets import versions
    datasets = {versions.dataset_path(d["arn"]): d for d in s.iterate(arns.DATASET)}
    for (path, version_id), found in sorted(_version_units().items()):
        dataset = datasets.get(path)
        if dataset is not None:
            current = dataset.get("dataVersion")
            if version_id == current:
                continue
            if dataset.get(IMPORT_LOCK) and (current is None or version_id > current):
                continue   # a run is writing it
            changed = as_datetime(dataset.get("lastUpdatedDateTime"))
            if changed is not None and changed > cutoff:
                continue   # superseded within the grace period: a reader may still hold it
        if not _old(found, cutoff):
            continue
        unit = f"{versions.ROOT}{path}/{version_id}/"
        count += _delete(unit)
        deleted["data-versions"].append(unit)

    from chalicelib.service.solution_versions import model_prefix
    models = {model_prefix(v["arn"]) for v in s.iterate(arns.SOLUTION_VERSION)}
    for unit, found in sorted(_units("models/", 2).items()):
        if unit not in models and _old(found, cutoff):
            count += _delete(unit)
            deleted["models"].append(unit)

    from chalicelib.workflows.batch_jobs import WORK_ROOT
    for unit, found in sorted(_units(WORK_ROOT, 2).items()):
        kind, name = unit[len(WORK_ROOT):].strip("/").split("/", 1)
        job = s.get(arns.build(kind, name))
        if job is not None and job.get("status") in lifecycle.UNFINISHED | {lifecycle.PENDING,
                                                                            lifecycle.IN_PROGRESS}:
            continue
        if _old(found, cutoff):
            count += _delete(unit)
            deleted["batch-jobs"].append(unit)

    if count:
        log.info("garbage collector deleted %d objects: %s", count, dict(deleted))
    return {"deleted": dict(deleted), "objects": count}


@task("maintenance.collect")
def collect_task(state):
    result = collect()
    # the state's payload is limited: counts, not every prefix
    return {"objects": result["objects"],
            "units": {kind: len(units) for kind, units in result["deleted"].items()}}
