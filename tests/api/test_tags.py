"""Tags through boto3 (today's API: TagResource, UntagResource, ListTagsForResource and `tags`
on every Create* operation that has it; "Tagging Amazon Personalize resources")."""
import json

import botocore.session
import pytest
from botocore.exceptions import ClientError

from tests.api.test_solutions import (HRNN, code, finish_training, make_group,  # noqa: F401
                                      message, started)

ACCT = "arn:aws:personalize:us-east-1:000000000000"
ROLE = "arn:aws:iam::000000000000:role/personalize"


def tags(*pairs):
    return [{"tagKey": k, "tagValue": v} for k, v in pairs]


def listed(client, arn):
    return client.list_tags_for_resource(resourceArn=arn)["tags"]


def test_taggable_resources_are_the_stock_creates_with_tags():
    """The set comes from the model: each Create* with a `tags` member, by its ARN member."""
    from chalicelib.service import tags as tag_service
    stock = botocore.session.get_session().get_service_model("personalize")
    with_tags = {op for op in stock.operation_names if op.startswith("Create")
                 and "tags" in stock.operation_model(op).input_shape.members}
    assert set(tag_service.taggable_creates()) >= with_tags
    assert {"dataset-group", "dataset", "dataset-import-job", "event-tracker", "solution",
            "solution-version", "campaign", "batch-inference-job", "batch-segment-job",
            "filter", "recommender"} <= tag_service.taggable_types()
    assert "schema" not in tag_service.taggable_types()


def test_tags_on_every_create_of_the_getting_started_flow(stock_personalize, s3, started):
    client = stock_personalize
    group = client.create_dataset_group(name="g", tags=tags(("team", "ml")))["datasetGroupArn"]
    schema = client.create_schema(name="s", schema=json.dumps({
        "type": "record", "name": "Interactions", "version": "1.0", "fields": [
            {"name": "USER_ID", "type": "string"}, {"name": "ITEM_ID", "type": "string"},
            {"name": "TIMESTAMP", "type": "long"}]}))["schemaArn"]
    dataset = client.create_dataset(name="d", datasetGroupArn=group, datasetType="Interactions",
                                    schemaArn=schema, tags=tags(("kind", "events")))["datasetArn"]
    s3.put_object(Bucket="personalize-data", Key="in/r.csv", Body=b"USER_ID,ITEM_ID,TIMESTAMP\n1,2,3\n")
    job = client.create_dataset_import_job(
        jobName="j", datasetArn=dataset, dataSource={"dataLocation": "s3://personalize-data/in/r.csv"},
        roleArn=ROLE, tags=tags(("job", "import")))["datasetImportJobArn"]
    tracker = client.create_event_tracker(name="t", datasetGroupArn=group,
                                          tags=tags(("k", "")))["eventTrackerArn"]
    solution = client.create_solution(name="sol", datasetGroupArn=group, recipeArn=HRNN,
                                      tags=tags(("stage", "dev")))["solutionArn"]
    version = client.create_solution_version(solutionArn=solution,
                                             tags=tags(("run", "1")))["solutionVersionArn"]
    finish_training(version)
    campaign = client.create_campaign(name="c", solutionVersionArn=version,
                                      tags=tags(("cost", "center-1")))["campaignArn"]
    assert listed(client, group) == tags(("team", "ml"))
    assert listed(client, dataset) == tags(("kind", "events"))
    assert listed(client, job) == tags(("job", "import"))
    assert listed(client, tracker) == tags(("k", ""))
    assert listed(client, solution) == tags(("stage", "dev"))
    assert listed(client, version) == tags(("run", "1"))
    assert listed(client, campaign) == tags(("cost", "center-1"))
    # created without tags: an empty list; tags are not a member of any Describe answer
    assert listed(client, client.create_dataset_group(name="plain")["datasetGroupArn"]) == []
    assert "tags" not in client.describe_dataset_group(datasetGroupArn=group)["datasetGroup"]
    with pytest.raises(ClientError) as e:    # schemas take no tags
        listed(client, schema)
    assert code(e) == "InvalidInputException" and "schema" in message(e)


def test_tag_untag_and_list(personalize):
    """The shipped-models client serves the same operations."""
    group = personalize.create_dataset_group(name="g", tags=tags(("a", "1"), ("b", "2")))["datasetGroupArn"]
    personalize.tag_resource(resourceArn=group, tags=tags(("b", "two"), ("c", "3")))
    assert listed(personalize, group) == tags(("a", "1"), ("b", "two"), ("c", "3"))
    personalize.untag_resource(resourceArn=group, tagKeys=["a", "not-there"])
    assert listed(personalize, group) == tags(("b", "two"), ("c", "3"))
    personalize.untag_resource(resourceArn=group, tagKeys=["b", "c"])
    assert listed(personalize, group) == []
    personalize.tag_resource(resourceArn=group, tags=tags(("Équipe 1", "données: a/b=c+d-e@f_g.h")))
    assert listed(personalize, group) == tags(("Équipe 1", "données: a/b=c+d-e@f_g.h"))


def test_limits(stock_personalize):
    client = stock_personalize
    fifty = [("k%02d" % i, "v") for i in range(50)]
    with pytest.raises(ClientError) as e:      # refused before anything is created
        client.create_dataset_group(name="g", tags=tags(*fifty, ("one-more", "v")))
    assert code(e) == "TooManyTagsException"
    assert client.list_dataset_groups()["datasetGroups"] == []
    group = client.create_dataset_group(name="g", tags=tags(*fifty))["datasetGroupArn"]
    assert len(listed(client, group)) == 50
    client.tag_resource(resourceArn=group, tags=tags(("k00", "replaced")))   # still 50
    with pytest.raises(ClientError) as e:
        client.tag_resource(resourceArn=group, tags=tags(("k50", "v")))
    assert code(e) == "TooManyTagsException" and "50" in message(e)
    assert listed(client, group)[0] == {"tagKey": "k00", "tagValue": "replaced"}
    with pytest.raises(ClientError) as e:
        client.untag_resource(resourceArn=group, tagKeys=[k for k, _ in fifty] + ["k50"])
    assert code(e) == "TooManyTagKeysException"
    assert len(listed(client, group)) == 50


@pytest.mark.parametrize("bad,field", [
    (tags(("aws:team", "x")), "aws:"),
    (tags(("AWS:Team", "x")), "aws:"),
    (tags(("k" * 129, "x")), "tags.1.tagKey"),
    (tags(("k", "v" * 257)), "tagValue"),
    (tags(("k!", "x")), "pattern"),
    (tags(("k", "a\tb")), "pattern"),
    (tags(("k", "1"), ("k", "2")), "given twice"),
])
def test_invalid_tags_are_refused_naming_the_rule(stock_personalize, bad, field):
    client = stock_personalize
    with pytest.raises(ClientError) as e:
        client.create_dataset_group(name="g", tags=bad)
    assert code(e) == "InvalidInputException" and field in message(e), message(e)
    assert client.list_dataset_groups()["datasetGroups"] == []
    group = client.create_dataset_group(name="g")["datasetGroupArn"]
    with pytest.raises(ClientError) as e:
        client.tag_resource(resourceArn=group, tags=bad)
    assert code(e) == "InvalidInputException"
    assert listed(client, group) == []


def test_reserved_keys_cannot_be_removed_and_values_may_use_the_prefix(stock_personalize):
    client = stock_personalize
    group = client.create_dataset_group(name="g", tags=tags(("source", "aws:import")))["datasetGroupArn"]
    with pytest.raises(ClientError) as e:
        client.untag_resource(resourceArn=group, tagKeys=["aws:cloudformation:stack-name"])
    assert code(e) == "InvalidInputException" and "aws:" in message(e)
    assert listed(client, group) == tags(("source", "aws:import"))


def test_unknown_resources(stock_personalize):
    client = stock_personalize
    arn = f"{ACCT}:dataset-group/none"
    for call, kwargs in ((client.list_tags_for_resource, {}),
                         (client.tag_resource, {"tags": tags(("a", "b"))}),
                         (client.untag_resource, {"tagKeys": ["a"]})):
        with pytest.raises(ClientError) as e:
            call(resourceArn=arn, **kwargs)
        assert code(e) == "ResourceNotFoundException"
        assert message(e) == f"Resource Arn {arn} does not exist."
    with pytest.raises(ClientError) as e:
        client.list_tags_for_resource(resourceArn="not-an-arn")
    assert code(e) == "InvalidInputException"


def test_tags_go_with_their_resource(stock_personalize):
    client = stock_personalize
    group = client.create_dataset_group(name="g", tags=tags(("a", "1")))["datasetGroupArn"]
    client.delete_dataset_group(datasetGroupArn=group)
    with pytest.raises(ClientError) as e:
        listed(client, group)
    assert code(e) == "ResourceNotFoundException"
    again = client.create_dataset_group(name="g")["datasetGroupArn"]
    assert again == group and listed(client, again) == []


def test_a_resource_being_deleted_keeps_its_tags_unchanged(stock_personalize):
    from chalicelib.storage.resources import store
    client = stock_personalize
    group = client.create_dataset_group(name="g", tags=tags(("a", "1")))["datasetGroupArn"]
    store().update(group, {"status": "DELETE PENDING"})     # what a delete in progress holds
    with pytest.raises(ClientError) as e:
        client.tag_resource(resourceArn=group, tags=tags(("b", "2")))
    assert code(e) == "ResourceInUseException"
    assert listed(client, group) == tags(("a", "1"))
