"""The single definition of the project's DynamoDB tables.

`TABLES` maps the CloudFormation logical id (template.yaml must use the same
ids, keys and indexes; a test checks it) to CreateTable keyword arguments
without `TableName`; `create_table_kwargs` adds the name from
`chalicelib.config`. `ensure_tables` creates what is missing (tests, the
embedded emulator).

Resources table: one item per control-plane resource, keyed by its ARN (which
embeds the resource's name, so a conditional put enforces name uniqueness).
Two indexes serve the List* operations, newest first:
- `byType`: `resourceType` + `sortKey` (ListDatasetGroups, ListSchemas, ...);
- `byParent`: `parentKey` (= "<type>|<parent ARN>") + `sortKey` (ListDatasets
  of a group, ListDatasetImportJobRuns of a job, ...).
`sortKey` is the zero-padded creation time plus the ARN, so it orders by
creation and never ties.

Events table: one item per event recorded with PutEvents, keyed by the
event-interactions dataset it belongs to and `eventKey` (zero-padded sentAt
plus event id, so time-ordered); `byUser` (`userKey` = "<dataset ARN>|<user
id>") gives one user's recent events to the runtime. Its TTL attribute `expiresAt`
prunes the change log (`chalicelib.storage.events`).

Access table: principals and access keys (`principal#<name>`, `key#<access key id>`),
secrets KMS-encrypted; see chalicelib/auth/keys.py.
"""
import time

from chalicelib import config

_PAY_PER_REQUEST = {"BillingMode": "PAY_PER_REQUEST"}


def _gsi(name, hash_key, range_key):
    return {
        "IndexName": name,
        "KeySchema": [{"AttributeName": hash_key, "KeyType": "HASH"},
                      {"AttributeName": range_key, "KeyType": "RANGE"}],
        "Projection": {"ProjectionType": "ALL"},
    }


TABLES = {
    "ResourcesTable": {
        "AttributeDefinitions": [
            {"AttributeName": "arn", "AttributeType": "S"},
            {"AttributeName": "resourceType", "AttributeType": "S"},
            {"AttributeName": "parentKey", "AttributeType": "S"},
            {"AttributeName": "sortKey", "AttributeType": "S"},
        ],
        "KeySchema": [{"AttributeName": "arn", "KeyType": "HASH"}],
        "GlobalSecondaryIndexes": [
            _gsi("byType", "resourceType", "sortKey"),
            _gsi("byParent", "parentKey", "sortKey"),
        ],
        **_PAY_PER_REQUEST,
    },
    "EventsTable": {
        "AttributeDefinitions": [
            {"AttributeName": "datasetArn", "AttributeType": "S"},
            {"AttributeName": "eventKey", "AttributeType": "S"},
            {"AttributeName": "userKey", "AttributeType": "S"},
        ],
        "KeySchema": [{"AttributeName": "datasetArn", "KeyType": "HASH"},
                      {"AttributeName": "eventKey", "KeyType": "RANGE"}],
        "GlobalSecondaryIndexes": [_gsi("byUser", "userKey", "eventKey")],
        # change-log items expire (chalicelib/storage/events.py: TTL_ATTRIBUTE, CHANGE_LOG_SECONDS)
        "TimeToLiveSpecification": {"AttributeName": "expiresAt", "Enabled": True},
        **_PAY_PER_REQUEST,
    },
    "AccessTable": {
        "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
        **_PAY_PER_REQUEST,
    },
}

# Logical id -> function giving the deployed table name (from the environment).
TABLE_NAMES = {
    "ResourcesTable": config.resources_table,
    "EventsTable": config.events_table,
    "AccessTable": config.access_table,
}


_AFTER_CREATE = ("TimeToLiveSpecification",)   # set by UpdateTimeToLive, not CreateTable


def create_table_kwargs(logical_id):
    """CreateTable kwargs for `logical_id`, named as the environment says."""
    return {"TableName": TABLE_NAMES[logical_id](),
            **{k: v for k, v in TABLES[logical_id].items() if k not in _AFTER_CREATE}}


def ensure_tables(dynamodb_client, wait_seconds=60):
    """Create every missing table and wait until all are ACTIVE; return their names."""
    names, created = [], {}
    for logical_id in TABLES:
        kwargs = create_table_kwargs(logical_id)
        names.append(kwargs["TableName"])
        try:
            dynamodb_client.create_table(**kwargs)
            created[kwargs["TableName"]] = logical_id
        except dynamodb_client.exceptions.ResourceInUseException:
            pass  # already there
    deadline = time.monotonic() + wait_seconds
    for name in names:
        while True:
            status = dynamodb_client.describe_table(TableName=name)["Table"]["TableStatus"]
            if status == "ACTIVE" or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    for name, logical_id in created.items():   # DynamoDB takes UpdateTimeToLive on ACTIVE tables
        ttl = TABLES[logical_id].get("TimeToLiveSpecification")
        if ttl:
            dynamodb_client.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
    return names
