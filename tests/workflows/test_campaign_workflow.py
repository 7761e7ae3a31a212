"""The campaign deployment workflow (infrastructure/statemachines/campaign.asl.json) run in
process: CREATE PENDING -> CREATE IN_PROGRESS -> check -> warm -> ACTIVE, failures with their
reason, updates that keep serving the old version until the new one is ACTIVE, and the
embedded emulator's error style (Retry/Catch must not depend on error names)."""

from tests.api.test_recommendations import (POPULARITY, HRNN, campaign_for, ids, movie_group,  # noqa: F401
                                            played_training, train, trained_version)
from tests.support import stepfunctions as sfn


def states_entered(campaign_arn):
    execution = [e for e in sfn.executions("campaign")
                 if e.input == {"campaignArn": campaign_arn}][-1]
    return execution, [e["name"] for e in execution.history if e["type"] == "StateEntered"]


def test_create_goes_through_every_step(personalize, s3, played_training):
    from chalicelib.runtime import serving
    group = movie_group(personalize, s3)
    _solution, version = trained_version(personalize, group, POPULARITY, "pop")
    arn = campaign_for(personalize, version, "c")
    execution, entered = states_entered(arn)
    assert execution.status == "SUCCEEDED"
    assert entered == ["Begin", "StillThere", "CheckVersion", "VersionReady", "WarmModel",
                       "ModelLoads", "Activate", "Deployed"]
    assert execution.output["warm"]["items"] > 0 and execution.output["warm"]["bytes"] > 0
    assert serving.cache().keys() == [version]          # warmed in this container


def test_missing_or_broken_model_fails_with_a_reason(personalize, s3, played_training):
    from chalicelib.service import solution_versions
    from chalicelib.storage import objects
    group = movie_group(personalize, s3)
    _solution, version = trained_version(personalize, group, POPULARITY, "pop")
    key = solution_versions.get(version)["modelKey"]
    objects.put_bytes(key, b"this is not a tar archive")
    arn = personalize.create_campaign(name="broken", solutionVersionArn=version)["campaignArn"]
    campaign = personalize.describe_campaign(campaignArn=arn)["campaign"]
    assert campaign["status"] == "CREATE FAILED"
    assert "does not load" in campaign["failureReason"]
    execution, entered = states_entered(arn)
    assert execution.status == "FAILED" and entered[-2:] == ["RecordFailure", "DeploymentFailed"]
    objects.delete(key)
    arn = personalize.create_campaign(name="gone", solutionVersionArn=version)["campaignArn"]
    campaign = personalize.describe_campaign(campaignArn=arn)["campaign"]
    assert campaign["status"] == "CREATE FAILED" and "missing" in campaign["failureReason"]


def test_model_files_in_a_folder_deploy_too(personalize, s3, played_training, runtime):
    group = movie_group(personalize, s3)
    solution = personalize.create_solution(minProvisionedTPS=1, name="folder", datasetGroupArn=group, recipeArn=POPULARITY,
                                           performHPO=False)["solutionArn"]
    version = personalize.describe_solution(solutionArn=solution)["solution"]["latestSolutionVersion"][
        "solutionVersionArn"]
    train(version, POPULARITY, archive=False)
    arn = campaign_for(personalize, version, "folder-campaign")
    assert len(ids(runtime.get_recommendations(campaignArn=arn, userId="u0", numResults=3))) == 3


def test_update_serves_the_new_version_only_once_active(personalize, s3, played_training, runtime):
    from chalicelib.service import solution_versions
    from chalicelib.storage import objects
    group = movie_group(personalize, s3)
    solution, first = trained_version(personalize, group, POPULARITY, "pop")
    arn = campaign_for(personalize, first, "c")
    second = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    train(second, HRNN)      # a different model under the same solution
    personalize.update_campaign(campaignArn=arn, solutionVersionArn=second)
    campaign = personalize.describe_campaign(campaignArn=arn)["campaign"]
    assert campaign["status"] == "ACTIVE" and campaign["solutionVersionArn"] == second
    assert campaign["latestCampaignUpdate"]["status"] == "ACTIVE"
    runtime.get_recommendations(campaignArn=arn, userId="u0")
    from chalicelib.runtime import serving
    assert second in serving.cache().keys()
    # a failed update leaves the campaign serving what it served
    objects.delete(solution_versions.get(first)["modelKey"])
    personalize.update_campaign(campaignArn=arn, solutionVersionArn=first)
    campaign = personalize.describe_campaign(campaignArn=arn)["campaign"]
    assert campaign["status"] == "ACTIVE" and campaign["solutionVersionArn"] == second
    assert campaign["latestCampaignUpdate"]["status"] == "CREATE FAILED"
    assert "missing" in campaign["latestCampaignUpdate"]["failureReason"]
    assert runtime.get_recommendations(campaignArn=arn, userId="u0")["itemList"]


def test_task_errors_are_retried_then_caught_whatever_their_name(personalize, s3, played_training,
                                                                  monkeypatch):
    """On ministack every Lambda error is Runtime.HandlerError: the deployment still fails
    cleanly, after the retries, with the error's message."""
    from chalicelib.runtime import serving
    sfn.configure(error_style="ministack")
    calls = []

    def broken_load(*args):
        calls.append(args)
        raise RuntimeError("S3 is having a bad day")

    monkeypatch.setattr(serving, "load", broken_load)
    group = movie_group(personalize, s3)
    _solution, version = trained_version(personalize, group, POPULARITY, "pop")
    arn = personalize.create_campaign(name="unlucky", solutionVersionArn=version)["campaignArn"]
    campaign = personalize.describe_campaign(campaignArn=arn)["campaign"]
    assert campaign["status"] == "CREATE FAILED"
    assert "Runtime.HandlerError" in campaign["failureReason"]
    assert "bad day" in campaign["failureReason"]
    assert len(calls) == 3                      # first try + MaxAttempts 2


def test_a_campaign_deleted_before_its_deployment_began(personalize, played_training):
    from chalicelib.workflows.campaigns import begin
    assert begin({"campaignArn": "arn:aws:personalize:us-east-1:000000000000:campaign/gone"}) == \
        {"gone": True}
