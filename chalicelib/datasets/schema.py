"""A dataset's Avro schema as the importer sees it.

Seed: "Preparing and Importing Data" > "Datasets and Schemas": schemas are
Avro records; each dataset type has required fields (Users: USER_ID, Items:
ITEM_ID, Interactions: USER_ID, ITEM_ID, TIMESTAMP) and reserved keywords
(EVENT_TYPE, EVENT_VALUE for Interactions); in metadata datasets every string
must be marked `"categorical": true`. CreateDataset: `datasetType` is one of
Interactions | Items | Users, case insensitive.

The importer supports the Avro primitives a CSV cell can carry (`string`,
`int`, `long`, `float`, `double`, `boolean`) and unions of one of them with
`null` (an optional value: an empty cell is null).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import fastavro

INTERACTIONS, USERS, ITEMS = "INTERACTIONS", "USERS", "ITEMS"
EVENT_INTERACTIONS = "EVENT_INTERACTIONS"

# Seed: "Datasets and Schemas", table of required fields and reserved keywords.
REQUIRED_FIELDS = {
    USERS: ("USER_ID",),
    ITEMS: ("ITEM_ID",),
    INTERACTIONS: ("USER_ID", "ITEM_ID", "TIMESTAMP"),
}
RESERVED_KEYWORDS = {INTERACTIONS: ("EVENT_TYPE", "EVENT_VALUE")}

PRIMITIVES = ("string", "int", "long", "float", "double", "boolean")
# Fields the seed defines as identifiers or Unix seconds, with the types they must have.
FIELD_TYPES = {
    "USER_ID": ("string",),
    "ITEM_ID": ("string",),
    "TIMESTAMP": ("int", "long"),
}


class SchemaError(ValueError):
    """The schema cannot describe this dataset type (message says why)."""


@dataclass(frozen=True)
class FieldSpec:
    name: str
    type: str            # one of PRIMITIVES
    nullable: bool       # a union with "null": an empty cell is allowed
    categorical: bool = False
    has_default: bool = False

    @property
    def type_label(self):
        return f"{self.type} or null" if self.nullable else self.type


@dataclass(frozen=True)
class DatasetSchema:
    dataset_type: str
    fields: Tuple[FieldSpec, ...]

    def field(self, name) -> Optional[FieldSpec]:
        for f in self.fields:
            if f.name == name:
                return f
        return None

    @property
    def names(self) -> List[str]:
        return [f.name for f in self.fields]

    @property
    def required(self) -> Tuple[str, ...]:
        return REQUIRED_FIELDS[self.dataset_type]

    def may_be_absent(self, spec: FieldSpec) -> bool:
        """A schema field may be left out of a file's header only if it is
        optional (nullable or with a default) and not required by the dataset type."""
        return spec.name not in self.required and (spec.nullable or spec.has_default)


def normalize_dataset_type(value: str) -> str:
    """`Interactions` / `interactions` / `INTERACTIONS` -> `INTERACTIONS` (seed: CreateDataset)."""
    upper = (value or "").strip().upper()
    if upper == EVENT_INTERACTIONS:
        return INTERACTIONS  # same required fields; only PutEvents writes to it
    if upper not in REQUIRED_FIELDS:
        raise SchemaError(f"datasetType {value!r} is not one of Interactions, Items, Users")
    return upper


def _field_type(name, avro_type) -> Tuple[str, bool]:
    """Return (primitive, nullable) or raise SchemaError."""
    if isinstance(avro_type, dict) and avro_type.get("type") in PRIMITIVES \
            and not avro_type.get("logicalType"):
        avro_type = avro_type["type"]
    if isinstance(avro_type, str):
        if avro_type in PRIMITIVES:
            return avro_type, False
    elif isinstance(avro_type, list):
        members = [t["type"] if isinstance(t, dict) and not t.get("logicalType") else t
                   for t in avro_type]
        others = [t for t in members if t != "null"]
        if len(others) == 1 and len(members) == 2 and others[0] in PRIMITIVES:
            return others[0], True
    raise SchemaError(
        f"field {name}: type {json.dumps(avro_type)} is not supported for CSV import "
        f"(use one of {', '.join(PRIMITIVES)}, or a union of one of them with \"null\")")


def parse(schema, dataset_type: str) -> DatasetSchema:
    """Parse an Avro schema (JSON text or dict) for a dataset of `dataset_type`.

    Raises SchemaError naming the field and the rule when the schema is not an
    Avro record, uses a type a CSV cell cannot hold, lacks a required field of
    the dataset type, gives USER_ID / ITEM_ID / TIMESTAMP the wrong type, or
    (Users, Items) has a string field that is not categorical.
    """
    dtype = normalize_dataset_type(dataset_type)
    if isinstance(schema, (str, bytes)):
        try:
            schema = json.loads(schema)
        except ValueError as e:
            raise SchemaError(f"the schema is not valid JSON: {e}") from None
    if not isinstance(schema, dict) or schema.get("type") != "record":
        raise SchemaError("the schema must be an Avro record (\"type\": \"record\")")
    try:
        fastavro.parse_schema(schema)
    except Exception as e:  # fastavro raises several types, all mean "not Avro"
        raise SchemaError(f"the schema is not a valid Avro schema: {e}") from None
    specs, seen = [], set()
    for raw in schema.get("fields", []):
        name = raw["name"]
        if name.upper() in seen:
            raise SchemaError(f"field {name} appears twice")
        seen.add(name.upper())
        primitive, nullable = _field_type(name, raw["type"])
        specs.append(FieldSpec(name=name, type=primitive, nullable=nullable,
                               categorical=bool(raw.get("categorical")),
                               has_default="default" in raw))
    out = DatasetSchema(dtype, tuple(specs))
    for name in REQUIRED_FIELDS[dtype]:
        spec = out.field(name)
        if spec is None:
            raise SchemaError(f"a {dtype.title()} schema must have a {name} field")
        if spec.nullable:
            raise SchemaError(f"field {name} is required and cannot be a union with null")
    for spec in specs:
        allowed = FIELD_TYPES.get(spec.name)
        if allowed and spec.type not in allowed:
            raise SchemaError(f"field {spec.name} must be of type {' or '.join(allowed)}, "
                              f"not {spec.type}")
        if dtype in (USERS, ITEMS) and spec.type == "string" \
                and spec.name not in REQUIRED_FIELDS[dtype] and not spec.categorical:
            raise SchemaError(f"field {spec.name}: in a {dtype.title()} dataset every string "
                              "field must be marked \"categorical\": true")
    return out


def field_map(schema: DatasetSchema) -> Dict[str, FieldSpec]:
    return {f.name: f for f in schema.fields}
