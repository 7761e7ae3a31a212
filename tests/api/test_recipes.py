"""Recipes through boto3 (seed: "Using Predefined Recipes", "Bring Your Own Recipe" step c,
CreateRecipe, DescribeRecipe, ListRecipes, UpdateRecipe, DeleteRecipe; data types Recipe,
RecipeSummary), and solutions on a custom recipe."""
import pytest
from botocore.exceptions import ClientError

from tests.api.test_algorithms import ALGORITHM
from tests.api.test_solutions import group, started  # noqa: F401

JSON_PF = "arn:aws:personalize:::feature-transformation/JSON-percentile-filtering"
PREDEFINED = {
    "aws-popularity-count": "USER_PERSONALIZATION", "aws-sims": "RELATED_ITEMS",
    "aws-personalized-ranking": "SEARCH_PERSONALIZATION", "aws-hrnn": "USER_PERSONALIZATION",
    "aws-hrnn-metadata": "USER_PERSONALIZATION", "aws-hrnn-coldstart": "USER_PERSONALIZATION",
    "aws-ffnn": "USER_PERSONALIZATION", "aws-deepfm": "USER_PERSONALIZATION",
    # today's catalogue, with today's types
    "aws-user-personalization": "USER_PERSONALIZATION",
    "aws-user-personalization-v2": "USER_PERSONALIZATION",
    "aws-personalized-ranking-v2": "PERSONALIZED_RANKING", "aws-similar-items": "RELATED_ITEMS",
    "aws-trending-now": "POPULAR_ITEMS",
    "aws-item-affinity": "USER_SEGMENTATION", "aws-item-attribute-affinity": "USER_SEGMENTATION",
}


def code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def byor(client, name="BYORecipe", algorithm_name="BYOAlgorithm"):
    algorithm = client.create_algorithm(**dict(ALGORITHM, name=algorithm_name))["algorithmArn"]
    return client.create_recipe(name=name, algorithmArn=algorithm,
                                featureTransformationArn=JSON_PF)["recipeArn"], algorithm


def test_the_predefined_recipes(personalize):
    listed = personalize.list_recipes()["recipes"]
    assert {r["name"] for r in listed} == set(PREDEFINED)
    for summary in listed:
        assert summary["recipeArn"] == f"arn:aws:personalize:::recipe/{summary['name']}"
        assert summary["status"] == "ACTIVE"
        recipe = personalize.describe_recipe(recipeArn=summary["recipeArn"])["recipe"]
        assert recipe["recipeType"] == PREDEFINED[recipe["name"]]
        assert recipe["description"]
    hrnn = personalize.describe_recipe(recipeArn="arn:aws:personalize:::recipe/aws-hrnn")["recipe"]
    assert hrnn["algorithmArn"] == "arn:aws:personalize:::algorithm/aws-hrnn"
    assert hrnn["featureTransformationArn"] == JSON_PF
    sims = personalize.describe_recipe(recipeArn="arn:aws:personalize:::recipe/aws-sims")["recipe"]
    assert sims["featureTransformationArn"] == "arn:aws:personalize:::feature-transformation/sims"
    popularity = personalize.describe_recipe(recipeArn="arn:aws:personalize:::recipe/aws-popularity-count")["recipe"]
    assert "algorithmArn" not in popularity          # "no exposed hyperparameters"
    for arn in ("arn:aws:personalize:::recipe/aws-nothing",
                "arn:aws:personalize::000000000000:recipe/none"):
        with pytest.raises(ClientError) as e:
            personalize.describe_recipe(recipeArn=arn)
        assert code(e) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        personalize.describe_recipe(recipeArn="recipe/aws-hrnn")
    assert code(e) == "InvalidInputException"


def test_list_recipes_by_provider_and_pages(personalize, stock_personalize):
    custom, _ = byor(personalize)
    everything = personalize.list_recipes()["recipes"]
    assert everything[0]["recipeArn"] == custom            # "with BYORs listed first"
    assert len(everything) == len(PREDEFINED) + 1
    assert [r["recipeArn"] for r in personalize.list_recipes(recipeProvider="BYOR")["recipes"]] == [custom]
    service = personalize.list_recipes(recipeProvider="Service")["recipes"]
    assert len(service) == len(PREDEFINED) and custom not in [r["recipeArn"] for r in service]
    assert len(stock_personalize.list_recipes(recipeProvider="SERVICE")["recipes"]) == len(PREDEFINED)
    seen, token = [], None
    while True:
        page = personalize.list_recipes(maxResults=4, **({"nextToken": token} if token else {}))
        assert len(page["recipes"]) <= 4
        seen += [r["recipeArn"] for r in page["recipes"]]
        token = page.get("nextToken")
        if not token:
            break
    assert seen == [r["recipeArn"] for r in everything]
    first = personalize.list_recipes(maxResults=2)
    with pytest.raises(ClientError) as e:     # a token belongs to its provider's listing
        personalize.list_recipes(recipeProvider="Service", nextToken=first["nextToken"])
    assert code(e) == "InvalidNextTokenException"
    with pytest.raises(ClientError) as e:
        personalize.list_recipes(nextToken="not-a-token")
    assert code(e) == "InvalidNextTokenException"
    with pytest.raises(ClientError) as e:
        personalize.list_recipes(recipeProvider="Mine")
    assert code(e) == "InvalidInputException"
    assert sum(len(p["recipes"]) for p in personalize.get_paginator("list_recipes").paginate(
        PaginationConfig={"PageSize": 3})) == len(PREDEFINED) + 1


def test_create_describe_update_delete_recipe(personalize):
    arn, algorithm = byor(personalize)
    assert arn == "arn:aws:personalize::000000000000:recipe/BYORecipe"      # the seed's form
    recipe = personalize.describe_recipe(recipeArn=arn)["recipe"]
    assert recipe["algorithmArn"] == algorithm and recipe["featureTransformationArn"] == JSON_PF
    assert recipe["recipeType"] == "USER_PERSONALIZATION" and recipe["status"] == "ACTIVE"
    # on a predefined algorithm, the recipe takes that recipe's type
    related = personalize.create_recipe(name="MySims", algorithmArn="arn:aws:personalize:::algorithm/aws-sims",
                                        featureTransformationArn=JSON_PF)["recipeArn"]
    assert personalize.describe_recipe(recipeArn=related)["recipe"]["recipeType"] == "RELATED_ITEMS"
    with pytest.raises(ClientError) as e:
        personalize.create_recipe(name="BYORecipe", algorithmArn=algorithm, featureTransformationArn=JSON_PF)
    assert code(e) == "ResourceAlreadyExistsException"
    with pytest.raises(ClientError) as e:
        personalize.create_recipe(name="x", algorithmArn=algorithm + "-none", featureTransformationArn=JSON_PF)
    assert code(e) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        personalize.create_recipe(name="x", algorithmArn=algorithm,
                                  featureTransformationArn=JSON_PF + "-none")
    assert code(e) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        personalize.create_recipe(name="x y", algorithmArn=algorithm, featureTransformationArn=JSON_PF)
    assert code(e) == "InvalidInputException"

    sims_ft = "arn:aws:personalize:::feature-transformation/sims"
    personalize.update_recipe(recipeArn=arn, featureTransformationArn=sims_ft)
    assert personalize.describe_recipe(recipeArn=arn)["recipe"]["featureTransformationArn"] == sims_ft
    personalize.update_recipe(recipeArn=arn, algorithmArn="arn:aws:personalize:::algorithm/aws-sims")
    assert personalize.describe_recipe(recipeArn=arn)["recipe"]["recipeType"] == "RELATED_ITEMS"
    with pytest.raises(ClientError) as e:
        personalize.update_recipe(recipeArn=arn, algorithmArn=algorithm + "-none")
    assert code(e) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        personalize.update_recipe(recipeArn=arn + "-none", algorithmArn=algorithm)
    assert code(e) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        personalize.update_recipe(recipeArn="arn:aws:personalize:::recipe/aws-hrnn", algorithmArn=algorithm)
    assert code(e) == "InvalidInputException" and "predefined" in e.value.response["Error"]["Message"]

    personalize.delete_recipe(recipeArn=arn)
    with pytest.raises(ClientError) as e:
        personalize.describe_recipe(recipeArn=arn)
    assert code(e) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        personalize.delete_recipe(recipeArn=arn)
    assert code(e) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        personalize.delete_recipe(recipeArn="arn:aws:personalize:::recipe/aws-sims")
    assert code(e) == "InvalidInputException"


def test_solutions_on_a_custom_recipe(personalize, group, started):
    from chalicelib.service import solution_versions
    recipe, algorithm = byor(personalize)
    with pytest.raises(ClientError) as e:
        personalize.create_solution(minProvisionedTPS=1, name="s", datasetGroupArn=group, recipeArn=recipe,
                                    solutionConfig={"algorithmHyperParameters": {"factors": "999"}})
    assert code(e) == "InvalidInputException" and "factors" in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        personalize.create_solution(minProvisionedTPS=1, name="s", datasetGroupArn=group, recipeArn=recipe,
                                    solutionConfig={"algorithmHyperParameters": {"unknown": "1"}})
    assert code(e) == "InvalidInputException"
    with pytest.raises(ClientError) as e:     # solver is not tunable
        personalize.create_solution(minProvisionedTPS=1, name="s", datasetGroupArn=group, recipeArn=recipe, solutionConfig={
            "hpoConfig": {"algorithmHyperParameterRanges": {"categoricalHyperParameterRanges": [
                {"name": "solver", "values": ["als"]}]}}})
    assert code(e) == "InvalidInputException"
    arn = personalize.create_solution(minProvisionedTPS=1,
        name="s", datasetGroupArn=group, recipeArn=recipe,
        solutionConfig={"algorithmHyperParameters": {"factors": "64"},
                        "hpoConfig": {"algorithmHyperParameterRanges": {"integerHyperParameterRanges": [
                            {"name": "factors", "minValue": 8, "maxValue": 128}]},
                            "hpoObjective": {"type": "Maximize", "metricName": "ndcg",
                                             "metricRegex": "ndcg=([0-9.]+)"}}})["solutionArn"]
    version = personalize.describe_solution(solutionArn=arn)["solution"]["latestSolutionVersion"]
    [candidate] = solution_versions.training_spec(version["solutionVersionArn"])["candidates"]
    assert candidate["builtin"] is False and candidate["recipeName"] == "BYORecipe"
    assert candidate["algorithmHyperParameters"] == {"factors": "64", "regularization": "0.1",
                                                     "solver": "als", "note": "x"}
    assert candidate["algorithmImage"] == ALGORITHM["algorithmImage"]
    assert candidate["defaultResourceConfig"] == ALGORITHM["defaultResourceConfig"]
    with pytest.raises(ClientError) as e:
        personalize.delete_recipe(recipeArn=recipe)
    assert code(e) == "ResourceInUseException" and arn in e.value.response["Error"]["Message"]
    # AutoML may search custom recipes too
    auto = personalize.create_solution(minProvisionedTPS=1, name="auto", datasetGroupArn=group, performAutoML=True,
                                       solutionConfig={"autoMLConfig": {"recipeList": [
                                           recipe, "arn:aws:personalize:::recipe/aws-hrnn"]}})["solutionArn"]
    assert personalize.describe_solution(solutionArn=auto)["solution"]["solutionConfig"]["autoMLConfig"] \
        == {"metricName": "precision_at_25", "recipeList": [recipe, "arn:aws:personalize:::recipe/aws-hrnn"]}
