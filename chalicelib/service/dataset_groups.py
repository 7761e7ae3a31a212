"""Dataset groups (seed: "Datasets and Dataset Groups"; API Reference:
CreateDatasetGroup, DescribeDatasetGroup, ListDatasetGroups, DeleteDatasetGroup).

A dataset group needs no work to create, so it is stored ACTIVE at once (the
seed shows `CREATE PENDING > CREATE IN_PROGRESS > ACTIVE`; a client that waits
for ACTIVE sees it immediately).

Deleting is guarded against children created at the same moment: the group
first moves to DELETE PENDING (children are only created under an ACTIVE
group, checked in the same transaction as their creation), then its children
are looked for; if any are found the group returns to its previous status and
the delete is refused:
- datasets -> InvalidInputException listing them (seed, DeleteDatasetGroup:
  "an InvalidInputException occurs, which lists the datasets that need to be
  deleted");
- event trackers, solutions, running feature export jobs, filters and recommenders (asked of
  `storage.references`) -> ResourceInUseException.

Today's `domain` (VIDEO_ON_DEMAND, ECOMMERCE) makes a Domain dataset group: kept on the record;
its datasets take schemas of that domain and its models are recommenders (`recommenders.py`).
"""
from chalicelib.domain import arns, lifecycle, records
from chalicelib.protocol.errors import InvalidInputException, ResourceInUseException
from chalicelib.service.registry import operation
from chalicelib.storage import references
from chalicelib.storage.resources import now, store

TYPE = arns.DATASET_GROUP
# Child resource types that keep a group from being deleted (besides datasets).
IN_USE_CHILDREN = (arns.EVENT_TRACKER, arns.SOLUTION)


def require_active(group_arn):
    """The group record if it exists and is ACTIVE (what children need), else the seed's error."""
    group = store().require(group_arn, TYPE, "dataset group")
    if group["status"] != lifecycle.ACTIVE:
        raise InvalidInputException(
            f"Dataset group {group_arn} is {group['status']}; it must be ACTIVE")
    return group


@operation("CreateDatasetGroup")
def create_dataset_group(params):
    role, kms = params.get("roleArn"), params.get("kmsKeyArn")
    # Seed, CreateDatasetGroup: a KMS key needs a role that may use it, and a role is
    # "only valid when also specifying a KMS key".
    if role and not kms:
        raise InvalidInputException("roleArn is only valid together with kmsKeyArn")
    if kms and not role:
        raise InvalidInputException("kmsKeyArn requires a roleArn with permission to use the key")
    record = records.dataset_group(params["name"], now(), role_arn=role, kms_key_arn=kms)
    if params.get("domain"):   # a Domain dataset group: recommenders instead of campaigns
        record["domain"] = params["domain"]
    store().put_new(record, TYPE, exists_message=f"Dataset group {record['arn']} already exists")
    return {"datasetGroupArn": record["arn"]}


@operation("DescribeDatasetGroup")
def describe_dataset_group(params):
    return {"datasetGroup": store().require(params["datasetGroupArn"], TYPE, "dataset group")}


@operation("ListDatasetGroups")
def list_dataset_groups(params):
    page, token = store().list_page(TYPE, params)
    return {"datasetGroups": page, "nextToken": token}


@operation("DeleteDatasetGroup")
def delete_dataset_group(params):
    arn = params["datasetGroupArn"]
    _, previous = store().begin_delete(arn, TYPE, "dataset group")
    try:
        datasets = store().children(arn, [arns.DATASET])
        if datasets:
            raise InvalidInputException(
                f"Dataset group {arn} still has datasets; delete them first: {', '.join(datasets)}")
        in_use = store().children(arn, IN_USE_CHILDREN)
        in_use += [j["arn"] for j in store().iterate(arns.FEATURE_EXPORT_JOB, arn)
                   if j.get("status") in lifecycle.IN_FLIGHT]
        in_use += references.users_of(arn, [arns.FILTER, arns.RECOMMENDER])
        if in_use:
            raise ResourceInUseException(
                f"Dataset group {arn} is in use by {', '.join(in_use)}; delete them first")
    except Exception:
        store().revert_delete(arn, previous)
        raise
    store().delete(arn, expect_status=[lifecycle.DELETE_PENDING])
    return {}
