"""Event trackers (seed: "Recording Events"; API Reference: CreateEventTracker,
DescribeEventTracker, ListEventTrackers, DeleteEventTracker).

CreateEventTracker, in one transaction:
- stores the tracker ACTIVE at once (nothing to build) with a new `trackingId`;
- marks the group as having a tracker (`eventTrackerArn`, conditional on it
  being absent and the group ACTIVE): "You will get an error if you call
  CreateEventTracker using the same dataset group as an existing event
  tracker, even if you use a different event tracker name" -> here
  ResourceAlreadyExistsException;
- creates the group's EVENT_INTERACTIONS dataset (`dataset/<group>/EVENT_INTERACTIONS`)
  with the shared `event-interactions-schema` (seed, "Event-Interactions
  Dataset", "Event Interactions Schema"), unless an earlier tracker left it;
- stores an alias item `tracking-id/<id>` -> tracker ARN, so PutEvents finds
  the tracker by a consistent read (`tracker_for`).
DeleteEventTracker "Does not delete the clickstream dataset from the
associated dataset group": it removes the tracker, its alias and the group's
mark; the dataset and its events stay (a later tracker reuses them).
"""
import uuid

from chalicelib import config
from chalicelib.domain import arns, lifecycle, records, schemas
from chalicelib.protocol.errors import ResourceAlreadyExistsException, ResourceInUseException
from chalicelib.service import dataset_groups, datasets
from chalicelib.service import schemas as schema_service
from chalicelib.service.registry import operation
from chalicelib.storage.resources import TransactionFailed, now, store

TYPE = arns.EVENT_TRACKER
ALIAS = "tracking-id"
GROUP_MARK = "eventTrackerArn"


def _alias_arn(tracking_id):
    return f"{ALIAS}/{tracking_id}"


@operation("CreateEventTracker")
def create_event_tracker(params):
    group_arn = params["datasetGroupArn"]
    group = dataset_groups.require_active(group_arn)
    arn = arns.event_tracker(params["name"])
    if group.get(GROUP_MARK):
        raise ResourceAlreadyExistsException(
            f"Dataset group {group_arn} already has an event tracker: {group[GROUP_MARK]}")
    schema = schema_service.ensure_event_interactions_schema()
    tracking_id = str(uuid.uuid4())
    tracker = records.event_tracker(params["name"], group_arn, params.get("roleArn"), tracking_id,
                                    config.account_id(), now())
    s = store()
    put_tracker = s.op_put_new(tracker, TYPE, parent_arn=group_arn)
    mark_group = s.op_update(group_arn, {GROUP_MARK: arn}, expect_status=[lifecycle.ACTIVE],
                             absent=[GROUP_MARK])
    put_alias = s.op_put_new({"arn": _alias_arn(tracking_id), "eventTrackerArn": arn}, ALIAS)
    dataset_arn = arns.dataset(group_arn, schemas.EVENT_INTERACTIONS)
    if s.get(dataset_arn, datasets.TYPE) is None:
        # ops: dataset, group, schema, tracker, alias
        try:
            datasets.create(group_arn, schemas.EVENT_INTERACTIONS, schemas.EVENT_INTERACTIONS,
                            schema["schemaArn"], group_op=mark_group,
                            extra_ops=[put_tracker, put_alias])
        except TransactionFailed as e:
            _explain(e, arn, group_arn, tracker_index=3, group_index=1)
            raise ResourceInUseException(
                f"Dataset group {group_arn} or the event-interactions schema changed meanwhile; "
                "try again") from None
    else:
        # An earlier tracker's dataset stays with the group (seed, DeleteEventTracker).
        try:
            s.transact([put_tracker, mark_group, put_alias,
                        s.op_check(dataset_arn, expect_status=[lifecycle.ACTIVE])])
        except TransactionFailed as e:
            _explain(e, arn, group_arn, tracker_index=0, group_index=1)
            raise ResourceInUseException(
                f"The event-interactions dataset {dataset_arn} is being deleted") from None
    return {"eventTrackerArn": arn, "trackingId": tracking_id}


def _explain(error, arn, group_arn, tracker_index, group_index):
    if error.failed(tracker_index):
        raise ResourceAlreadyExistsException(f"Event tracker {arn} already exists") from None
    if error.failed(group_index):
        group = dataset_groups.require_active(group_arn)
        raise ResourceAlreadyExistsException(
            f"Dataset group {group_arn} already has an event tracker: {group.get(GROUP_MARK)}"
        ) from None


@operation("DescribeEventTracker")
def describe_event_tracker(params):
    return {"eventTracker": store().require(params["eventTrackerArn"], TYPE, "event tracker")}


@operation("ListEventTrackers")
def list_event_trackers(params):
    page, token = store().list_page(TYPE, params, params.get("datasetGroupArn"))
    return {"eventTrackers": page, "nextToken": token}


@operation("DeleteEventTracker")
def delete_event_tracker(params):
    arn = params["eventTrackerArn"]
    s = store()
    tracker = s.require(arn, TYPE, "event tracker")
    if tracker["status"] not in lifecycle.DELETABLE:
        raise ResourceInUseException(f"Event tracker {arn} is {tracker['status']}")
    try:
        s.transact([
            s.op_delete(arn, expect_status=lifecycle.DELETABLE),
            s.op_delete(_alias_arn(tracker["trackingId"])),
            s.op_update(tracker["datasetGroupArn"], remove=[GROUP_MARK], equals={GROUP_MARK: arn}),
        ])
    except TransactionFailed as e:
        if e.failed(0):
            s.require(arn, TYPE, "event tracker")
        raise ResourceInUseException(f"Event tracker {arn} changed while being deleted; "
                                     "try again") from None
    return {}


def tracker_for(tracking_id):
    """The ACTIVE event tracker record with this trackingId, or None (for PutEvents)."""
    if not tracking_id:
        return None
    alias = store().get(_alias_arn(tracking_id), ALIAS)
    tracker = alias and store().get(alias["eventTrackerArn"], TYPE)
    if not tracker or tracker.get("status") != lifecycle.ACTIVE:
        return None
    return tracker


def event_interactions_dataset_arn(tracker):
    """Where a tracker's events go: its group's EVENT_INTERACTIONS dataset."""
    return arns.dataset(tracker["datasetGroupArn"], schemas.EVENT_INTERACTIONS)
