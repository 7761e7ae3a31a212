"""Campaigns (seed: "Creating a Campaign", Getting Started step 3; API Reference:
CreateCampaign, DescribeCampaign, ListCampaigns, UpdateCampaign, DeleteCampaign; data types
Campaign, CampaignSummary, CampaignUpdateSummary).

A campaign deploys one solution version. CreateCampaign takes the solution's latest ACTIVE
version when given `solutionArn` ("Amazon Personalize defaults to the latest version of the
solution ... when the solution ARN is specified but the solution version ARN isn't"), or an
explicit `solutionVersionArn` (the seed's request syntax and today's API). It stores the
campaign CREATE PENDING and starts the "campaign" workflow with {"campaignArn"}.

UpdateCampaign either changes `updateMode` alone (no deployment) or deploys another ACTIVE
version of the same solution (and/or new minProvisionedTPS / campaignConfig): the campaign stays
ACTIVE on its current version while `latestCampaignUpdate` goes CREATE PENDING -> CREATE
IN_PROGRESS -> ACTIVE (then the campaign serves the new version) or CREATE FAILED (it keeps the
old one). "If the update mode is AUTO, the latest version of the solution is automatically
deployed whenever the solution is updated": the training workflow calls
`auto_update_campaigns(version_arn)` when a version becomes ACTIVE.

Rules the service model cannot express (InvalidInputException unless said; the seed lists no
ResourceInUseException for CreateCampaign/UpdateCampaign, so a busy or not-yet-trained target is
an invalid value there):
- the solution / version exist (ResourceNotFoundException); the version is ACTIVE and belongs to
  the solution; the solution is ACTIVE (seed, CreateSolution "Note");
- a campaign is updated only when ACTIVE and with no update in flight;
- DeleteCampaign refuses while the campaign or an update is being deployed
  (ResourceInUseException, which DeleteCampaign lists); the record goes at once.
- minProvisionedTPS defaults to 1 and is >= 1; updateMode defaults to MANUAL (the shipped
  model's documented default for clients that do not send it); a stock client's
  campaignConfig.syncWithLatestSolutionVersion true/false means AUTO/MANUAL (a contradiction
  with updateMode is refused); true needs solutionVersionArn in today's `SolutionArn/$LATEST`
  form (the solution's latest ACTIVE version), and the runtime then serves the latest ACTIVE
  version (`served_model`);
- campaignConfig (today's CampaignConfig) is stored on the campaign and on
  latestCampaignUpdate; an update's replaces the campaign's when it is ACTIVE.
  itemExplorationConfig is checked against the deployed recipe (`domain.recipes`).

For the campaign workflow and the runtime: `campaign_deployment`, `mark_campaign`,
`active_model_for_campaign`, `campaigns_in_auto_mode`, `auto_update_campaigns`.
"""
import logging

from chalicelib.domain import arns, lifecycle
from chalicelib.domain import recipes as catalog
from chalicelib.protocol.errors import (InvalidInputException, ResourceAlreadyExistsException,
                                        ResourceInUseException, ResourceNotFoundException)
from chalicelib.service import dialects, recipes, solution_versions
from chalicelib.service.registry import operation
from chalicelib.storage.resources import ConditionFailed, TransactionFailed, now, store

log = logging.getLogger(__name__)

TYPE = arns.CAMPAIGN
AUTO, MANUAL = "AUTO", "MANUAL"
UPDATE_ID = "updateId"          # set while an update is in flight (a lock and its identity)


def _default(member, fallback):
    try:
        from chalicelib.protocol.models import member_default
        value = member_default("personalize", "CreateCampaign", member)
    except (ImportError, KeyError):
        value = None
    return fallback if value is None else value


def campaign_arn(name):
    return arns.build(TYPE, name)


def get(arn):
    return store().require(arn, TYPE, "campaign")


def _check_tps(tps):
    if tps is not None and tps < 1:
        raise InvalidInputException(f"minProvisionedTPS: {tps} is below the minimum 1")


def _check_mode(mode):
    if mode not in (AUTO, MANUAL):
        raise InvalidInputException(f"updateMode: {mode!r} is not one of AUTO, MANUAL")


def _requested_mode(operation, params):
    """updateMode as sent (the preview's), or as today's API says it:
    campaignConfig.syncWithLatestSolutionVersion true/false (`service.dialects`, row
    CreateCampaign auto_update); None when neither is given."""
    sync = (params.get("campaignConfig") or {}).get("syncWithLatestSolutionVersion")
    if dialects.setting(operation, "auto_update", params) == "syncWithLatestSolutionVersion":
        return None if sync is None else (AUTO if sync else MANUAL)
    mode = params["updateMode"]
    if sync is not None and (mode == AUTO) != sync:
        raise InvalidInputException(
            f"updateMode {mode} contradicts campaignConfig.syncWithLatestSolutionVersion={sync}")
    return mode


def _deployable_version(version_arn, solution_arn=None):
    """The version record if it exists, is ACTIVE and belongs to `solution_arn` (when given)."""
    version = solution_versions.get(version_arn)
    if solution_arn and version["solutionArn"] != solution_arn:
        raise InvalidInputException(
            f"Solution version {version_arn} is not a version of solution {solution_arn}")
    if version["status"] != lifecycle.ACTIVE:
        raise InvalidInputException(
            f"Solution version {version_arn} is {version['status']}; only an ACTIVE version can be deployed")
    return version


LATEST = "$LATEST"
SYNC = "syncWithLatestSolutionVersion"


def _target(version_arn, solution_arn=None):
    """The version record a request deploys, and whether it named it in today's
    `SolutionArn/$LATEST` form (the solution's latest ACTIVE version, today's CreateCampaign /
    UpdateCampaign `solutionVersionArn`)."""
    if not version_arn.endswith("/" + LATEST):
        return _deployable_version(version_arn, solution_arn), False
    named = version_arn[:-len(LATEST) - 1]
    if solution_arn and named != solution_arn:
        raise InvalidInputException(
            f"solutionVersionArn: {version_arn} is not a version of solution {solution_arn}")
    store().require(named, arns.SOLUTION, "solution")
    version = solution_versions.latest_active_version(named)
    if version is None:
        raise InvalidInputException(
            f"solutionVersionArn: solution {named} has no ACTIVE solution version to deploy yet")
    return version, True


def _check_config(config, latest, version):
    """Today's CampaignConfig rules: syncWithLatestSolutionVersion true needs the solution in
    `SolutionArn/$LATEST` form ("You must use this format if you set
    syncWithLatestSolutionVersion to True"); itemExplorationConfig only for a recipe with item
    exploration, its values valid (explorationWeight 0..1, explorationItemAgeCutOff in days)."""
    config = config or {}
    if config.get(SYNC) and not latest:
        raise InvalidInputException(
            f"solutionVersionArn: with campaignConfig.{SYNC} true, give the solution's ARN in "
            f"SolutionArn/{LATEST} form")
    recipe = recipes.get(solution_versions.trained_recipe_arn(version))
    try:
        catalog.check_item_exploration(recipe["name"], config.get("itemExplorationConfig"),
                                       "campaignConfig.itemExplorationConfig")
    except ValueError as e:
        raise InvalidInputException(str(e)) from None


def _config_following(config, mode):
    """`config` with syncWithLatestSolutionVersion saying `mode` (AUTO: true), when the config
    has the member: the campaign's two spellings of automatic updates never disagree."""
    if not config or SYNC not in config or mode is None:
        return config
    return {**config, SYNC: mode == AUTO}


def _start_deployment(arn):
    from chalicelib.workflows import starter
    try:
        execution = starter.start_workflow("campaign", {"campaignArn": arn})
    except Exception as e:  # noqa: BLE001 - the reason is shown to the user
        log.exception("could not start the deployment of %s", arn)
        mark_campaign(arn, lifecycle.CREATE_FAILED,
                      failure_reason=f"Deployment could not be started: {e}")
        return None
    try:   # the deployment's execution, for the reconciler (workflows/reconcile.py)
        store().update(arn, {"executionArn": execution})
    except ConditionFailed:
        pass
    return execution


# ---- operations ----------------------------------------------------------------------------

@operation("CreateCampaign")
def create_campaign(params):
    solution_arn, version_arn = params.get("solutionArn"), params.get("solutionVersionArn")
    latest = False
    if version_arn:
        version, latest = _target(version_arn, solution_arn)
        solution_arn = version["solutionArn"]
    elif solution_arn:
        store().require(solution_arn, arns.SOLUTION, "solution")
        version = solution_versions.latest_active_version(solution_arn)
        if version is None:
            raise InvalidInputException(
                f"Solution {solution_arn} has no ACTIVE solution version to deploy yet")
    else:
        raise InvalidInputException("Give solutionArn or solutionVersionArn: the solution to deploy")
    mode = _requested_mode("CreateCampaign", params) or _default("updateMode", MANUAL)
    _check_mode(mode)
    # the preview's solutionArn asks for the latest version as today's $LATEST form does
    _check_config(params.get("campaignConfig"), latest or not version_arn, version)
    tps = params.get("minProvisionedTPS", _default("minProvisionedTPS", 1) or 1)
    _check_tps(tps)
    arn = campaign_arn(params["name"])
    created = now()
    record = {
        "arn": arn, "campaignArn": arn, "name": params["name"], "solutionArn": solution_arn,
        "solutionVersionArn": version["arn"], "updateMode": mode, "minProvisionedTPS": tps,
        "campaignConfig": params.get("campaignConfig"), "status": lifecycle.CREATE_PENDING,
        "creationDateTime": created, "lastUpdatedDateTime": created,
    }
    s = store()
    try:
        s.transact([s.op_put_new(record, TYPE, parent_arn=solution_arn),
                    s.op_check(solution_arn, expect_status=[lifecycle.ACTIVE]),
                    s.op_check(version["arn"], expect_status=[lifecycle.ACTIVE])])
    except TransactionFailed as e:
        if e.failed(0):
            raise ResourceAlreadyExistsException(f"Campaign {arn} already exists") from None
        raise InvalidInputException(
            f"Solution {solution_arn} or its version {version['arn']} is no longer ACTIVE") from None
    _start_deployment(arn)
    return {"campaignArn": arn}


@operation("DescribeCampaign")
def describe_campaign(params):
    return {"campaign": get(params["campaignArn"])}


@operation("ListCampaigns")
def list_campaigns(params):
    records, token = store().list_page(TYPE, params, params.get("solutionArn"))
    return {"campaigns": records, "nextToken": token}


def _begin_update(campaign, version_arn, tps, config):
    """Record a CREATE PENDING latestCampaignUpdate, unless another update is in flight."""
    arn = campaign["arn"]
    created = now()
    update_id = arns.new_id()
    update = {"solutionVersionArn": version_arn, "minProvisionedTPS": tps,
              "campaignConfig": config, "status": lifecycle.CREATE_PENDING, UPDATE_ID: update_id,
              "creationDateTime": created, "lastUpdatedDateTime": created}
    try:
        store().update(arn, {"latestCampaignUpdate": update, UPDATE_ID: update_id,
                             "lastUpdatedDateTime": created},
                       expect_status=[lifecycle.ACTIVE], absent=[UPDATE_ID])
    except ConditionFailed as e:
        if e.current is None:
            raise ResourceNotFoundException.for_arn(arn) from None
        raise InvalidInputException(
            f"Campaign {arn} is busy ({e.current.get('status')}, update "
            f"{(e.current.get('latestCampaignUpdate') or {}).get('status', 'none')}); try again "
            "when it is ACTIVE") from None


@operation("UpdateCampaign")
def update_campaign(params):
    arn = params["campaignArn"]
    campaign = get(arn)
    if campaign["status"] != lifecycle.ACTIVE or campaign.get(UPDATE_ID):
        raise InvalidInputException(
            f"Campaign {arn} is {campaign['status']}"
            f"{' with an update in progress' if campaign.get(UPDATE_ID) else ''}; "
            "it can be updated when ACTIVE")
    mode = _requested_mode("UpdateCampaign", params)
    if mode is not None:
        _check_mode(mode)
    _check_tps(params.get("minProvisionedTPS"))
    config = params.get("campaignConfig")
    # a campaignConfig that only carries the update mode deploys nothing
    config_changes = bool(config) and set(config) != {SYNC}
    deploy = "solutionVersionArn" in params or "minProvisionedTPS" in params or config_changes
    version = latest = None
    if deploy:
        version, latest = _target(params.get("solutionVersionArn") or campaign["solutionVersionArn"],
                                  campaign["solutionArn"])
    if config:
        _check_config(config, latest, version or solution_versions.get(campaign["solutionVersionArn"]))
    stored = campaign.get("campaignConfig")
    if deploy:
        # the update's campaignConfig replaces the campaign's when the update is ACTIVE
        _begin_update(campaign, version["arn"],
                      params.get("minProvisionedTPS", campaign.get("minProvisionedTPS")),
                      _config_following(config if config is not None else stored,
                                        mode or campaign.get("updateMode")))
    if mode is not None:
        if config and SYNC in config:
            stored = {**(stored or {}), SYNC: config[SYNC]}
        store().update(arn, {"updateMode": mode, "campaignConfig": _config_following(stored, mode),
                             "lastUpdatedDateTime": now()})
    if deploy:
        _start_deployment(arn)
    return {"campaignArn": arn}


@operation("DeleteCampaign")
def delete_campaign(params):
    arn = params["campaignArn"]
    s = store()
    record, previous = s.begin_delete(arn, TYPE, "campaign")
    if record.get(UPDATE_ID):
        s.revert_delete(arn, previous)
        raise ResourceInUseException(f"Campaign {arn} has an update in progress; delete it when "
                                     "the update has finished")
    s.delete(arn, expect_status=[lifecycle.DELETE_PENDING])
    return {}


# ---- for the campaign workflow, the training workflow and the runtime ---------------------

def campaigns_in_auto_mode(solution_arn):
    """Campaign records of a solution whose updateMode is AUTO."""
    return [c for c in store().iterate(TYPE, solution_arn) if c.get("updateMode") == AUTO]


def auto_update_campaigns(solution_version_arn):
    """Deploy a newly ACTIVE version to the solution's AUTO campaigns (seed, "Creating a
    Campaign"). Campaigns that are busy, already on it, or not ACTIVE are left alone. Returns
    the ARNs of the campaigns whose update was started."""
    version = solution_versions.get(solution_version_arn)
    if version["status"] != lifecycle.ACTIVE:
        return []
    started = []
    for campaign in campaigns_in_auto_mode(version["solutionArn"]):
        if campaign["status"] != lifecycle.ACTIVE or campaign.get(UPDATE_ID) \
                or campaign["solutionVersionArn"] == solution_version_arn:
            continue
        try:
            _begin_update(campaign, solution_version_arn, campaign.get("minProvisionedTPS"),
                          campaign.get("campaignConfig"))
        except (InvalidInputException, ResourceNotFoundException):
            continue  # became busy or was deleted in between
        _start_deployment(campaign["arn"])
        started.append(campaign["arn"])
    return started


def _model_of(version_arn):
    version = solution_versions.get(version_arn)
    recipe = recipes.get(solution_versions.trained_recipe_arn(version))
    return version, recipe


CREATION = "create"   # the deployment id of a campaign's creation; updates have random ids


def campaign_deployment(campaign_arn):
    """What the campaign workflow deploys now: {"campaignArn", "deploymentId" ("create" or the
    update's id), "kind": "create"|"update", "solutionVersionArn", "recipeName", "recipeType",
    "modelKey", "minProvisionedTPS", "campaignConfig"}."""
    campaign = get(campaign_arn)
    update = campaign.get("latestCampaignUpdate") or {}
    if campaign.get(UPDATE_ID):
        kind, deployment_id, source = "update", campaign[UPDATE_ID], update
    else:
        kind, deployment_id, source = "create", CREATION, campaign
    version, recipe = _model_of(source["solutionVersionArn"])
    return {"campaignArn": campaign_arn, "deploymentId": deployment_id, "kind": kind,
            "solutionVersionArn": source["solutionVersionArn"], "recipeName": recipe["name"],
            "recipeType": recipe["recipeType"], "modelKey": version.get("modelKey"),
            "minProvisionedTPS": source.get("minProvisionedTPS"),
            "campaignConfig": source.get("campaignConfig")}


def mark_campaign(campaign_arn, status, failure_reason=None, deployment_id=None):
    """Move a deployment to `status` (CREATE IN_PROGRESS, ACTIVE, CREATE FAILED).

    `deployment_id` (from `campaign_deployment`) names the deployment: "create" moves the
    campaign itself (conditional lifecycle: retries are no-ops, backwards moves raise
    lifecycle.TransitionRefused); an update's id moves `latestCampaignUpdate`, whose ACTIVE
    makes the campaign serve the update's version and whose CREATE FAILED leaves it on the old
    one. Without an id, the deployment in flight is meant. Returns the campaign record."""
    s = store()
    campaign = get(campaign_arn)
    in_flight = campaign.get(UPDATE_ID)
    if deployment_id is None:
        deployment_id = in_flight or CREATION
    if deployment_id == CREATION:
        return s.transition(campaign_arn, status, failure_reason=failure_reason)
    update = dict(campaign.get("latestCampaignUpdate") or {})
    if deployment_id != in_flight:
        if update.get(UPDATE_ID) == deployment_id and update.get("status") == status:
            return campaign  # a retried task for an update that has ended
        raise lifecycle.TransitionRefused(f"{campaign_arn} update {deployment_id}",
                                          update.get("status") if update.get(UPDATE_ID) == deployment_id
                                          else "unknown", status)
    if not lifecycle.can_move(update["status"], status):
        if update["status"] == status:
            return campaign
        raise lifecycle.TransitionRefused(f"{campaign_arn} update", update["status"], status)
    stamp = now()
    update.update(status=status, lastUpdatedDateTime=stamp)
    if failure_reason is not None:
        update["failureReason"] = failure_reason
    changes = {"latestCampaignUpdate": update, "lastUpdatedDateTime": stamp}
    remove = []
    if status == lifecycle.ACTIVE:
        changes.update(solutionVersionArn=update["solutionVersionArn"],
                       minProvisionedTPS=update.get("minProvisionedTPS"),
                       campaignConfig=update.get("campaignConfig"))
    if status in lifecycle.TERMINAL:
        remove.append(UPDATE_ID)
    try:
        return s.update(campaign_arn, changes, remove, equals={UPDATE_ID: in_flight})
    except ConditionFailed as e:
        if e.current is None:
            raise ResourceNotFoundException.for_arn(campaign_arn) from None
        return e.current  # settled by a concurrent (retried) task


def served_model(campaign_arn):
    """What the runtime serves for a campaign, as a dict: {"campaignArn", "solutionVersionArn",
    "recipeName", "recipeType", "modelKey", "datasetGroupArn", "campaignConfig"}.
    ResourceNotFoundException for an unknown campaign, one that is not ACTIVE (seed: "You must
    wait until the status of the campaign is ACTIVE before asking the campaign for
    recommendations") or whose version has no model. While an update deploys, the campaign is
    still ACTIVE and serves its current version. A campaign whose campaignConfig has
    syncWithLatestSolutionVersion true serves its solution's latest ACTIVE version as soon as
    it is ACTIVE (today's CampaignConfig: "automatically updates to use the latest solution
    version"), before the automatic update that records it on the campaign has finished."""
    campaign = store().get(campaign_arn, TYPE)
    if campaign is None:
        raise ResourceNotFoundException.for_arn(campaign_arn)
    if campaign.get("status") != lifecycle.ACTIVE:
        raise ResourceNotFoundException(
            f"Campaign {campaign_arn} is {campaign.get('status')}; it serves once ACTIVE")
    version_arn = campaign["solutionVersionArn"]
    if (campaign.get("campaignConfig") or {}).get(SYNC):
        latest = solution_versions.latest_active_version(campaign["solutionArn"])
        version_arn = latest["arn"] if latest else version_arn
    try:
        version, recipe = _model_of(version_arn)
    except ResourceNotFoundException:
        raise ResourceNotFoundException(
            f"Campaign {campaign_arn} deploys {version_arn}, which is gone") from None
    if not version.get("modelKey"):
        raise ResourceNotFoundException(
            f"Campaign {campaign_arn}: solution version {version['arn']} has no model")
    return {"campaignArn": campaign_arn, "solutionVersionArn": version["arn"],
            "recipeName": recipe["name"], "recipeType": recipe["recipeType"],
            "modelKey": version["modelKey"], "datasetGroupArn": version.get("datasetGroupArn"),
            "campaignConfig": campaign.get("campaignConfig")}


def active_model_for_campaign(campaign_arn):
    """(solution version ARN, recipe name, recipe type, model S3 location) of `served_model`."""
    served = served_model(campaign_arn)
    return (served["solutionVersionArn"], served["recipeName"], served["recipeType"],
            served["modelKey"])
