"""The table of members of today's API that served operations do not implement yet
(chalicelib.protocol.unserved): every row names a real member, and a request that uses
one is refused by name (issue 12, item 5)."""
import pytest

from chalicelib.protocol import models, unserved
from chalicelib.protocol.errors import InvalidInputException


def _resolve(service, operation, path):
    model = models.service_model(service)
    shape = model.operation_model(operation).input_shape
    for part in path.split("."):
        while shape.type_name == "list":
            shape = shape.member
        assert shape.type_name == "structure" and part in shape.members, (operation, path)
        shape = shape.members[part]
    return shape


@pytest.mark.parametrize("service", sorted(unserved.NOT_SERVED))
def test_every_row_names_a_member_of_the_model(service):
    for operation, rows in unserved.NOT_SERVED[service].items():
        for path, row in rows.items():
            _resolve(service, operation, path)
            assert row.reason


def test_a_used_member_is_refused_by_name():
    with pytest.raises(InvalidInputException) as e:
        unserved.refuse("personalize", "CreateRecommender",
                        {"recommenderConfig": {"trainingDataConfig": {"excludedDatasetColumns": {}}}})
    assert e.value.message.startswith(
        "recommenderConfig.trainingDataConfig: not served by this deployment yet (")


def test_absent_empty_and_allowed_values_pass():
    for params in ({"name": "g"}, {"name": "g", "tags": []}, {"name": "g", "domain": None}):
        unserved.refuse("personalize", "CreateDatasetGroup", params)
    unserved.refuse("personalize", "CreateDatasetImportJob", {"publishAttributionMetricsToS3": False})
    unserved.refuse("personalize", "CreateSolution", {"performIncrementalUpdate": False})
    with pytest.raises(InvalidInputException, match="publishAttributionMetricsToS3"):
        unserved.refuse("personalize", "CreateDatasetImportJob", {"publishAttributionMetricsToS3": True})
    with pytest.raises(InvalidInputException, match="performIncrementalUpdate"):
        unserved.refuse("personalize", "CreateSolution", {"performIncrementalUpdate": True})


def test_nested_and_listed_members_are_named_where_they_are():
    found = unserved.used("personalize", "CreateCampaign", {
        "campaignConfig": {"enableMetadataWithRecommendations": True,
                           "rankingInfluence": {"FRESHNESS": 0.5}}})
    assert [p for p, _ in found] == ["campaignConfig.rankingInfluence"]
    found = unserved.used("personalize-events", "PutEvents", {"eventList": [
        {"eventType": "click"}, {"eventType": "click", "impression": ["a", "b"]}]})
    assert [p for p, _ in found] == ["eventList.2.impression"]


def test_operations_without_rows_refuse_nothing():
    assert unserved.members("personalize", "DescribeDataset") == {}
    unserved.refuse("personalize", "DescribeDataset", {"datasetArn": "arn", "domain": "x"})
