"""Campaign deployment steps (seed: "Creating a Campaign", CreateCampaign, UpdateCampaign;
state machine `infrastructure/statemachines/campaign.asl.json`, input {"campaignArn"}).

CREATE PENDING -> CREATE IN_PROGRESS (`campaign.begin`) -> the solution version is ACTIVE and its
model files are where it says (`campaign.check`) -> the model loads (`campaign.warm`, which also
fills this container's model cache) -> ACTIVE (`campaign.activate`). A check that fails returns
`failureReason` (not retried); an error is retried by the state machine, then caught, and
`campaign.fail` marks the deployment CREATE FAILED with its reason. For an update the same
moves apply to `latestCampaignUpdate` (the campaign keeps serving its current version until the
update is ACTIVE; a failed update leaves it there). Every step names its deployment
(`deploymentId` from `campaigns.campaign_deployment`), so a retried or late step cannot move
another deployment.
"""
import logging

from chalicelib.domain import lifecycle
from chalicelib.protocol.errors import ResourceNotFoundException
from chalicelib.runtime import artifacts, serving
from chalicelib.service import campaigns, solution_versions
from chalicelib.workflows import failures
from chalicelib.workflows.tasks import task

log = logging.getLogger(__name__)


def _deployment(state):
    return state.get("deployment") or {}


@task("campaign.begin")
def begin(state):
    arn = state["campaignArn"]
    try:
        deployment = campaigns.campaign_deployment(arn)
    except ResourceNotFoundException:
        return {"gone": True}   # deleted before its deployment started: nothing to deploy
    campaigns.mark_campaign(arn, lifecycle.CREATE_IN_PROGRESS,
                            deployment_id=deployment["deploymentId"])
    return deployment


@task("campaign.check")
def check(state):
    deployment = _deployment(state)
    version_arn = deployment["solutionVersionArn"]
    try:
        version = solution_versions.get(version_arn)
    except ResourceNotFoundException:
        return {"failureReason": f"Solution version {version_arn} no longer exists"}
    if version.get("status") != lifecycle.ACTIVE:
        return {"failureReason": f"Solution version {version_arn} is {version.get('status')}, "
                                 "not ACTIVE"}
    key = version.get("modelKey")
    if not key:
        return {"failureReason": f"Solution version {version_arn} records no model"}
    if not artifacts.present(key):
        return {"failureReason": f"The model of solution version {version_arn} is missing at {key}"}
    return {"modelKey": key, "datasetGroupArn": version.get("datasetGroupArn")}


@task("campaign.warm")
def warm(state):
    """Load the model once: a model that does not load fails the deployment, not a request."""
    deployment, checked = _deployment(state), state.get("check") or {}
    version_arn = deployment["solutionVersionArn"]
    try:
        served = serving.cache().get(version_arn, lambda: serving.load(
            version_arn, checked["modelKey"], checked.get("datasetGroupArn")))
    except (artifacts.ArtifactsMissing, ValueError, KeyError, OSError) as e:
        log.exception("model of %s does not load", version_arn)
        return {"failureReason": f"The model of solution version {version_arn} does not load: {e}"}
    return {"items": int(served.model.item_ids.shape[0]), "bytes": served.nbytes,
            "users": served.histories.user_count}


@task("campaign.activate")
def activate(state):
    deployment = _deployment(state)
    record = campaigns.mark_campaign(state["campaignArn"], lifecycle.ACTIVE,
                                     deployment_id=deployment["deploymentId"])
    return {"status": record.get("status")}


def failure_reason(state):
    """The deployment's failureReason: a check's answer, or the caught error."""
    return failures.failure_reason(
        state, answered_by=("check", "warm"), activity="deploying",
        timeout_reason="The deployment did not finish in time (a step timed out)")


@task("campaign.fail")
def fail(state):
    reason = failure_reason(state)
    deployment_id = _deployment(state).get("deploymentId")
    try:
        campaigns.mark_campaign(state["campaignArn"], lifecycle.CREATE_FAILED,
                                failure_reason=reason[:failures.REASON_LIMIT], deployment_id=deployment_id)
    except ResourceNotFoundException:
        log.warning("campaign %s is gone; its deployment failed: %s", state["campaignArn"], reason)
    return {"failureReason": reason}
