"""PutItems and PutUsers (today's personalize-events API): records upserted one by one into
an Items or Users dataset. Service `personalize-events`, POST /items and /users.

Today's API reference: `datasetArn` is "the Items dataset you are adding the item or items
to" (the Users dataset for PutUsers); 1-10 records per call (the model checks the count and
the lengths); `properties` is "a string map of item-specific metadata ... The keys use camel
case names that match the fields in the schema" (`numberOfRatings` is NUMBER_OF_RATINGS),
categories of a categorical field separated by `|`. Rules added here:

- the dataset exists (ResourceNotFoundException), is ACTIVE (ResourceInUseException) and is
  of the operation's type (InvalidInputException naming datasetArn);
- `properties` is a JSON object whose keys name fields of the dataset's schema (the camel
  case form, or the field's own name in any case); each value fits its field's type by the
  import's cell rules (`chalicelib.datasets.cells`); a field the schema does not let be null
  must be given; the id comes from `itemId` / `userId`, never from properties. The first
  problem is refused with InvalidInputException naming `items[i].properties.<key>`;
  nothing is written unless every record is valid. A record sent twice in one call: the
  later one counts.

Put records are not bulk data: no import replaces them (`chalicelib.datasets.current` lays
them over the bulk version for the next training and for the runtime).
"""
from __future__ import annotations

import re

from chalicelib.datasets.schema import REQUIRED_FIELDS
from chalicelib.domain import lifecycle, schemas
from chalicelib.protocol.errors import InvalidInputException, ResourceInUseException
from chalicelib.protocol.jsontext import member_json
from chalicelib.service import datasets
from chalicelib.service.registry import operation
from chalicelib.storage import events as store
from chalicelib.storage.resources import store as resources

SERVICE = "personalize-events"
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def _dataset_schema(dataset_arn, dataset_type):
    from chalicelib.datasets import records  # brings fastavro: only these calls need it
    from chalicelib.datasets.schema import SchemaError
    dataset = resources().require(dataset_arn, datasets.TYPE, "dataset")
    if dataset["datasetType"] != dataset_type:
        raise InvalidInputException(
            f"datasetArn: {dataset_arn} is an {dataset['datasetType'].title()} dataset; "
            f"this operation adds to an {dataset_type.title()} dataset")
    if dataset.get("status") != lifecycle.ACTIVE:
        raise ResourceInUseException(f"Dataset {dataset_arn} is {dataset.get('status')}")
    try:
        return records.dataset_schema_of(dataset)
    except SchemaError as e:
        raise InvalidInputException(f"datasetArn: the dataset's schema cannot be used: {e}") from None


def field_for(key, schema):
    """The schema field a properties key names: the field itself in any case, or its camel
    case form (`numberOfRatings` -> NUMBER_OF_RATINGS); None if neither."""
    by_upper = {f.name.upper(): f for f in schema.fields}
    return by_upper.get(key.upper()) or by_upper.get(_CAMEL.sub("_", key).upper())


def _cell(value):
    """A properties value as the text an import cell would hold."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, (int, float, str)):
        return str(value)
    raise TypeError(type(value).__name__)


def parse_properties(text, schema, id_field, where):
    """{field name: cell text} of one record (empty cells left out); InvalidInputException
    naming `where.properties[.key]` and the rule."""
    from chalicelib.datasets import cells
    doc = member_json(text, f"{where}.properties") if text not in (None, "") else {}
    if not isinstance(doc, dict):
        raise InvalidInputException(f"{where}.properties: must be a JSON object, not "
                                    f"{type(doc).__name__}")
    out = {}
    for key, value in doc.items():
        spec = field_for(key, schema)
        if spec is None:
            raise InvalidInputException(
                f"{where}.properties.{key}: not a field of the dataset's schema (fields: "
                + ", ".join(f.name for f in schema.fields if f.name != id_field) + ")")
        if spec.name == id_field:
            raise InvalidInputException(
                f"{where}.properties.{key}: the {id_field} is given by the record's own id member")
        try:
            cell = _cell(value)
        except TypeError as e:
            raise InvalidInputException(
                f"{where}.properties.{key}: a {spec.type} value, not a JSON {e}") from None
        problem = cells.cell_problem(cell, spec)
        if problem:
            raise InvalidInputException(f"{where}.properties.{key}: {problem} (field {spec.name})")
        if cell != "":
            out[spec.name] = cell
    for spec in schema.fields:
        if spec.name != id_field and spec.name not in out and not schema.may_be_absent(spec):
            raise InvalidInputException(
                f"{where}.properties: field {spec.name} is required (type {spec.type} does not "
                "allow null)")
    return out


def _put(params, list_member, id_member, dataset_type):
    dataset_arn = params["datasetArn"]
    schema = _dataset_schema(dataset_arn, dataset_type)
    id_field = REQUIRED_FIELDS[dataset_type][0]   # ITEM_ID, USER_ID
    found = {}
    for i, raw in enumerate(params[list_member]):
        where = f"{list_member}[{i}]"
        record_id = raw.get(id_member) or ""
        if not record_id.strip():
            raise InvalidInputException(f"{where}.{id_member}: must not be empty")
        found[record_id] = parse_properties(raw.get("properties"), schema, id_field, where)
    store.put_records(dataset_arn, found)
    return {}


@operation("PutItems", service=SERVICE)
def put_items(params):
    return _put(params, "items", "itemId", schemas.ITEMS)


@operation("PutUsers", service=SERVICE)
def put_users(params):
    return _put(params, "users", "userId", schemas.USERS)

