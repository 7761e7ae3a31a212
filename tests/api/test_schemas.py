"""Schemas as a boto3 user sees them (seed: "Datasets and Schemas"; CreateSchema,
DescribeSchema, ListSchemas, DeleteSchema). The rule-by-rule checks of the Avro
text are in tests/unit/test_domain_schemas.py."""
import json

import pytest
from botocore.exceptions import ClientError

# The seed's three example schemas ("Datasets and Schemas").
INTERACTIONS = {"type": "record", "name": "Interactions",
                "namespace": "com.amazonaws.personalize.schema",
                "fields": [{"name": "USER_ID", "type": "string"},
                           {"name": "ITEM_ID", "type": "string"},
                           {"name": "EVENT_TYPE", "type": "string"},
                           {"name": "EVENT_VALUE", "type": "string"},
                           {"name": "TIMESTAMP", "type": "long"}], "version": "1.0"}
USERS = {"type": "record", "name": "Users", "namespace": "com.amazonaws.personalize.schema",
         "fields": [{"name": "USER_ID", "type": "string"}, {"name": "AGE", "type": "int"},
                    {"name": "GENDER", "type": "string", "categorical": True}], "version": "1.0"}
ITEMS = {"type": "record", "name": "Items", "namespace": "com.amazonaws.personalize.schema",
         "fields": [{"name": "ITEM_ID", "type": "string"},
                    {"name": "GENRE", "type": "string", "categorical": True}], "version": "1.0"}


def code(excinfo):
    return excinfo.value.response["Error"]["Code"]


@pytest.mark.parametrize("doc", [INTERACTIONS, USERS, ITEMS], ids=["interactions", "users", "items"])
def test_seed_examples_are_accepted(personalize, doc):
    text = json.dumps(doc)
    arn = personalize.create_schema(name="MovieRatingSchema", schema=text)["schemaArn"]
    assert arn == "arn:aws:personalize:us-east-1:000000000000:schema/MovieRatingSchema"
    described = personalize.describe_schema(schemaArn=arn)["schema"]
    assert described["name"] == "MovieRatingSchema"
    assert described["schema"] == text  # kept exactly as given
    assert described["creationDateTime"] <= described["lastUpdatedDateTime"]


@pytest.mark.parametrize("text, words", [
    ("not json", "JSON"),
    (json.dumps({"type": "record", "name": "Ratings", "fields": INTERACTIONS["fields"]}), "record name"),
    (json.dumps({**INTERACTIONS, "fields": INTERACTIONS["fields"][:2]}), "TIMESTAMP"),
    (json.dumps({**USERS, "fields": [{"name": "USER_ID", "type": "string"},
                                     {"name": "GENDER", "type": "string"}]}), "categorical"),
    (json.dumps({**INTERACTIONS, "fields": INTERACTIONS["fields"] + [
        {"name": "DEVICE", "type": "string", "categorical": True}]}), "categorical"),
    (json.dumps({**INTERACTIONS, "fields": [{"name": "USER_ID", "type": "int"}] + INTERACTIONS["fields"][1:]}),
     "USER_ID"),
    (json.dumps({"type": "record", "name": "Items", "fields": [{"name": "ITEM_ID", "type": "strin"}]}),
     "Avro"),
])
def test_invalid_schemas_name_the_rule(personalize, text, words):
    with pytest.raises(ClientError) as e:
        personalize.create_schema(name="bad", schema=text)
    assert code(e) == "InvalidInputException"
    assert words.lower() in e.value.response["Error"]["Message"].lower()
    assert personalize.list_schemas()["schemas"] == []  # nothing half-written


def test_duplicate_and_reserved_names(personalize):
    personalize.create_schema(name="s", schema=json.dumps(ITEMS))
    with pytest.raises(ClientError) as e:
        personalize.create_schema(name="s", schema=json.dumps(ITEMS))
    assert code(e) == "ResourceAlreadyExistsException"
    with pytest.raises(ClientError) as e:
        personalize.create_schema(name="event-interactions-schema", schema=json.dumps(INTERACTIONS))
    assert code(e) == "InvalidInputException"


def test_describe_and_delete_missing(personalize):
    arn = "arn:aws:personalize:us-east-1:000000000000:schema/none"
    for call in (personalize.describe_schema, personalize.delete_schema):
        with pytest.raises(ClientError) as e:
            call(schemaArn=arn)
        assert code(e) == "ResourceNotFoundException"


def test_list_pages(personalize):
    for i in range(5):
        personalize.create_schema(name=f"s{i}", schema=json.dumps(ITEMS))
    first = personalize.list_schemas(maxResults=2)
    assert [s["name"] for s in first["schemas"]] == ["s4", "s3"]
    rest = personalize.list_schemas(maxResults=10, nextToken=first["nextToken"])
    assert [s["name"] for s in rest["schemas"]] == ["s2", "s1", "s0"]
    assert "nextToken" not in rest
    assert "schema" not in first["schemas"][0]  # summaries only
    with pytest.raises(ClientError) as e:
        personalize.list_schemas(nextToken=first["nextToken"][:-3] + "abc")
    assert code(e) == "InvalidNextTokenException"


def test_schema_in_use_cannot_be_deleted(personalize):
    group = personalize.create_dataset_group(name="g")["datasetGroupArn"]
    schema = personalize.create_schema(name="s", schema=json.dumps(INTERACTIONS))["schemaArn"]
    dataset = personalize.create_dataset(name="d", datasetGroupArn=group, schemaArn=schema,
                                         datasetType="INTERACTIONS")["datasetArn"]
    with pytest.raises(ClientError) as e:
        personalize.delete_schema(schemaArn=schema)
    assert code(e) == "ResourceInUseException" and dataset in str(e.value)
    # still usable after the refused delete
    group2 = personalize.create_dataset_group(name="g2")["datasetGroupArn"]
    personalize.create_dataset(name="d2", datasetGroupArn=group2, schemaArn=schema,
                               datasetType="Interactions")
    personalize.delete_dataset(datasetArn=dataset)
    with pytest.raises(ClientError):
        personalize.delete_schema(schemaArn=schema)  # d2 still uses it
    personalize.delete_dataset(datasetArn=f"{group2.replace('dataset-group', 'dataset')}/INTERACTIONS")
    personalize.delete_schema(schemaArn=schema)
    assert personalize.list_schemas()["schemas"] == []
