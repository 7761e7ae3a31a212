"""Metrics through boto3 (seed: "Evaluating Solutions", GetMetrics and the Getting Started
`get-metrics` example; the stock GetSolutionMetrics)."""
import pytest
from botocore.exceptions import ClientError

from tests.api.test_solutions import (HRNN, METRICS, SIMS, code, finish_training, group,  # noqa: F401
                                      started, trained_solution)


def test_get_metrics_keyed_by_model(personalize, group, started):
    arn, v1 = trained_solution(personalize, group, name="MovieSolution")
    metrics = personalize.get_metrics(solutionArn=arn)["metrics"]
    model = f"arn:aws:personalize:us-east-1:000000000000:model/awspersonalizehrnnmodel-{v1[-8:]}"
    # the seed's example names MRR `mean_reciprocal_rank`: both names, one figure
    expected = dict(METRICS, mean_reciprocal_rank=METRICS["mean_reciprocal_rank_at_25"])
    assert metrics == {model: expected}
    # an explicit version; the latest is the default
    v2 = personalize.create_solution_version(solutionArn=arn)["solutionVersionArn"]
    with pytest.raises(ClientError) as e:    # latest version still training: no metrics yet
        personalize.get_metrics(solutionArn=arn)
    assert code(e) == "ResourceNotFoundException" and "ACTIVE" in e.value.response["Error"]["Message"]
    assert personalize.get_metrics(solutionArn=arn, solutionVersionArn=v1)["metrics"] == {model: expected}
    finish_training(v2, metrics={"precision_at_25": 0.5})
    assert personalize.get_metrics(solutionArn=arn)["metrics"] == {
        f"arn:aws:personalize:us-east-1:000000000000:model/awspersonalizehrnnmodel-{v2[-8:]}":
            {"precision_at_25": 0.5}}


def test_get_metrics_errors(personalize, group, started):
    arn, v1 = trained_solution(personalize, group)
    other, other_version = trained_solution(personalize, group, name="other", recipe=SIMS)
    with pytest.raises(ClientError) as e:
        personalize.get_metrics(solutionArn=arn, solutionVersionArn=other_version)
    assert code(e) == "InvalidInputException"
    with pytest.raises(ClientError) as e:
        personalize.get_metrics(solutionArn=arn + "-none")
    assert code(e) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        personalize.get_metrics(solutionArn=arn, solutionVersionArn=v1[:-8] + "00000000")
    assert code(e) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        personalize.get_metrics(solutionArn="solution")
    assert code(e) == "InvalidInputException"
    failed = personalize.create_solution_version(solutionArn=arn)["solutionVersionArn"]
    finish_training(failed, status="CREATE FAILED", failure_reason="x")
    with pytest.raises(ClientError) as e:
        personalize.get_metrics(solutionArn=arn, solutionVersionArn=failed)
    assert code(e) == "ResourceNotFoundException"


def test_automl_metrics_name_the_best_recipe_model(personalize, group, started):
    arn = personalize.create_solution(minProvisionedTPS=1, name="auto", datasetGroupArn=group, performAutoML=True)["solutionArn"]
    version = personalize.describe_solution(solutionArn=arn)["solution"]["latestSolutionVersion"]["solutionVersionArn"]
    finish_training(version, best_recipe="arn:aws:personalize:::recipe/aws-ffnn")
    [model] = personalize.get_metrics(solutionArn=arn)["metrics"]
    assert model.endswith(f":model/awspersonalizeffnnmodel-{version[-8:]}")


def test_get_solution_metrics(stock_personalize, personalize, group, started):
    arn, v1 = trained_solution(personalize, group)
    out = stock_personalize.get_solution_metrics(solutionVersionArn=v1)
    assert out["solutionVersionArn"] == v1 and out["metrics"] == METRICS
    assert isinstance(out["metrics"]["_num_evaluation_users"], float)
    v2 = personalize.create_solution_version(solutionArn=arn)["solutionVersionArn"]
    with pytest.raises(ClientError) as e:
        stock_personalize.get_solution_metrics(solutionVersionArn=v2)
    assert code(e) == "ResourceInUseException"
    with pytest.raises(ClientError) as e:
        stock_personalize.get_solution_metrics(solutionVersionArn=v1[:-8] + "00000000")
    assert code(e) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        stock_personalize.get_solution_metrics(solutionVersionArn="version")
    assert code(e) == "InvalidInputException"
