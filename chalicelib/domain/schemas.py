"""Dataset schemas: what CreateSchema accepts and which dataset type a schema serves.

Seed, "Preparing and Importing Data" > "Datasets and Schemas":
- schemas are Avro records (parsed with fastavro); the record `name` matches
  the dataset type (Users, Items, Interactions);
- required fields per type: Users USER_ID, Items ITEM_ID, Interactions
  USER_ID ITEM_ID TIMESTAMP; reserved keywords of Interactions: EVENT_TYPE,
  EVENT_VALUE;
- in the metadata types (Users, Items) every string field is marked
  `"categorical": true`, and nothing else may be categorical.
The field rules an importer relies on (types a CSV cell can carry, required
fields and their types, categorical strings) are those of
`chalicelib.datasets.schema.parse`, so what CreateSchema accepts the
importer can read; this module adds the rules about the schema as a whole.

Seed, "Recording Events": the event-interactions schema that CreateEventTracker
creates (`EVENT_INTERACTIONS_SCHEMA`).
"""
import json

from chalicelib.datasets import schema as dataset_schema

INTERACTIONS, USERS, ITEMS = "INTERACTIONS", "USERS", "ITEMS"
EVENT_INTERACTIONS = "EVENT_INTERACTIONS"
DATASET_TYPES = (INTERACTIONS, ITEMS, USERS)          # what CreateDataset accepts
ALL_DATASET_TYPES = DATASET_TYPES + (EVENT_INTERACTIONS,)
RECORD_NAMES = {"interactions": INTERACTIONS, "users": USERS, "items": ITEMS}
RESERVED_KEYWORDS = {INTERACTIONS: {"EVENT_TYPE": ("string",),
                                    "EVENT_VALUE": ("string", "int", "long", "float", "double")}}

EVENT_INTERACTIONS_SCHEMA_NAME = "event-interactions-schema"
EVENT_INTERACTIONS_SCHEMA = {
    "type": "record",
    "name": "Interactions",
    "namespace": "com.amazonaws.personalize.schema",
    "fields": [
        {"name": "user_id", "type": "string"},
        {"name": "session_id", "type": "string"},
        {"name": "timestamp", "type": "long"},
        {"name": "event_type", "type": "string"},
        {"name": "item_id", "type": "string"},
        {"name": "event_value", "type": "string"},
    ],
    "version": "1.0",
}


class InvalidSchema(ValueError):
    """The schema text breaks a rule; the message names the field and the rule."""


def normalize_dataset_type(value):
    """CreateDataset's `datasetType` (case insensitive) -> INTERACTIONS | ITEMS | USERS."""
    upper = (value or "").strip().upper()
    if upper not in DATASET_TYPES:
        raise InvalidSchema(f"datasetType {value!r} must be one of Interactions, Items, Users")
    return upper


def dataset_type_of(schema_text):
    """Validate an Avro schema (JSON text) and return the dataset type it serves."""
    try:
        doc = json.loads(schema_text)
    except ValueError as e:
        raise InvalidSchema(f"The schema is not valid JSON: {e}") from None
    if not isinstance(doc, dict) or doc.get("type") != "record":
        raise InvalidSchema('The schema must be an Avro record ("type": "record")')
    record_name = doc.get("name")
    dtype = RECORD_NAMES.get(str(record_name).lower()) if isinstance(record_name, str) else None
    if dtype is None:
        raise InvalidSchema(f"The schema's record name {record_name!r} must be one of "
                            "Interactions, Items, Users (it names the dataset type)")
    if not isinstance(doc.get("fields"), list) or not all(
            isinstance(f, dict) and isinstance(f.get("name"), str) and "type" in f
            for f in doc["fields"]):
        raise InvalidSchema('The schema must have a "fields" list of objects with "name" and "type"')
    try:
        parsed = dataset_schema.parse(doc, dtype)
    except dataset_schema.SchemaError as e:
        raise InvalidSchema(_sentence(str(e))) from None
    for raw, spec in zip(doc["fields"], parsed.fields):
        if "categorical" in raw and not isinstance(raw["categorical"], bool):
            raise InvalidSchema(f"Field {spec.name}: \"categorical\" must be true or false")
        if raw.get("categorical") is True and (dtype == INTERACTIONS or spec.type != "string"):
            raise InvalidSchema(f"Field {spec.name}: only string fields of Users and Items "
                                "schemas may be categorical")
        allowed = RESERVED_KEYWORDS.get(dtype, {}).get(spec.name)
        if allowed and spec.type not in allowed:
            raise InvalidSchema(f"Field {spec.name} is a reserved keyword and must be of type "
                                f"{' or '.join(allowed)}, not {spec.type}")
    return dtype


def field_types(schema_text):
    """{FIELD (upper case): Avro type} of a schema `dataset_type_of` accepted."""
    doc = json.loads(schema_text)
    parsed = dataset_schema.parse(doc, RECORD_NAMES[str(doc["name"]).lower()])
    return {f.name.upper(): f.type for f in parsed.fields}


def matches(schema_type, dataset_type):
    """Whether a schema of `schema_type` may describe a dataset of `dataset_type`."""
    if dataset_type == EVENT_INTERACTIONS:
        return schema_type == INTERACTIONS
    return schema_type == dataset_type


def replacement_problem(current_text, new_text, dataset_type, holds_data):
    """Why the Avro schema `new_text` cannot replace `current_text` as the schema of a dataset
    of `dataset_type`, naming the field; None when it can. Today's guide, "Replacing a
    dataset's schema": "you must keep all fields from the previous schema" and "can't change
    their data type or attributes" (type, null in the union, categorical, textual); "any new
    fields must support null data", a rule for the records already in the dataset, so it applies
    once the dataset `holds_data`."""
    current, new = (dataset_schema.parse(t, dataset_type) for t in (current_text, new_text))
    current_raw, new_raw = (_raw_fields(t) for t in (current_text, new_text))
    replacing = {f.name.upper(): f for f in new.fields}
    for field in current.fields:
        other = replacing.pop(field.name.upper(), None)
        if other is None:
            return (f"schemaArn: the new schema has no field {field.name}; a replacement keeps "
                    "every field of the current schema")
        if (other.type, other.nullable) != (field.type, field.nullable):
            return (f"schemaArn: field {field.name} is {other.type_label} in the new schema and "
                    f"{field.type_label} now; a replacement keeps each field's type")
        attributes = [a for a in ("categorical", "textual")
                      if bool(new_raw[other.name].get(a)) != bool(current_raw[field.name].get(a))]
        if attributes:
            return (f"schemaArn: field {field.name} changes {' and '.join(attributes)}; a "
                    "replacement keeps each field's attributes")
    if holds_data:
        for other in replacing.values():
            if not other.nullable:
                return (f"schemaArn: new field {other.name} must allow null (a union with "
                        "\"null\"): the records already in the dataset have no value for it")
    return None


def _raw_fields(text):
    return {f["name"]: f for f in json.loads(text)["fields"]}


def event_interactions_schema_text():
    return json.dumps(EVENT_INTERACTIONS_SCHEMA)


def _sentence(text):
    return text[:1].upper() + text[1:]
