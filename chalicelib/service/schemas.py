"""Schemas (seed: "Datasets and Schemas"; API Reference: CreateSchema,
DescribeSchema, ListSchemas, DeleteSchema).

CreateSchema parses the Avro text and checks it against the "Datasets and
Schemas" table (`chalicelib.domain.schemas`); the dataset type the schema
serves is kept with the record so CreateDataset/UpdateDataset can match it.
A schema needs no work to create and is stored ACTIVE at once (the API shows
no status for schemas; the store keeps one so deletes can be guarded).
DeleteSchema refuses with ResourceInUseException while a dataset uses it.
Today's `domain`: the schema must carry the domain's required fields (`domain.use_cases`
REQUIRED_FIELDS; InvalidInputException naming the field), and only a domain schema of the same
domain serves a dataset of a Domain dataset group (`datasets.py`).
"""
from chalicelib.domain import arns, lifecycle, records, schemas, use_cases
from chalicelib.protocol.errors import (InvalidInputException, ResourceAlreadyExistsException,
                                        ResourceInUseException)
from chalicelib.protocol.jsontext import member_json
from chalicelib.service.registry import operation
from chalicelib.storage import references
from chalicelib.storage.resources import now, store

TYPE = arns.SCHEMA


def require_active(schema_arn):
    schema = store().require(schema_arn, TYPE, "schema")
    if schema.get("status") != lifecycle.ACTIVE:
        raise InvalidInputException(f"Schema {schema_arn} is {schema.get('status')}; it is being deleted")
    return schema


@operation("CreateSchema")
def create_schema(params):
    name = params["name"]
    if name == schemas.EVENT_INTERACTIONS_SCHEMA_NAME:
        raise InvalidInputException(
            f"The schema name {name} is reserved for the schema CreateEventTracker creates")
    member_json(params["schema"], "schema")   # depth and Unicode limits first
    try:
        dataset_type = schemas.dataset_type_of(params["schema"])
    except schemas.InvalidSchema as e:
        raise InvalidInputException(str(e)) from None
    domain = params.get("domain")
    if domain:
        problem = use_cases.schema_problem(domain, dataset_type, schemas.field_types(params["schema"]))
        if problem:
            raise InvalidInputException(problem)
    record = records.schema(name, params["schema"], dataset_type, now())
    if domain:
        record["domain"] = domain
    store().put_new(record, TYPE, exists_message=f"Schema {record['arn']} already exists")
    return {"schemaArn": record["arn"]}


@operation("DescribeSchema")
def describe_schema(params):
    return {"schema": store().require(params["schemaArn"], TYPE, "schema")}


@operation("ListSchemas")
def list_schemas(params):
    page, token = store().list_page(TYPE, params)
    return {"schemas": page, "nextToken": token}


@operation("DeleteSchema")
def delete_schema(params):
    arn = params["schemaArn"]
    # Datasets are created and updated only with an ACTIVE schema (a condition of their
    # transaction), so after DELETE PENDING the set of users can only shrink.
    _, previous = store().begin_delete(arn, TYPE, "schema")
    users = references.users_of(arn)
    if users:
        store().revert_delete(arn, previous)
        raise ResourceInUseException(f"Schema {arn} is used by {', '.join(users)}")
    store().delete(arn, expect_status=[lifecycle.DELETE_PENDING])
    return {}


def ensure_event_interactions_schema():
    """The event-interactions schema (seed, "Event Interactions Schema"), created once."""
    arn = arns.schema(schemas.EVENT_INTERACTIONS_SCHEMA_NAME)
    found = store().get(arn, TYPE)
    if found is None:
        record = records.schema(schemas.EVENT_INTERACTIONS_SCHEMA_NAME,
                                schemas.event_interactions_schema_text(), schemas.INTERACTIONS,
                                now(), system=True)
        try:
            store().put_new(record, TYPE)
        except ResourceAlreadyExistsException:  # created concurrently by another tracker: use that one
            pass
        found = store().get(arn, TYPE)
    return found
