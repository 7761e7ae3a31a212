"""The service models this project ships: stock botocore model + our patch.

Seed: "API Reference" (the 56 actions) and "Data Types". The stock botocore
models describe today's Personalize API; the 2019 preview differs (18 more
operations, other members, other limits). For each service we load the stock
``service-2`` and ``paginators-1`` documents from botocore's own data folder
(never from ``AWS_DATA_PATH`` or ``~/.aws/models``, which may hold our own
output) and deep-merge the patch kept in ``specs/<service>.json``.

Patch format (one JSON file per service)::

    {
      "service": "personalize", "apiVersion": "2018-05-22",
      "preview-operations": [...],            # the seed's actions of this service
      "service-2": {...},                     # merged onto the stock service-2
      "paginators-1": {...}                   # merged onto the stock paginators-1
    }

Merge rules (generic, no per-operation code):

* a dict merges into a dict key by key, recursively;
* ``null`` deletes the key (as in JSON Merge Patch, RFC 7396);
* ``{"$replace": value}`` puts ``value`` in place without merging;
* ``{"$add": [...], "$remove": [...]}`` edits a list in place: removes the
  given items, then appends the given items that are not already there
  (used for ``required`` lists, ``enum`` lists and ``errors``);
* any other value (string, number, list) replaces the old one.

The merged model is a superset of the stock one (issue 12): every stock
operation, member and shape stays, so a client that puts the shipped models on
``AWS_DATA_PATH`` loses nothing of today's API. Which operations this
deployment answers is the registry's business (``chalicelib.service.registry``);
an operation without a handler answers ``OperationNotServedException``, and a
member a handler does not implement is refused by name
(``chalicelib.protocol.unserved``). Shapes the patch defines but no operation
reaches are dropped.

Where the seed and today's API disagree, the merged model accepts requests
from both kinds of client: a member required by only one of them is optional,
and limits are the wider of the two. The member's ``documentation`` then ends
with a "Service note" saying what the service does, and the member reference
carries machine-readable keys (botocore ignores unknown keys):

* ``"x-default"``: the value the service applies when a create request omits
  the member (``member_default()`` reads it; an omitted member of an Update*
  request leaves the stored value unchanged);
* ``"x-seed-type": "blob"``: the seed types this string member as a blob
  (PutEvents ``properties``), so the value may arrive base64-encoded.

Both GetPersonalizedRanking (today) and PersonalizeRanking (seed) are
``POST /personalize-ranking``; GetPersonalizedRanking's input also has the
seed's ``searchQuery``, so parsing that route with it accepts both clients.
"""
import copy
import functools
import json
import os
import sys
from pathlib import Path

SERVICES = {
    "personalize": "2018-05-22",
    "personalize-runtime": "2018-05-22",
    "personalize-events": "2018-03-22",
}

SPEC_DIR = Path(__file__).resolve().parent / "specs"
DOCUMENT_TYPES = ("service-2", "paginators-1")


class PatchError(ValueError):
    """The patch does not fit the stock document it is applied to."""


# ---------------------------------------------------------------- merging

def deep_merge(base, patch, path="$"):
    """Return ``base`` with ``patch`` applied (see module docstring).

    Neither argument is modified.
    """
    if isinstance(patch, dict) and "$replace" in patch:
        if len(patch) != 1:
            raise PatchError(f"{path}: $replace must stand alone")
        return copy.deepcopy(patch["$replace"])
    if isinstance(patch, dict) and ("$add" in patch or "$remove" in patch):
        return _edit_list(base, patch, path)
    if isinstance(patch, dict):
        if base is None:
            base = {}
        if not isinstance(base, dict):
            raise PatchError(f"{path}: cannot merge an object into {type(base).__name__}")
        out = dict(base)
        for key, value in patch.items():
            if value is None:
                if key not in out:
                    raise PatchError(f"{path}.{key}: deleting a key that does not exist")
                del out[key]
            else:
                out[key] = deep_merge(out.get(key), value, f"{path}.{key}")
        return out
    return copy.deepcopy(patch)


def _edit_list(base, patch, path):
    unknown = set(patch) - {"$add", "$remove"}
    if unknown:
        raise PatchError(f"{path}: unknown list edit keys {sorted(unknown)}")
    items = list(base or [])
    if not isinstance(items, list):
        raise PatchError(f"{path}: list edit on {type(base).__name__}")
    for gone in patch.get("$remove", []):
        if gone not in items:
            raise PatchError(f"{path}: $remove of {gone!r}, which is not in the list")
        items.remove(gone)
    for new in patch.get("$add", []):
        if new not in items:
            items.append(copy.deepcopy(new))
    return items


def _reachable_shapes(doc):
    """Names of the shapes that the operations of ``doc`` reach."""
    shapes = doc["shapes"]
    todo = []
    for op in doc["operations"].values():
        for key in ("input", "output"):
            if key in op:
                todo.append(op[key]["shape"])
        todo.extend(err["shape"] for err in op.get("errors", []))
    seen = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        if name not in shapes:
            raise PatchError(f"shape {name} is referenced but not defined")
        seen.add(name)
        shape = shapes[name]
        refs = list(shape.get("members", {}).values())
        refs += [shape[k] for k in ("member", "key", "value") if k in shape]
        todo.extend(ref["shape"] for ref in refs)
    return seen


def apply_patch(stock, patch):
    """Merge ``patch`` (a parsed spec file) onto ``stock`` documents.

    ``stock`` maps "service-2" and "paginators-1" to the stock documents.
    Returns the merged documents: every stock operation and the patch's.
    """
    service = deep_merge(stock["service-2"], patch.get("service-2", {}), "$.service-2")
    pages = deep_merge(stock["paginators-1"], patch.get("paginators-1", {}),
                       "$.paginators-1")
    unknown = sorted(set(pages["pagination"]) - set(service["operations"]))
    if unknown:
        raise PatchError(f"paginators for operations without a definition: {unknown}")
    keep = _reachable_shapes(service)
    service["shapes"] = {name: s for name, s in service["shapes"].items() if name in keep}
    return {"service-2": service, "paginators-1": pages}


# ---------------------------------------------------------------- loading

def _check_name(name):
    if name not in SERVICES:
        raise KeyError(f"unknown service {name!r}; known: {sorted(SERVICES)}")


def stock_documents(name):
    """The installed botocore's own documents for ``name`` (fresh copies)."""
    _check_name(name)
    from botocore.loaders import Loader
    # Only botocore's data folder: AWS_DATA_PATH or ~/.aws/models may hold
    # the merged models this module writes.
    loader = Loader(extra_search_paths=[Loader.BUILTIN_DATA_PATH],
                    include_default_search_paths=False)
    # load_data reads the one file; load_service_model would first list
    # every installed service (a few hundred folders, ~0.2 s in a Lambda)
    return {kind: loader.load_data(f"{name}/{SERVICES[name]}/{kind}")
            for kind in DOCUMENT_TYPES}


def load_patch(name):
    _check_name(name)
    with open(SPEC_DIR / f"{name}.json", encoding="utf-8") as f:
        return json.load(f)


@functools.lru_cache(maxsize=None)
def _merged(name):
    return apply_patch(stock_documents(name), load_patch(name))


def merged_documents(name):
    """``{"service-2": ..., "paginators-1": ...}`` for ``name`` (a copy)."""
    return copy.deepcopy(_merged(name))


@functools.lru_cache(maxsize=None)
def service_model(name):
    """The merged ``botocore.model.ServiceModel`` for ``name`` (cached)."""
    from botocore.model import ServiceModel
    return ServiceModel(_merged(name)["service-2"], service_name=name)


def operation_names(name):
    """Names of the operations of the merged model of ``name``, sorted."""
    return sorted(_merged(name)["service-2"]["operations"])


def dialect_of(name, operation):
    """"today", "preview" or "both": which API has ``operation`` (the stock
    model is today's; the patch's ``preview-operations`` are the seed's)."""
    today = operation in stock_documents(name)["service-2"]["operations"]
    preview = operation in load_patch(name).get("preview-operations", [])
    if not (today or preview):
        raise KeyError(f"{name} has no operation {operation!r}")
    return "both" if today and preview else ("today" if today else "preview")


def member_default(service, operation, member):
    """The value the service applies when ``member`` is omitted, or None.

    ``member`` may be a dotted path through nested structures, e.g.
    ``member_default("personalize", "CreateSolution",
    "solutionConfig.retrainingMode")``. Raises KeyError for an unknown
    operation or member.
    """
    doc = _merged(service)["service-2"]
    op = doc["operations"][operation]
    shape = doc["shapes"][op["input"]["shape"]]
    ref = None
    for part in member.split("."):
        if ref is not None:
            shape = doc["shapes"][ref["shape"]]
        if part not in shape.get("members", {}):
            raise KeyError(f"{operation} has no member {member!r}")
        ref = shape["members"][part]
    if "x-default" in ref:
        return copy.deepcopy(ref["x-default"])
    return copy.deepcopy(doc["shapes"][ref["shape"]].get("x-default"))


# ---------------------------------------------------------------- CLI

def write_models(out_dir, names=None):
    """Write ``<out>/<service>/<api-version>/{service-2,paginators-1}.json``.

    The folder works as ``AWS_DATA_PATH`` and with ``aws configure
    add-model``. Returns the written paths.
    """
    written = []
    for name in names or SERVICES:
        folder = Path(out_dir) / name / SERVICES[name]
        folder.mkdir(parents=True, exist_ok=True)
        for kind, doc in _merged(name).items():
            path = folder / f"{kind}.json"
            tmp = path.with_suffix(".json.tmp")
            tmp.write_text(json.dumps(doc, indent=1, sort_keys=False) + "\n",
                           encoding="utf-8")
            os.replace(tmp, path)
            written.append(path)
    return written


def main(argv=None):
    import argparse
    parser = argparse.ArgumentParser(
        prog="python -m chalicelib.protocol.models",
        description="Write the merged Personalize service models (AWS_DATA_PATH layout).")
    parser.add_argument("--out", default="build/models", help="output folder")
    parser.add_argument("--service", action="append", choices=sorted(SERVICES),
                        help="only this service (repeatable)")
    args = parser.parse_args(argv)
    for path in write_models(args.out, args.service):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
