"""The dialect table (`chalicelib.service.dialects`): how a request's shape decides, and the
README's "Two dialects" table equal to the module's."""
import re
from pathlib import Path

import pytest

from chalicelib.service import dialects
from chalicelib.protocol.errors import InvalidInputException

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.mark.parametrize("operation,params,expected", [
    ("CreateSolution", {"name": "s"}, dialects.TODAY),
    ("CreateSolution", {"name": "s", "minProvisionedTPS": 1}, dialects.PREVIEW),
    ("CreateSolution", {"solutionConfig": {"retrainSchedule": "rate(1 day)"}}, dialects.PREVIEW),
    ("CreateSolution", {"solutionConfig": {"autoTrainingConfig": {}}}, dialects.TODAY),
    ("CreateSolution", {"performAutoTraining": False}, dialects.TODAY),
    ("CreateSolution", {"minProvisionedTPS": None}, dialects.TODAY),     # absent is absent
    ("UpdateSolution", {"solutionConfig": {"retrainSchedule": ""}}, dialects.PREVIEW),
    ("UpdateSolution", {"solutionUpdateConfig": {}}, dialects.TODAY),
    ("CreateCampaign", {"updateMode": "AUTO"}, dialects.PREVIEW),
    ("CreateCampaign", {"updateMode": "AUTO", "campaignConfig": {"syncWithLatestSolutionVersion": True}},
     dialects.PREVIEW),
    ("CreateCampaign", {"campaignConfig": {"syncWithLatestSolutionVersion": False}}, dialects.TODAY),
    ("GetMetrics", {"solutionArn": "x"}, dialects.PREVIEW),
    ("GetSolutionMetrics", {"solutionVersionArn": "x"}, dialects.TODAY),
    ("DescribeSolution", {"solutionArn": "x"}, dialects.TODAY),
])
def test_the_shape_decides(operation, params, expected):
    assert dialects.dialect_of(operation, params) == expected


def test_exclusive_shapes_refuse_a_mix_naming_both_members():
    with pytest.raises(InvalidInputException) as e:
        dialects.dialect_of("CreateSolution", {"minProvisionedTPS": 1, "solutionConfig": {
            "autoTrainingConfig": {"schedulingExpression": "rate(1 day)"}}})
    assert "solutionConfig.autoTrainingConfig" in e.value.message and "minProvisionedTPS" in e.value.message


def test_settings_follow_the_dialect():
    assert dialects.setting("CreateSolution", "trains_on_create", {"minProvisionedTPS": 5}) is True
    assert dialects.setting("CreateSolution", "trains_on_create", {}) is False
    assert dialects.setting("CreateSolution", "performHPO_default", {"minProvisionedTPS": 5}) is True
    assert dialects.setting("CreateSolution", "performHPO_default", {}) is False
    assert dialects.setting("GetMetrics", "not_trained_error", {}) == "ResourceNotFoundException"
    assert dialects.setting("GetSolutionMetrics", "not_trained_error", {}) == "ResourceInUseException"
    assert dialects.setting("GetSolutionMetrics", "metric_aliases", {}) == {}
    assert dialects.value("CreateSolution", "automatic_training", dialects.TODAY) == "autoTrainingConfig"
    with pytest.raises(ValueError):
        dialects.value("CreateSolution", "automatic_training", "2017")


def test_every_row_names_a_known_shape_and_differs():
    for row in dialects.RULES:
        assert row.operation in dialects.SHAPES
        assert row.preview != row.today and row.preview_says and row.today_says
    assert len({(r.operation, r.topic) for r in dialects.RULES}) == len(dialects.RULES)


def test_readme_table_is_the_modules():
    text = README.read_text(encoding="utf-8")
    found = re.search(r"<!-- dialects:begin -->\n(.*?)\n<!-- dialects:end -->", text, re.S)
    assert found, "README.md has no dialects table"
    assert found.group(1) == dialects.markdown_table()
