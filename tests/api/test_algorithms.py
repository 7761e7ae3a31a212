"""Algorithms through boto3 (seed: "Bring Your Own Recipe" step a, CreateAlgorithm,
DescribeAlgorithm, UpdateAlgorithm, DeleteAlgorithm; data types Algorithm,
DefaultHyperParameterRanges)."""
import copy

import pytest
from botocore.exceptions import ClientError

BUILTIN = "arn:aws:personalize:::algorithm/aws-hrnn"
ROLE = "arn:aws:iam::000000000000:role/personalize"
ALGORITHM = {
    "name": "BYOAlgorithm",
    "algorithmImage": {"name": "byo", "dockerURI": "000000000000.dkr.ecr.us-east-1.amazonaws.com/byo:1"},
    "defaultHyperParameters": {"factors": "16", "regularization": "0.1", "solver": "als", "note": "x"},
    "defaultHyperParameterRanges": {
        "integerHyperParameterRanges": [{"name": "factors", "minValue": 1, "maxValue": 256, "isTunable": True}],
        "continuousHyperParameterRanges": [{"name": "regularization", "minValue": 0.0, "maxValue": 1.0,
                                            "isTunable": True}],
        "categoricalHyperParameterRanges": [{"name": "solver", "values": ["als", "bpr"], "isTunable": False}],
    },
    "defaultResourceConfig": {"maxNumberOfTrainingJobs": "4", "maxParallelTrainingJobs": "2"},
    "roleArn": ROLE,
    "trainingInputMode": "File",
}


def code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def algorithm(**changes):
    out = copy.deepcopy(ALGORITHM)
    out.update(changes)
    return out


def test_describe_predefined_algorithms(personalize):
    hrnn = personalize.describe_algorithm(algorithmArn=BUILTIN)["algorithm"]
    assert hrnn["name"] == "aws-hrnn" and hrnn["algorithmArn"] == BUILTIN
    assert hrnn["defaultHyperParameters"]["model.num_hidden"] == "149"
    assert hrnn["defaultHyperParameters"]["training.batch_size"] == "31"
    ranges = hrnn["defaultHyperParameterRanges"]
    integer = {r["name"]: r for r in ranges["integerHyperParameterRanges"]}
    assert integer["model.num_hidden"] == {"name": "model.num_hidden", "minValue": 32, "maxValue": 256,
                                           "isTunable": True}
    assert integer["training.epochs"]["maxValue"] == 999 and not integer["training.epochs"]["isTunable"]
    continuous = {r["name"]: r for r in ranges["continuousHyperParameterRanges"]}
    assert continuous["model.dropout"]["maxValue"] == 1.0
    [skip] = ranges["categoricalHyperParameterRanges"]
    assert skip["name"] == "model.skip_connection" and sorted(skip["values"]) == ["false", "true"]
    assert hrnn["trainingInputMode"] == "File" and hrnn["algorithmImage"]["dockerURI"]
    assert hrnn["defaultResourceConfig"]["maxNumberOfTrainingJobs"].isdigit()
    sims = personalize.describe_algorithm(algorithmArn="arn:aws:personalize:::algorithm/aws-sims")["algorithm"]
    top_n = [r for r in sims["defaultHyperParameterRanges"]["integerHyperParameterRanges"] if r["name"] == "top_n"]
    assert top_n[0]["maxValue"] == 1000000          # the seed's infinity on the wire
    for name in ("aws-deepfm", "aws-ffnn", "aws-personalized-ranking", "aws-hrnn-metadata",
                 "aws-hrnn-coldstart"):
        personalize.describe_algorithm(algorithmArn=f"arn:aws:personalize:::algorithm/{name}")
    for arn in ("arn:aws:personalize:::algorithm/aws-popularity-count",
                "arn:aws:personalize:::algorithm/none",
                "arn:aws:personalize::000000000000:algorithm/none"):
        with pytest.raises(ClientError) as e:
            personalize.describe_algorithm(algorithmArn=arn)
        assert code(e) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        personalize.describe_algorithm(algorithmArn="algorithm/aws-hrnn")
    assert code(e) == "InvalidInputException"


def test_create_and_describe_an_algorithm(personalize):
    arn = personalize.create_algorithm(**ALGORITHM)["algorithmArn"]
    assert arn == "arn:aws:personalize::000000000000:algorithm/BYOAlgorithm"   # the seed's form
    described = personalize.describe_algorithm(algorithmArn=arn)["algorithm"]
    for member in ("name", "algorithmImage", "defaultHyperParameters", "defaultHyperParameterRanges",
                   "defaultResourceConfig", "roleArn", "trainingInputMode"):
        assert described[member] == ALGORITHM[member], member
    assert described["creationDateTime"] == described["lastUpdatedDateTime"]
    with pytest.raises(ClientError) as e:
        personalize.create_algorithm(**ALGORITHM)
    assert code(e) == "ResourceAlreadyExistsException"


BAD_RANGES = {
    "integerHyperParameterRanges": [{"name": "factors", "minValue": 10, "maxValue": 1}]}
DUPLICATE = {
    "integerHyperParameterRanges": [{"name": "factors", "minValue": 1, "maxValue": 9}],
    "continuousHyperParameterRanges": [{"name": "factors", "minValue": 1.0, "maxValue": 9.0}]}
EMPTY_CATEGORIES = {"categoricalHyperParameterRanges": [{"name": "solver", "values": []}]}

INVALID = [
    ({"defaultHyperParameterRanges": BAD_RANGES}, "minValue"),
    ({"defaultHyperParameterRanges": DUPLICATE}, "more than one range"),
    ({"defaultHyperParameterRanges": EMPTY_CATEGORIES}, "at least one value"),
    ({"defaultHyperParameters": {"factors": "1000"}}, "factors"),
    ({"defaultHyperParameters": {"factors": "1.5"}}, "not an integer"),
    ({"defaultHyperParameters": {"regularization": "high"}}, "regularization"),
    ({"defaultHyperParameters": {"solver": "sgd"}}, "solver"),
    ({"defaultResourceConfig": {"maxTrainingHours": "3"}}, "maxTrainingHours"),
    ({"defaultResourceConfig": {"maxNumberOfTrainingJobs": "zero"}}, "positive integer"),
    ({"defaultResourceConfig": {"maxNumberOfTrainingJobs": "1", "maxParallelTrainingJobs": "2"}},
     "maxParallelTrainingJobs"),
    ({"trainingInputMode": "Stream"}, "trainingInputMode"),
    ({"algorithmImage": {"dockerURI": "my image"}}, "dockerURI"),
    ({"name": "bad name"}, "name"),
    ({"roleArn": "not-a-role"}, "roleArn"),
]


def test_create_algorithm_refuses_invalid_input(personalize):
    for changes, fragment in INVALID:
        with pytest.raises(ClientError) as e:
            personalize.create_algorithm(**algorithm(**changes))
        assert code(e) == "InvalidInputException", changes
        assert fragment in e.value.response["Error"]["Message"], (changes, e.value.response["Error"])
    with pytest.raises(ClientError) as e:
        personalize.describe_algorithm(algorithmArn="arn:aws:personalize::000000000000:algorithm/BYOAlgorithm")
    assert code(e) == "ResourceNotFoundException"   # nothing was stored


def test_update_algorithm(personalize):
    arn = personalize.create_algorithm(**ALGORITHM)["algorithmArn"]
    personalize.update_algorithm(algorithmArn=arn, algorithmImage={"dockerURI": "byo:2"},
                                 defaultHyperParameters={"factors": "32"}, trainingInputMode="Pipe")
    described = personalize.describe_algorithm(algorithmArn=arn)["algorithm"]
    assert described["algorithmImage"] == {"dockerURI": "byo:2"}
    assert described["defaultHyperParameters"] == {"factors": "32"}
    assert described["trainingInputMode"] == "Pipe"
    assert described["defaultResourceConfig"] == ALGORITHM["defaultResourceConfig"]   # kept
    assert described["lastUpdatedDateTime"] > described["creationDateTime"]
    # new defaults are checked against the stored ranges (and new ranges against stored defaults)
    with pytest.raises(ClientError) as e:
        personalize.update_algorithm(algorithmArn=arn, defaultHyperParameters={"factors": "999"})
    assert code(e) == "InvalidInputException"
    with pytest.raises(ClientError) as e:
        personalize.update_algorithm(algorithmArn=arn, defaultHyperParameterRanges={
            "integerHyperParameterRanges": [{"name": "factors", "minValue": 1, "maxValue": 8}]})
    assert code(e) == "InvalidInputException"
    with pytest.raises(ClientError) as e:
        personalize.update_algorithm(algorithmArn=arn, trainingInputMode="Stream")
    assert code(e) == "InvalidInputException"
    with pytest.raises(ClientError) as e:
        personalize.update_algorithm(algorithmArn=BUILTIN, trainingInputMode="Pipe")
    assert code(e) == "InvalidInputException" and "predefined" in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        personalize.update_algorithm(algorithmArn=arn + "x")
    assert code(e) == "ResourceNotFoundException"


def test_delete_algorithm(personalize):
    arn = personalize.create_algorithm(**ALGORITHM)["algorithmArn"]
    recipe = personalize.create_recipe(
        name="r", algorithmArn=arn,
        featureTransformationArn="arn:aws:personalize:::feature-transformation/JSON-percentile-filtering")["recipeArn"]
    with pytest.raises(ClientError) as e:
        personalize.delete_algorithm(algorithmArn=arn)
    assert code(e) == "ResourceInUseException" and recipe in e.value.response["Error"]["Message"]
    personalize.delete_recipe(recipeArn=recipe)
    personalize.delete_algorithm(algorithmArn=arn)
    with pytest.raises(ClientError) as e:
        personalize.describe_algorithm(algorithmArn=arn)
    assert code(e) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        personalize.delete_algorithm(algorithmArn=arn)
    assert code(e) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        personalize.delete_algorithm(algorithmArn=BUILTIN)
    assert code(e) == "InvalidInputException"
    with pytest.raises(ClientError) as e:
        personalize.delete_algorithm(algorithmArn="x")
    assert code(e) == "InvalidInputException"
