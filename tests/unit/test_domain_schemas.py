"""CreateSchema's rules (seed: "Datasets and Schemas" table and examples)."""
import json

import pytest

from chalicelib.domain import schemas
from chalicelib.domain.schemas import InvalidSchema, dataset_type_of


def doc(name, *fields):
    return json.dumps({"type": "record", "name": name,
                       "namespace": "com.amazonaws.personalize.schema",
                       "fields": list(fields), "version": "1.0"})


def f(name, type_, **extra):
    return {"name": name, "type": type_, **extra}


UID, IID, TS = f("USER_ID", "string"), f("ITEM_ID", "string"), f("TIMESTAMP", "long")


@pytest.mark.parametrize("text, expected", [
    (doc("Interactions", UID, IID, TS), "INTERACTIONS"),
    (doc("interactions", UID, IID, TS, f("EVENT_TYPE", "string"), f("EVENT_VALUE", "float")),
     "INTERACTIONS"),
    (doc("Users", UID, f("AGE", "int"), f("GENDER", "string", categorical=True)), "USERS"),
    (doc("Items", IID, f("GENRE", "string", categorical=True), f("PRICE", ["null", "double"])),
     "ITEMS"),
    (doc("Items", IID, f("GENRE", ["null", "string"], categorical=True)), "ITEMS"),
])
def test_accepted(text, expected):
    assert dataset_type_of(text) == expected


@pytest.mark.parametrize("text, words", [
    ("{", "JSON"),
    ("[]", "record"),
    (json.dumps({"type": "enum", "name": "Items", "symbols": ["A"]}), "record"),
    (doc("Movies", IID), "record name"),
    (json.dumps({"type": "record", "name": "Items"}), "fields"),
    (doc("Users", IID), "USER_ID"),
    (doc("Items", UID), "ITEM_ID"),
    (doc("Interactions", UID, IID), "TIMESTAMP"),
    (doc("Interactions", UID, IID, f("TIMESTAMP", "string")), "TIMESTAMP"),
    (doc("Interactions", f("USER_ID", ["null", "string"]), IID, TS), "USER_ID"),
    (doc("Interactions", UID, IID, TS, f("EVENT_TYPE", "int")), "EVENT_TYPE"),
    (doc("Interactions", UID, IID, TS, f("EVENT_VALUE", "boolean")), "EVENT_VALUE"),
    (doc("Interactions", UID, IID, TS, f("CTX", "string", categorical=True)), "categorical"),
    (doc("Users", UID, f("AGE", "int", categorical=True)), "categorical"),
    (doc("Users", UID, f("GENDER", "string")), "categorical"),
    (doc("Users", UID, f("GENDER", "string", categorical="yes")), "categorical"),
    (doc("Items", IID, f("TAGS", {"type": "array", "items": "string"})), "TAGS"),
    (doc("Items", IID, IID), "twice"),
    (doc("Items", IID, f("X", "nosuchtype")), "Avro"),
])
def test_refused_with_a_reason(text, words):
    with pytest.raises(InvalidSchema) as e:
        dataset_type_of(text)
    assert words.lower() in str(e.value).lower()


def test_event_interactions_schema_is_the_seeds():
    fields = [x["name"] for x in schemas.EVENT_INTERACTIONS_SCHEMA["fields"]]
    assert fields == ["user_id", "session_id", "timestamp", "event_type", "item_id", "event_value"]
    assert schemas.EVENT_INTERACTIONS_SCHEMA["name"] == "Interactions"
    assert json.loads(schemas.event_interactions_schema_text()) == schemas.EVENT_INTERACTIONS_SCHEMA


@pytest.mark.parametrize("given, expected", [("Interactions", "INTERACTIONS"), ("items", "ITEMS"),
                                             (" USERS ", "USERS")])
def test_dataset_type_is_case_insensitive(given, expected):
    assert schemas.normalize_dataset_type(given) == expected


@pytest.mark.parametrize("given", ["EVENT_INTERACTIONS", "Ratings", ""])
def test_other_dataset_types_are_refused(given):
    with pytest.raises(InvalidSchema):
        schemas.normalize_dataset_type(given)


def test_matches():
    assert schemas.matches("INTERACTIONS", "INTERACTIONS")
    assert schemas.matches("INTERACTIONS", "EVENT_INTERACTIONS")
    assert not schemas.matches("USERS", "ITEMS")
