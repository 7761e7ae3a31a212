"""Feature transformations through boto3 (seed: "Bring Your Own Recipe" step b,
CreateFeatureTransformation, DescribeFeatureTransformation, UpdateFeatureTransformation,
DeleteFeatureTransformation; data type FeatureTransformation)."""
import pytest
from botocore.exceptions import ClientError

from tests.api.test_algorithms import ALGORITHM

JSON_PF = "arn:aws:personalize:::feature-transformation/JSON-percentile-filtering"


def code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def test_describe_predefined_transformations(personalize):
    ft = personalize.describe_feature_transformation(featureTransformationArn=JSON_PF)["featureTransformation"]
    assert ft["name"] == "JSON-percentile-filtering" and ft["status"] == "ACTIVE"
    assert set(ft["defaultParameters"]) == {"max_hist_length_percentile", "min_hist_length_percentile",
                                            "train_ratio", "test_ratio"}
    for name in ("sims", "general-interactions-recordIO-percentile-filtering"):
        arn = f"arn:aws:personalize:::feature-transformation/{name}"
        assert personalize.describe_feature_transformation(
            featureTransformationArn=arn)["featureTransformation"]["featureTransformationArn"] == arn
    with pytest.raises(ClientError) as e:
        personalize.describe_feature_transformation(
            featureTransformationArn="arn:aws:personalize:::feature-transformation/none")
    assert code(e) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        personalize.describe_feature_transformation(featureTransformationArn="none")
    assert code(e) == "InvalidInputException"


def test_create_update_delete(personalize):
    # the seed's example
    arn = personalize.create_feature_transformation(
        name="BYOFeatureTransformation",
        defaultParameters={"max_hist_length_percentile": "0.95",
                           "min_hist_length_percentile": "0.1"})["featureTransformationArn"]
    assert arn == "arn:aws:personalize::000000000000:feature-transformation/BYOFeatureTransformation"
    ft = personalize.describe_feature_transformation(featureTransformationArn=arn)["featureTransformation"]
    assert ft["defaultParameters"] == {"max_hist_length_percentile": "0.95",
                                       "min_hist_length_percentile": "0.1"}
    assert ft["status"] == "ACTIVE" and ft["name"] == "BYOFeatureTransformation"
    with pytest.raises(ClientError) as e:
        personalize.create_feature_transformation(name="BYOFeatureTransformation", defaultParameters={})
    assert code(e) == "ResourceAlreadyExistsException"

    personalize.update_feature_transformation(featureTransformationArn=arn,
                                              defaultParameters={"train_ratio": "0.8", "test_ratio": "0.2"})
    ft = personalize.describe_feature_transformation(featureTransformationArn=arn)["featureTransformation"]
    assert ft["defaultParameters"] == {"train_ratio": "0.8", "test_ratio": "0.2"}
    with pytest.raises(ClientError) as e:
        personalize.update_feature_transformation(featureTransformationArn=arn,
                                                  defaultParameters={"train_ratio": "2"})
    assert code(e) == "InvalidInputException"
    with pytest.raises(ClientError) as e:
        personalize.update_feature_transformation(featureTransformationArn=JSON_PF, defaultParameters={})
    assert code(e) == "InvalidInputException" and "predefined" in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        personalize.update_feature_transformation(featureTransformationArn=arn + "x", defaultParameters={})
    assert code(e) == "ResourceNotFoundException"

    algorithm = personalize.create_algorithm(**ALGORITHM)["algorithmArn"]
    recipe = personalize.create_recipe(name="r", algorithmArn=algorithm,
                                       featureTransformationArn=arn)["recipeArn"]
    with pytest.raises(ClientError) as e:
        personalize.delete_feature_transformation(featureTransformationArn=arn)
    assert code(e) == "ResourceInUseException" and recipe in e.value.response["Error"]["Message"]
    personalize.delete_recipe(recipeArn=recipe)
    personalize.delete_feature_transformation(featureTransformationArn=arn)
    with pytest.raises(ClientError) as e:
        personalize.describe_feature_transformation(featureTransformationArn=arn)
    assert code(e) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        personalize.delete_feature_transformation(featureTransformationArn=arn)
    assert code(e) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        personalize.delete_feature_transformation(featureTransformationArn=JSON_PF)
    assert code(e) == "InvalidInputException"


INVALID = [
    ({"bogus": "0.5"}, "bogus"),
    ({"max_hist_length_percentile": "1.5"}, "outside [0, 1]"),
    ({"max_hist_length_percentile": "-0.1"}, "outside [0, 1]"),
    ({"max_hist_length_percentile": "nan"}, "max_hist_length_percentile"),
    ({"min_hist_length_percentile": "high"}, "not a number"),
    ({"min_hist_length_percentile": "0.9", "max_hist_length_percentile": "0.5"}, "exceeds"),
    ({"train_ratio": "0.8", "test_ratio": "0.3"}, "must not exceed 1"),
]


def test_create_refuses_invalid_parameters(personalize):
    for parameters, fragment in INVALID:
        with pytest.raises(ClientError) as e:
            personalize.create_feature_transformation(name="ft", defaultParameters=parameters)
        assert code(e) == "InvalidInputException", parameters
        assert fragment in e.value.response["Error"]["Message"], (parameters, e.value.response["Error"])
    with pytest.raises(ClientError) as e:
        personalize.create_feature_transformation(name="with space", defaultParameters={})
    assert code(e) == "InvalidInputException"
    with pytest.raises(ClientError) as e:
        personalize.describe_feature_transformation(
            featureTransformationArn="arn:aws:personalize::000000000000:feature-transformation/ft")
    assert code(e) == "ResourceNotFoundException"
