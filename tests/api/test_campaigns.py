"""Campaigns through boto3 (seed: "Creating a Campaign", CreateCampaign, DescribeCampaign,
ListCampaigns, UpdateCampaign, DeleteCampaign) and the stock-client Getting Started flow.

Workflows are recorded, not run (see test_solutions.py); deployments and trainings finish
through the functions their workflows call. The last test runs the real workflows.
"""
import csv
import io
import os
import random
import time

import pytest
from botocore.exceptions import ClientError

from tests.api.test_solutions import (HRNN, METRICS, SIMS, code, finish_training, group,  # noqa: F401
                                      make_group, message, started, trained_solution)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CAMPAIGN_ASL = os.path.join(ROOT, "infrastructure", "statemachines", "campaign.asl.json")


def deploy(campaign_arn, status="ACTIVE", failure_reason=None, deployment_id=None):
    """Play the campaign workflow's part; returns the deployment id."""
    from chalicelib.service import campaigns
    deployment_id = deployment_id or campaigns.campaign_deployment(campaign_arn)["deploymentId"]
    campaigns.mark_campaign(campaign_arn, "CREATE IN_PROGRESS", deployment_id=deployment_id)
    campaigns.mark_campaign(campaign_arn, status, failure_reason=failure_reason,
                            deployment_id=deployment_id)
    return deployment_id


@pytest.fixture
def trained(personalize, group, started):
    """(solution ARN, ACTIVE version ARN)."""
    return trained_solution(personalize, group)


def test_create_campaign_from_a_version(personalize, trained, started):
    from chalicelib.service import campaigns
    solution, version = trained
    arn = personalize.create_campaign(name="MovieRecommendationCampaign", solutionVersionArn=version,
                                      updateMode="AUTO", minProvisionedTPS=5)["campaignArn"]
    assert arn == "arn:aws:personalize:us-east-1:000000000000:campaign/MovieRecommendationCampaign"
    assert started[-1] == ("campaign", {"campaignArn": arn})
    campaign = personalize.describe_campaign(campaignArn=arn)["campaign"]
    assert campaign["status"] == "CREATE PENDING"
    assert campaign["solutionArn"] == solution and campaign["solutionVersionArn"] == version
    assert campaign["updateMode"] == "AUTO" and campaign["minProvisionedTPS"] == 5
    assert "latestCampaignUpdate" not in campaign
    from chalicelib.protocol.errors import ResourceNotFoundException
    with pytest.raises(ResourceNotFoundException):   # not serving before ACTIVE
        campaigns.active_model_for_campaign(arn)
    deploy(arn)
    campaign = personalize.describe_campaign(campaignArn=arn)["campaign"]
    assert campaign["status"] == "ACTIVE"
    served = campaigns.active_model_for_campaign(arn)
    assert served == (version, "aws-hrnn", "USER_PERSONALIZATION",
                      f"s3://personalize-data/models/{version[-8:]}/model.npz")
    assert campaigns.campaign_deployment(arn)["kind"] == "create"
    assert campaigns.served_model(arn)["datasetGroupArn"] == \
        personalize.describe_solution(solutionArn=solution)["solution"]["datasetGroupArn"]


def test_create_campaign_defaults_and_solution_arn(personalize, trained, started):
    """updateMode and minProvisionedTPS default; the seed's Getting Started form
    (`create-campaign --solution-arn`) deploys the solution's latest ACTIVE version."""
    solution, version = trained
    arn = personalize.create_campaign(name="c", solutionVersionArn=version)["campaignArn"]
    campaign = personalize.describe_campaign(campaignArn=arn)["campaign"]
    assert campaign["updateMode"] == "MANUAL" and campaign["minProvisionedTPS"] == 1
    by_solution = personalize.create_campaign(name="by-solution", solutionArn=solution,
                                              updateMode="AUTO")["campaignArn"]
    campaign = personalize.describe_campaign(campaignArn=by_solution)["campaign"]
    assert campaign["solutionVersionArn"] == version and campaign["solutionArn"] == solution
    with pytest.raises(personalize.exceptions.InvalidInputException) as e:
        personalize.create_campaign(name="neither")
    assert "solutionArn" in str(e.value)


def test_stock_sync_with_latest_version_means_auto(stock_personalize, personalize, trained, started):
    solution, version = trained
    arn = stock_personalize.create_campaign(
        name="synced", solutionVersionArn=f"{solution}/$LATEST",
        campaignConfig={"syncWithLatestSolutionVersion": True})["campaignArn"]
    campaign = personalize.describe_campaign(campaignArn=arn)["campaign"]
    assert campaign["updateMode"] == "AUTO" and campaign["solutionVersionArn"] == version
    assert campaign["campaignConfig"] == {"syncWithLatestSolutionVersion": True}
    deploy(arn)
    n = len(started)
    stock_personalize.update_campaign(campaignArn=arn, campaignConfig={"syncWithLatestSolutionVersion": False})
    campaign = personalize.describe_campaign(campaignArn=arn)["campaign"]
    assert campaign["updateMode"] == "MANUAL"
    assert campaign["campaignConfig"] == {"syncWithLatestSolutionVersion": False}
    assert len(started) == n          # the mode alone deploys nothing
    personalize.update_campaign(campaignArn=arn, updateMode="AUTO")     # the preview's spelling
    assert stock_personalize.describe_campaign(campaignArn=arn)["campaign"]["campaignConfig"] == \
        {"syncWithLatestSolutionVersion": True}
    with pytest.raises(ClientError) as e:     # today's rule: sync needs the SolutionArn/$LATEST form
        stock_personalize.create_campaign(name="explicit", solutionVersionArn=version,
                                          campaignConfig={"syncWithLatestSolutionVersion": True})
    assert code(e) == "InvalidInputException" and "$LATEST" in message(e)
    with pytest.raises(ClientError) as e:
        personalize.create_campaign(name="contradiction", solutionVersionArn=version, updateMode="MANUAL",
                                    campaignConfig={"syncWithLatestSolutionVersion": True})
    assert code(e) == "InvalidInputException"


UP = "arn:aws:personalize:::recipe/aws-user-personalization"
EXPLORE = {"explorationWeight": "0.5", "explorationItemAgeCutOff": "10"}


def trained_today(client, group, name, recipe=UP):
    """Today's flow: an ACTIVE solution, then one trained version: (solution, version)."""
    solution = client.create_solution(name=name, datasetGroupArn=group, recipeArn=recipe)["solutionArn"]
    version = client.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    finish_training(version)
    return solution, version


def test_campaign_config_is_stored_checked_and_updated(stock_personalize, group, started):
    """Today's CampaignConfig on CreateCampaign / UpdateCampaign / DescribeCampaign."""
    client = stock_personalize
    solution, v1 = trained_today(client, group, "up")
    arn = client.create_campaign(name="c", solutionVersionArn=v1,
                                 campaignConfig={"itemExplorationConfig": EXPLORE})["campaignArn"]
    deploy(arn)
    campaign = client.describe_campaign(campaignArn=arn)["campaign"]
    assert campaign["campaignConfig"] == {"itemExplorationConfig": EXPLORE}
    changed = {"itemExplorationConfig": {"explorationWeight": "0.1"}}
    client.update_campaign(campaignArn=arn, campaignConfig=changed)
    campaign = client.describe_campaign(campaignArn=arn)["campaign"]
    assert campaign["latestCampaignUpdate"]["campaignConfig"] == changed
    assert campaign["latestCampaignUpdate"]["solutionVersionArn"] == v1
    assert campaign["campaignConfig"] == {"itemExplorationConfig": EXPLORE}   # until it is ACTIVE
    deploy(arn)
    campaign = client.describe_campaign(campaignArn=arn)["campaign"]
    assert campaign["campaignConfig"] == changed
    assert campaign["latestCampaignUpdate"]["status"] == "ACTIVE"
    from chalicelib.service import campaigns
    assert campaigns.served_model(arn)["campaignConfig"] == changed


@pytest.mark.parametrize("explore,field", [
    ({"explorationWeight": "1.5"}, "explorationWeight"),
    ({"explorationWeight": "-0.1"}, "explorationWeight"),
    ({"explorationWeight": "much"}, "explorationWeight"),
    ({"explorationItemAgeCutOff": "0"}, "explorationItemAgeCutOff"),
    ({"explorationItemAgeCutOff": "-3"}, "explorationItemAgeCutOff"),
    ({"explorationBias": "0.2"}, "explorationBias"),
])
def test_bad_item_exploration_is_refused_naming_the_field(stock_personalize, group, started, explore,
                                                          field):
    client = stock_personalize
    solution, v1 = trained_today(client, group, "up")
    with pytest.raises(ClientError) as e:
        client.create_campaign(name="c", solutionVersionArn=v1,
                               campaignConfig={"itemExplorationConfig": explore})
    assert code(e) == "InvalidInputException" and field in message(e), message(e)
    assert client.list_campaigns()["campaigns"] == []
    arn = client.create_campaign(name="c", solutionVersionArn=v1)["campaignArn"]
    deploy(arn)
    n = len(started)
    with pytest.raises(ClientError) as e:
        client.update_campaign(campaignArn=arn, campaignConfig={"itemExplorationConfig": explore})
    assert code(e) == "InvalidInputException" and field in message(e)
    assert len(started) == n and "latestCampaignUpdate" not in \
        client.describe_campaign(campaignArn=arn)["campaign"]


def test_item_exploration_only_for_recipes_that_explore(stock_personalize, trained, started):
    solution, version = trained      # aws-hrnn
    with pytest.raises(ClientError) as e:
        stock_personalize.create_campaign(name="c", solutionVersionArn=version,
                                          campaignConfig={"itemExplorationConfig": EXPLORE})
    assert code(e) == "InvalidInputException" and "itemExplorationConfig" in message(e)


def test_synced_campaign_serves_the_latest_active_version(stock_personalize, trained, started):
    """syncWithLatestSolutionVersion with SolutionArn/$LATEST: a new ACTIVE version is served
    at once; the automatic update then records it on the campaign. A manual campaign stays."""
    from chalicelib.service import campaigns
    client = stock_personalize
    solution, v1 = trained
    synced = client.create_campaign(name="synced", solutionVersionArn=f"{solution}/$LATEST",
                                    campaignConfig={"syncWithLatestSolutionVersion": True})["campaignArn"]
    manual = client.create_campaign(name="manual", solutionVersionArn=v1)["campaignArn"]
    deploy(synced)
    deploy(manual)
    v2 = client.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    assert campaigns.served_model(synced)["solutionVersionArn"] == v1     # v2 still training
    finish_training(v2)
    assert campaigns.served_model(synced)["solutionVersionArn"] == v2
    assert campaigns.served_model(manual)["solutionVersionArn"] == v1
    assert client.describe_campaign(campaignArn=synced)["campaign"]["solutionVersionArn"] == v1
    assert campaigns.auto_update_campaigns(v2) == [synced]
    deploy(synced)
    described = client.describe_campaign(campaignArn=synced)["campaign"]
    assert described["solutionVersionArn"] == v2
    assert described["campaignConfig"] == {"syncWithLatestSolutionVersion": True}


def test_latest_form_of_the_solution_version(stock_personalize, group, trained, started):
    client = stock_personalize
    solution, v1 = trained
    arn = client.create_campaign(name="c", solutionVersionArn=v1)["campaignArn"]
    deploy(arn)
    v2 = client.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    finish_training(v2)
    client.update_campaign(campaignArn=arn, solutionVersionArn=f"{solution}/$LATEST",
                           campaignConfig={"syncWithLatestSolutionVersion": True})
    campaign = client.describe_campaign(campaignArn=arn)["campaign"]
    assert campaign["latestCampaignUpdate"]["solutionVersionArn"] == v2
    assert campaign["latestCampaignUpdate"]["campaignConfig"] == {"syncWithLatestSolutionVersion": True}
    deploy(arn)
    other, _ = trained_today(client, group, "other", SIMS)
    with pytest.raises(ClientError) as e:     # another solution's latest version
        client.update_campaign(campaignArn=arn, solutionVersionArn=f"{other}/$LATEST")
    assert code(e) == "InvalidInputException" and "not a version" in message(e)
    with pytest.raises(ClientError) as e:     # sync without the $LATEST form
        client.update_campaign(campaignArn=arn, solutionVersionArn=v1,
                               campaignConfig={"syncWithLatestSolutionVersion": True})
    assert code(e) == "InvalidInputException" and "$LATEST" in message(e)
    with pytest.raises(ClientError) as e:
        client.create_campaign(name="none", solutionVersionArn=solution[:-3] + "nope/$LATEST")
    assert code(e) == "ResourceNotFoundException"
    untrained = client.create_solution(name="untrained", datasetGroupArn=group,
                                       recipeArn=HRNN)["solutionArn"]
    with pytest.raises(ClientError) as e:
        client.create_campaign(name="early", solutionVersionArn=f"{untrained}/$LATEST")
    assert code(e) == "InvalidInputException" and "ACTIVE" in message(e)


def test_create_campaign_errors(personalize, group, trained, started):
    solution, version = trained
    with pytest.raises(ClientError) as e:
        personalize.create_campaign(name="c", solutionVersionArn=version[:-8] + "00000000")
    assert code(e) == "ResourceNotFoundException"
    training = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    with pytest.raises(ClientError) as e:
        personalize.create_campaign(name="c", solutionVersionArn=training)
    assert code(e) == "InvalidInputException" and "ACTIVE" in message(e)
    with pytest.raises(ClientError) as e:
        personalize.create_campaign(name="c", solutionVersionArn=version, updateMode="SOMETIMES")
    assert code(e) == "InvalidInputException"
    with pytest.raises(ClientError) as e:
        personalize.create_campaign(name="c", solutionVersionArn=version, minProvisionedTPS=0)
    assert code(e) == "InvalidInputException"
    with pytest.raises(ClientError) as e:
        personalize.create_campaign(name="-bad", solutionVersionArn=version)
    assert code(e) == "InvalidInputException"
    personalize.create_campaign(name="c", solutionVersionArn=version)
    with pytest.raises(ClientError) as e:
        personalize.create_campaign(name="c", solutionVersionArn=version)
    assert code(e) == "ResourceAlreadyExistsException"
    assert len(personalize.list_campaigns()["campaigns"]) == 1


def test_deployment_that_cannot_start_fails_the_campaign(personalize, trained, monkeypatch):
    from chalicelib.workflows import starter

    def broken(name, payload, execution_name=None):
        raise RuntimeError("no campaign state machine")

    monkeypatch.setattr(starter, "start_workflow", broken)
    arn = personalize.create_campaign(name="c", solutionVersionArn=trained[1])["campaignArn"]
    campaign = personalize.describe_campaign(campaignArn=arn)["campaign"]
    assert campaign["status"] == "CREATE FAILED"
    assert "no campaign state machine" in campaign["failureReason"]


def test_describe_unknown_campaign(personalize):
    with pytest.raises(ClientError) as e:
        personalize.describe_campaign(campaignArn="arn:aws:personalize:us-east-1:000000000000:campaign/x")
    assert code(e) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        personalize.describe_campaign(campaignArn="campaign/x")
    assert code(e) == "InvalidInputException"
    from chalicelib.service import campaigns
    with pytest.raises(Exception) as e:
        campaigns.active_model_for_campaign("arn:aws:personalize:us-east-1:000000000000:campaign/x")
    assert type(e.value).__name__ == "ResourceNotFoundException"


def test_update_campaign_deploys_another_version(personalize, trained, started):
    from chalicelib.service import campaigns
    solution, v1 = trained
    arn = personalize.create_campaign(name="c", solutionVersionArn=v1)["campaignArn"]
    deploy(arn)
    v2 = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    finish_training(v2)
    # updateMode alone: no deployment
    n = len(started)
    personalize.update_campaign(campaignArn=arn, updateMode="AUTO")
    campaign = personalize.describe_campaign(campaignArn=arn)["campaign"]
    assert campaign["updateMode"] == "AUTO" and len(started) == n and "latestCampaignUpdate" not in campaign
    personalize.update_campaign(campaignArn=arn, solutionVersionArn=v2, minProvisionedTPS=3)
    assert started[-1] == ("campaign", {"campaignArn": arn})
    campaign = personalize.describe_campaign(campaignArn=arn)["campaign"]
    assert campaign["status"] == "ACTIVE" and campaign["solutionVersionArn"] == v1  # still serving v1
    assert campaign["latestCampaignUpdate"]["status"] == "CREATE PENDING"
    assert campaign["latestCampaignUpdate"]["solutionVersionArn"] == v2
    assert campaigns.active_model_for_campaign(arn)[0] == v1
    deployment = campaigns.campaign_deployment(arn)
    assert deployment["kind"] == "update" and deployment["solutionVersionArn"] == v2
    assert deployment["minProvisionedTPS"] == 3 and deployment["deploymentId"] != "create"
    with pytest.raises(ClientError) as e:   # one update at a time
        personalize.update_campaign(campaignArn=arn, solutionVersionArn=v1)
    assert code(e) == "InvalidInputException"
    with pytest.raises(ClientError) as e:
        personalize.delete_campaign(campaignArn=arn)
    assert code(e) == "ResourceInUseException"
    deploy(arn, deployment_id=deployment["deploymentId"])
    # a retried task changes nothing
    campaigns.mark_campaign(arn, "ACTIVE", deployment_id=deployment["deploymentId"])
    from chalicelib.domain.lifecycle import TransitionRefused
    with pytest.raises(TransitionRefused):                  # the creation is long over
        deploy(arn, deployment_id="create")
    campaign = personalize.describe_campaign(campaignArn=arn)["campaign"]
    assert campaign["solutionVersionArn"] == v2 and campaign["minProvisionedTPS"] == 3
    assert campaign["latestCampaignUpdate"]["status"] == "ACTIVE"
    assert campaigns.active_model_for_campaign(arn)[0] == v2


def test_failed_update_keeps_the_old_version(personalize, trained, started):
    from chalicelib.service import campaigns
    solution, v1 = trained
    arn = personalize.create_campaign(name="c", solutionVersionArn=v1)["campaignArn"]
    deploy(arn)
    personalize.update_campaign(campaignArn=arn, minProvisionedTPS=7)
    deploy(arn, "CREATE FAILED", failure_reason="out of capacity")
    campaign = personalize.describe_campaign(campaignArn=arn)["campaign"]
    assert campaign["status"] == "ACTIVE" and campaign["minProvisionedTPS"] == 1
    assert campaign["latestCampaignUpdate"]["failureReason"] == "out of capacity"
    assert campaigns.active_model_for_campaign(arn)[0] == v1
    personalize.update_campaign(campaignArn=arn, minProvisionedTPS=7)   # may try again


def test_update_campaign_errors(personalize, group, trained, started):
    solution, v1 = trained
    with pytest.raises(ClientError) as e:
        personalize.update_campaign(campaignArn=solution.replace("solution", "campaign"))
    assert code(e) == "ResourceNotFoundException"
    arn = personalize.create_campaign(name="c", solutionVersionArn=v1)["campaignArn"]
    with pytest.raises(ClientError) as e:     # still CREATE PENDING
        personalize.update_campaign(campaignArn=arn, updateMode="AUTO")
    assert code(e) == "InvalidInputException"
    deploy(arn)
    other, other_version = trained_solution(personalize, group, name="other", recipe=SIMS)
    with pytest.raises(ClientError) as e:
        personalize.update_campaign(campaignArn=arn, solutionVersionArn=other_version)
    assert code(e) == "InvalidInputException" and "not a version" in message(e)
    with pytest.raises(ClientError) as e:
        personalize.update_campaign(campaignArn=arn, solutionVersionArn=v1[:-8] + "deadbeef")
    assert code(e) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        personalize.update_campaign(campaignArn=arn, updateMode="NEVER")
    assert code(e) == "InvalidInputException"


def test_auto_campaigns_follow_new_versions(personalize, trained, started):
    from chalicelib.service import campaigns
    solution, v1 = trained
    auto = personalize.create_campaign(name="auto", solutionVersionArn=v1, updateMode="AUTO")["campaignArn"]
    manual = personalize.create_campaign(name="manual", solutionVersionArn=v1, updateMode="MANUAL")["campaignArn"]
    deploy(auto)
    deploy(manual)
    assert [c["campaignArn"] for c in campaigns.campaigns_in_auto_mode(solution)] == [auto]
    v2 = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    assert campaigns.auto_update_campaigns(v2) == []       # not trained yet
    finish_training(v2)
    assert campaigns.auto_update_campaigns(v2) == [auto]
    assert campaigns.auto_update_campaigns(v2) == []       # already moving to it
    deploy(auto)
    assert campaigns.active_model_for_campaign(auto)[0] == v2
    assert campaigns.active_model_for_campaign(manual)[0] == v1


def test_delete_campaign(personalize, trained, started):
    solution, v1 = trained
    arn = personalize.create_campaign(name="c", solutionVersionArn=v1)["campaignArn"]
    with pytest.raises(ClientError) as e:     # being deployed
        personalize.delete_campaign(campaignArn=arn)
    assert code(e) == "ResourceInUseException"
    deploy(arn)
    personalize.delete_campaign(campaignArn=arn)
    with pytest.raises(ClientError) as e:
        personalize.describe_campaign(campaignArn=arn)
    assert code(e) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        personalize.delete_campaign(campaignArn=arn)
    assert code(e) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        personalize.delete_campaign(campaignArn="nope")
    assert code(e) == "InvalidInputException"
    personalize.delete_solution(solutionArn=solution)     # "the solutions ... are not deleted"


def test_list_campaigns_filters_and_pages(personalize, group, trained, started):
    solution, v1 = trained
    other, other_version = trained_solution(personalize, group, name="other", recipe=SIMS)
    for i in range(3):
        personalize.create_campaign(name=f"a{i}", solutionVersionArn=v1)
    personalize.create_campaign(name="b", solutionVersionArn=other_version)
    assert len(personalize.list_campaigns()["campaigns"]) == 4
    page = personalize.list_campaigns(solutionArn=solution, maxResults=2)
    assert [c["name"] for c in page["campaigns"]] == ["a2", "a1"]
    rest = personalize.list_campaigns(solutionArn=solution, maxResults=2, nextToken=page["nextToken"])
    assert [c["name"] for c in rest["campaigns"]] == ["a0"] and "nextToken" not in rest
    summary = rest["campaigns"][0]
    assert set(summary) == {"name", "campaignArn", "status", "creationDateTime", "lastUpdatedDateTime"}
    assert [c["name"] for c in personalize.list_campaigns(solutionArn=other)["campaigns"]] == ["b"]
    with pytest.raises(ClientError) as e:
        personalize.list_campaigns(nextToken="bad-token")
    assert code(e) == "InvalidNextTokenException"
    with pytest.raises(ClientError) as e:     # a token is tied to its listing
        personalize.list_campaigns(solutionArn=other, nextToken=page["nextToken"])
    assert code(e) == "InvalidNextTokenException"
    with pytest.raises(ClientError) as e:
        personalize.list_campaigns(maxResults=101)
    assert code(e) == "InvalidInputException"


def test_stock_client_getting_started_flow(stock_personalize, started):
    """The Getting Started flow with a stock boto3 client, training played by the test."""
    client = stock_personalize
    group = make_group(client, "MovieRatingDatasetGroup")
    solution = client.create_solution(name="MovieSolution", datasetGroupArn=group,
                                      recipeArn=HRNN)["solutionArn"]
    described = client.describe_solution(solutionArn=solution)["solution"]
    assert described["status"] == "ACTIVE" and "latestSolutionVersion" not in described
    version = client.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    assert client.describe_solution_version(solutionVersionArn=version)["solutionVersion"]["status"] \
        == "CREATE PENDING"
    with pytest.raises(ClientError) as e:
        client.get_solution_metrics(solutionVersionArn=version)
    assert code(e) == "ResourceInUseException"
    finish_training(version)
    metrics = client.get_solution_metrics(solutionVersionArn=version)
    assert metrics["solutionVersionArn"] == version and metrics["metrics"] == METRICS
    campaign = client.create_campaign(name="MovieRecommendationCampaign", solutionVersionArn=version,
                                      minProvisionedTPS=1)["campaignArn"]
    deploy(campaign)
    described = client.describe_campaign(campaignArn=campaign)["campaign"]
    assert described["status"] == "ACTIVE" and described["solutionVersionArn"] == version
    recipes = [r["name"] for r in client.list_recipes()["recipes"]]
    assert "aws-hrnn" in recipes


def _sample_csv(users=60, items=40, per_user=25, seed=7):
    rng = random.Random(seed)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["USER_ID", "ITEM_ID", "TIMESTAMP"])
    for u in range(users):
        for k in range(per_user):
            writer.writerow([f"u{u}", f"i{min(int(rng.expovariate(0.1)), items - 1)}",
                             1_500_000_000 + u * 1000 + k])
    return out.getvalue().encode()


def test_stock_getting_started_with_real_training(stock_personalize, s3):
    """Import, train (popularity: fast), metrics and deploy with the real local workflows."""
    client = stock_personalize
    group = make_group(client, "RealFlow")
    s3.put_object(Bucket="personalize-data", Key="input/ratings.csv", Body=_sample_csv())
    dataset = client.list_datasets(datasetGroupArn=group)["datasets"][0]["datasetArn"]
    client.create_dataset_import_job(jobName="RealImport", datasetArn=dataset,
                                     dataSource={"dataLocation": "s3://personalize-data/input/ratings.csv"},
                                     roleArn="arn:aws:iam::000000000000:role/personalize")
    solution = client.create_solution(name="RealSolution", datasetGroupArn=group, performHPO=False,
                                      recipeArn="arn:aws:personalize:::recipe/aws-popularity-count")["solutionArn"]
    client.create_solution_version(solutionArn=solution)
    deadline = time.monotonic() + 300
    while client.describe_solution(solutionArn=solution)["solution"]["status"] not in ("ACTIVE", "CREATE FAILED"):
        assert time.monotonic() < deadline, "training did not finish"
        time.sleep(0.5)
    described = client.describe_solution(solutionArn=solution)["solution"]
    assert described["status"] == "ACTIVE", described.get("latestSolutionVersion")
    version = described["latestSolutionVersion"]["solutionVersionArn"]
    metrics = client.get_solution_metrics(solutionVersionArn=version)["metrics"]
    assert 0.0 <= metrics["precision_at_25"] <= 1.0
    campaign = client.create_campaign(name="RealCampaign", solutionVersionArn=version)["campaignArn"]
    while client.describe_campaign(campaignArn=campaign)["campaign"]["status"] not in ("ACTIVE", "CREATE FAILED"):
        assert time.monotonic() < deadline, "deployment did not finish"
        time.sleep(0.5)
    described = client.describe_campaign(campaignArn=campaign)["campaign"]
    if os.path.exists(CAMPAIGN_ASL):
        assert described["status"] == "ACTIVE", described.get("failureReason")
    else:   # no deployment workflow yet: the campaign says why it failed
        assert described["status"] == "CREATE FAILED" and "campaign" in described["failureReason"]
