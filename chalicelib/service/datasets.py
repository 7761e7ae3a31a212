"""Datasets (seed: "Datasets and Schemas"; API Reference: CreateDataset,
DescribeDataset, ListDatasets, UpdateDataset, DeleteDataset).

Rules the service model cannot express:
- the group and the schema exist (ResourceNotFoundException) and are ACTIVE;
- one dataset per type per group: the ARN is `dataset/<group>/<TYPE>`, so
  the conditional put refuses a second one (ResourceAlreadyExistsException);
- the schema's record name is the dataset type (InvalidInputException);
- EVENT_INTERACTIONS datasets are made by CreateEventTracker only.
A dataset needs no work to create and is stored ACTIVE at once.
`datasetType` is kept upper case (INTERACTIONS, ITEMS, USERS,
EVENT_INTERACTIONS), as in the ARN and the seed's EVENT_INTERACTIONS example.

UpdateDataset replaces the schema (seed: schemaArn optional, nothing changes without it;
today's API requires it): the new schema keeps every field of the current one with its type
and attributes, and once the dataset holds data its new fields allow null
(`domain.schemas.replacement_problem`, today's guide "Replacing a dataset's schema"). The
change is immediate: `latestDatasetUpdate` (today's DatasetUpdateSummary) records it ACTIVE.
Today's guide also refuses Interactions datasets; the seed's UpdateDataset has no such rule and
a request does not say which API it speaks, so they keep the seed's permission.

Imports: a dataset holds `importRunArn` while an import run is writing to it
(one run per dataset at a time) and `dataVersion` (+ `dataVersionRunArn`),
the data the last successful run published; see `dataset_import_jobs`.
"""
from chalicelib.domain import arns, lifecycle, records, schemas
from chalicelib.protocol.errors import (InvalidInputException, ResourceAlreadyExistsException,
                                        ResourceInUseException)
from chalicelib.service import dataset_groups, schemas as schema_service
from chalicelib.service.registry import operation
from chalicelib.storage import events
from chalicelib.storage.resources import ConditionFailed, TransactionFailed, now, store

TYPE = arns.DATASET
IMPORT_LOCK = "importRunArn"


def create(group_arn, dataset_type, name, schema_arn, group_op=None, extra_ops=()):
    """Store a new dataset under an ACTIVE group with an ACTIVE schema; the seed's errors
    when the group, schema or type slot is not free.

    Callers that write more in the same transaction pass `group_op` (replacing the
    check that the group is ACTIVE: one op per item) and `extra_ops`; they get the
    TransactionFailed (ops in order: dataset, group, schema, extras) to explain."""
    record = records.dataset(group_arn, dataset_type, name, schema_arn, now())
    s = store()
    ops = [s.op_put_new(record, TYPE, parent_arn=group_arn),
           group_op or s.op_check(group_arn, expect_status=[lifecycle.ACTIVE]),
           s.op_check(schema_arn, expect_status=[lifecycle.ACTIVE]), *extra_ops]
    try:
        s.transact(ops)
    except TransactionFailed as e:
        if group_op or extra_ops:
            raise
        if e.failed(1):
            dataset_groups.require_active(group_arn)
        if e.failed(2):
            schema_service.require_active(schema_arn)
        if e.failed(0):
            raise ResourceAlreadyExistsException(
                f"Dataset group {group_arn} already has a {dataset_type} dataset: {record['arn']}"
            ) from None
        raise
    return record


@operation("CreateDataset")
def create_dataset(params):
    try:
        dataset_type = schemas.normalize_dataset_type(params["datasetType"])
    except schemas.InvalidSchema as e:
        # EVENT_INTERACTIONS is refused too: CreateEventTracker makes that one.
        raise InvalidInputException(str(e)) from None
    group_arn, schema_arn = params["datasetGroupArn"], params["schemaArn"]
    group = dataset_groups.require_active(group_arn)
    schema = schema_service.require_active(schema_arn)
    _check_schema_type(schema, dataset_type)
    if group.get("domain") and schema.get("domain") != group["domain"]:
        # CreateSchema's domain: "specify the domain you chose when you created the Domain
        # dataset group"; that is where the domain's required fields were checked
        raise InvalidInputException(
            f"schemaArn: dataset group {group_arn} is a {group['domain']} Domain dataset group; "
            f"its datasets need a schema created with domain {group['domain']}")
    # The seed's CLI chapter calls create-dataset without --name (its API Reference
    # requires one): a group holds one dataset per type, so the type names it uniquely.
    name = params.get("name") or dataset_type.lower().replace("_", "-")
    record = create(group_arn, dataset_type, name, schema_arn)
    return {"datasetArn": record["arn"]}


def _check_schema_type(schema, dataset_type):
    if not schemas.matches(schema.get("datasetType"), dataset_type):
        raise InvalidInputException(
            f"Schema {schema['schemaArn']} describes {schema.get('datasetType')} data; "
            f"a {dataset_type} dataset needs a schema whose record name is {dataset_type.title()}")


@operation("DescribeDataset")
def describe_dataset(params):
    return {"dataset": store().require(params["datasetArn"], TYPE, "dataset")}


@operation("ListDatasets")
def list_datasets(params):
    group_arn = params.get("datasetGroupArn")
    if group_arn:
        store().require(group_arn, arns.DATASET_GROUP, "dataset group")
    page, token = store().list_page(TYPE, params, group_arn)
    return {"datasets": page, "nextToken": token}


@operation("UpdateDataset")
def update_dataset(params):
    arn, schema_arn = params["datasetArn"], params.get("schemaArn")
    dataset = store().require(arn, TYPE, "dataset")
    if not schema_arn or schema_arn == dataset["schemaArn"]:
        return {"datasetArn": arn}
    if dataset["datasetType"] == schemas.EVENT_INTERACTIONS:
        raise InvalidInputException(
            f"Dataset {arn} holds recorded events; its schema is fixed (seed, Recording Events)")
    schema = schema_service.require_active(schema_arn)
    _check_schema_type(schema, dataset["datasetType"])
    current = store().get(dataset["schemaArn"], arns.SCHEMA)
    if current is not None:
        problem = schemas.replacement_problem(current["schema"], schema["schema"],
                                              dataset["datasetType"], _holds_data(dataset))
        if problem:
            raise InvalidInputException(problem)
    stamp = now()
    update = {"schemaArn": schema_arn, "status": lifecycle.ACTIVE,
              "creationDateTime": stamp, "lastUpdatedDateTime": stamp}
    s = store()
    try:
        s.transact([
            s.op_update(arn, {"schemaArn": schema_arn, "latestDatasetUpdate": update,
                              "lastUpdatedDateTime": stamp},
                        expect_status=[lifecycle.ACTIVE], absent=[IMPORT_LOCK],
                        equals={"schemaArn": dataset["schemaArn"]}),
            s.op_check(schema_arn, expect_status=[lifecycle.ACTIVE]),
        ])
    except TransactionFailed as e:
        if e.failed(1):
            schema_service.require_active(schema_arn)
        current = store().require(arn, TYPE, "dataset")
        raise ResourceInUseException(_busy_message(current)) from None
    return {"datasetArn": arn}


def _holds_data(dataset):
    """Imported (a published data version) or put (PutItems / PutUsers) records."""
    return bool(dataset.get("dataVersion")) or events.records_stamp(dataset["arn"]) is not None


def _busy_message(dataset):
    if dataset.get(IMPORT_LOCK):
        return f"Dataset {dataset['arn']} is being imported by {dataset[IMPORT_LOCK]}"
    return f"Dataset {dataset['arn']} is {dataset.get('status')}"


@operation("DeleteDataset")
def delete_dataset(params):
    arn = params["datasetArn"]
    s = store()
    dataset = s.require(arn, TYPE, "dataset")
    if dataset.get(IMPORT_LOCK):
        raise ResourceInUseException(_busy_message(dataset))
    # Import jobs are created only on an ACTIVE dataset, so after DELETE PENDING none appear.
    _, previous = s.begin_delete(arn, TYPE, "dataset")
    try:
        users = s.children(arn, [arns.DATASET_IMPORT_JOB])
        if dataset["datasetType"] == schemas.EVENT_INTERACTIONS:
            users += s.children(dataset["datasetGroupArn"], [arns.EVENT_TRACKER])
        if users:
            raise ResourceInUseException(
                f"Dataset {arn} is in use by {', '.join(users)}; delete them first")
        s.delete(arn, expect_status=[lifecycle.DELETE_PENDING])
    except ConditionFailed:
        s.revert_delete(arn, previous)
        raise ResourceInUseException(f"Dataset {arn} changed while being deleted; try again") from None
    except Exception:
        s.revert_delete(arn, previous)
        raise
    # The record is gone, so no import can start on it: its data versions go too.
    from chalicelib.datasets import versions  # here: it brings numpy, which most calls never need
    versions.delete_all_versions(arn)
    # recorded events (EVENT_INTERACTIONS) or records put with PutItems / PutUsers
    events.delete_dataset_events(arn)
    return {}


def switch_data_version_op(dataset_arn, run_arn, version):
    """The transaction op that publishes `version` as the dataset's current data, only if
    `run_arn` holds the dataset's import lock, and releases the lock (seed: "Imports in
    Amazon Personalize are a full refresh of the data")."""
    return store().op_update(
        dataset_arn, {"dataVersion": version, "dataVersionRunArn": run_arn,
                      "lastUpdatedDateTime": now()},
        remove=[IMPORT_LOCK], equals={IMPORT_LOCK: run_arn})


def switch_data_version(dataset_arn, run_arn, version):
    """Publish `version` (a dict the importer chooses, e.g. {"location": "s3://...",
    "rows": n}) as the dataset's current data, atomically, if `run_arn` holds the
    import lock. Raises ConditionFailed otherwise."""
    s = store()
    try:
        s.transact([switch_data_version_op(dataset_arn, run_arn, version)])
    except TransactionFailed:
        raise ConditionFailed(dataset_arn, s.get(dataset_arn)) from None
    return s.get(dataset_arn)


def current_data_version(dataset_arn):
    """(data version dict or None, ARN of the run that published it or None)."""
    dataset = store().require(dataset_arn, TYPE, "dataset")
    return dataset.get("dataVersion"), dataset.get("dataVersionRunArn")
