"""Tags (today's API: TagResource, UntagResource, ListTagsForResource, and `tags` on every
Create* operation that has the member; "Tagging Amazon Personalize resources").

One module for every taggable resource. Which resources take tags is read from the service
model, never listed here: each Create* operation whose input has `tags` creates a taggable
resource, named by the one `*Arn` member of its output (CreateCampaign -> campaignArn -> store
type "campaign"). `tags` on those creates is applied by one `registry.around` hook: the tags
are checked before the handler runs (a refused tag creates nothing) and stored on the new
record when it has returned, so no create handler knows about tags.

Tags live on the resource's own record in the resources table (member `tags`, the API's list
of {tagKey, tagValue}, in the order first set), so every delete of the record deletes them
with it, and a new resource of the same name starts with none.

Rules the model does not express (its limits give key 1-128 and value 0-256 characters of
letters, numbers, spaces and `_.:/=+-@`):
- at most 50 tags per resource (TooManyTagsException), 50 keys per UntagResource request
  (TooManyTagKeysException: "50 tag keys per resource");
- keys starting with `aws:` in any case are reserved for AWS: not set, not removed
  (InvalidInputException); values may use it;
- a key given twice in one request is refused (InvalidInputException); TagResource with an
  existing key replaces its value;
- an unknown ARN is ResourceNotFoundException; a stored resource of a type that takes no tags
  (a schema, an import job run) InvalidInputException; a resource being deleted
  ResourceInUseException (TagResource / UntagResource).
"""
import functools
import re

from chalicelib.domain import lifecycle
from chalicelib.protocol.errors import (InvalidInputException, ResourceInUseException,
                                        ResourceNotFoundException, TooManyTagKeysException,
                                        TooManyTagsException)
from chalicelib.service.registry import around, operation
from chalicelib.storage.resources import ConditionFailed, store

TAGS = "tags"
MAX_TAGS = 50
RESERVED_PREFIX = "aws:"
_RETRIES = 5


@functools.lru_cache(maxsize=None)
def taggable_creates():
    """Create* operation -> the output member with the created resource's ARN, for every
    Create* operation of the served model whose input has `tags`."""
    from chalicelib.protocol.models import service_model  # the model loads on first use
    model = service_model("personalize")
    out = {}
    for name in model.operation_names:
        op = model.operation_model(name)
        if name.startswith("Create") and op.input_shape is not None \
                and TAGS in op.input_shape.members:
            arn_members = [m for m in op.output_shape.members if m.endswith("Arn")]
            if len(arn_members) == 1:
                out[name] = arn_members[0]
    return out


@functools.lru_cache(maxsize=None)
def taggable_types():
    """Store resource types that take tags: campaignArn -> "campaign", datasetImportJobArn ->
    "dataset-import-job" (the store's types are the ARNs' resource types)."""
    return frozenset(re.sub(r"(?<!^)([A-Z])", r"-\1", member[:-len("Arn")]).lower()
                     for member in taggable_creates().values())


# ---- rules ---------------------------------------------------------------------------------

def _check_keys(keys, member):
    seen = set()
    for i, key in enumerate(keys):
        if key.lower().startswith(RESERVED_PREFIX):
            raise InvalidInputException(
                f"{member}[{i}]: the tag key {key!r} starts with {RESERVED_PREFIX}, which is "
                "reserved for AWS use")
        if key in seen:
            raise InvalidInputException(f"{member}[{i}]: the tag key {key!r} is given twice")
        seen.add(key)


def merged(current, tags):
    """`current` with `tags` set: a new key is appended, an existing one gets the new value.
    TooManyTagsException when the result would exceed MAX_TAGS."""
    _check_keys([t["tagKey"] for t in tags], "tags")
    values = {t["tagKey"]: t.get("tagValue", "") for t in tags}
    out = [{"tagKey": t["tagKey"], "tagValue": values.pop(t["tagKey"], t["tagValue"])}
           for t in current]
    out += [{"tagKey": k, "tagValue": v} for k, v in values.items()]
    if len(out) > MAX_TAGS:
        raise TooManyTagsException(
            f"tags: the resource would have {len(out)} tags; a resource can have at most "
            f"{MAX_TAGS}")
    return out


def _taggable(arn, changing=True):
    record = store().get(arn)
    if record is None:
        raise ResourceNotFoundException.for_arn(arn)
    kind = record.get("resourceType")
    if kind not in taggable_types():
        raise InvalidInputException(
            f"resourceArn: {arn} is a {kind}, which takes no tags (taggable: "
            f"{', '.join(sorted(taggable_types()))})")
    if changing and record.get("status") in (lifecycle.DELETE_PENDING, lifecycle.DELETE_IN_PROGRESS):
        raise ResourceInUseException(f"{arn} is {record['status']}; its tags cannot change now")
    return record


def _change(arn, change):
    """Replace the tags of `arn` with `change(current tags)`, under a condition that nobody
    changed them in between (concurrent TagResource calls never lose each other's keys)."""
    for _ in range(_RETRIES):
        current = _taggable(arn).get(TAGS) or []
        new = change(current)
        condition = {"equals": {TAGS: current}} if current else {"absent": [TAGS]}
        try:
            store().update(arn, {TAGS: new or None}, **condition)
            return
        except ConditionFailed as e:
            if e.current is None:
                raise ResourceNotFoundException.for_arn(arn) from None
    raise ResourceInUseException(f"The tags of {arn} are being changed by another request; try again")


# ---- operations ----------------------------------------------------------------------------

@operation("TagResource")
def tag_resource(params):
    tags = params["tags"]
    _change(params["resourceArn"], lambda current: merged(current, tags))
    return {}


@operation("UntagResource")
def untag_resource(params):
    keys = params["tagKeys"]
    if len(keys) > MAX_TAGS:
        raise TooManyTagKeysException(
            f"tagKeys: {len(keys)} keys given; a resource has at most {MAX_TAGS} tag keys")
    _check_keys(keys, "tagKeys")
    drop = set(keys)
    _change(params["resourceArn"], lambda current: [t for t in current if t["tagKey"] not in drop])
    return {}


@operation("ListTagsForResource")
def list_tags_for_resource(params):
    return {"tags": _taggable(params["resourceArn"], changing=False).get(TAGS) or []}


@around("personalize", lambda name: name in taggable_creates())
def _tags_on_create(name, handler):
    """The create with its `tags`: checked first, stored on the new record after."""
    arn_member = taggable_creates()[name]

    def create(params):
        tags = merged([], params.get(TAGS) or [])
        result = handler(params)
        if tags:
            try:
                store().update(result[arn_member], {TAGS: tags})
            except ConditionFailed:
                pass  # deleted already: its tags went with it
        return result
    return create
