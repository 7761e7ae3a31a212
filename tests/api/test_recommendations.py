"""GetRecommendations through boto3 (seed: "Getting Recommendations", GetRecommendations,
PredictedItem; the Getting Started flow in process).

Data goes in through the real import workflow and campaigns deploy through the real campaign
workflow (both in process). Training is played by the test: the recipe is fitted directly on
the group's training view and registered with the functions the training workflow calls
(`record_training_result`, `mark_solution_version`), the model archived as model.tar.gz in S3
as SageMaker would. The helpers are shared with test_ranking.py and test_put_events.py.
"""
import csv
import io
import json
import os
import random
import tarfile
import tempfile

import numpy as np
import pytest
from botocore.exceptions import ClientError

from tests.api.test_solutions import HRNN, POPULARITY, SIMS, code, make_group, message  # noqa: F401

RANKING = "arn:aws:personalize:::recipe/aws-personalized-ranking"
BUCKET = "personalize-data"
ROLE = "arn:aws:iam::000000000000:role/personalize"
N_USERS, N_ITEMS, PER_USER = 60, 40, 25
HRNN_HP = {"model.num_hidden": "32", "training.epochs": "5"}
ITEMS_SCHEMA = {
    "type": "record", "name": "Items", "namespace": "com.amazonaws.personalize.schema",
    "fields": [{"name": "ITEM_ID", "type": "string"},
               {"name": "GENRE", "type": "string", "categorical": True}],
    "version": "1.0",
}


# ---- helpers ----------------------------------------------------------------------------------

def sample_csv(seed=7):
    """Two tastes: even users mostly take items i0-i19, odd users i20-i39 (popular ones more)."""
    rng = random.Random(seed)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["USER_ID", "ITEM_ID", "TIMESTAMP"])
    half = N_ITEMS // 2
    for u in range(N_USERS):
        base = 0 if u % 2 == 0 else half
        for k in range(PER_USER):
            item = base + min(int(rng.expovariate(0.25)), half - 1)
            writer.writerow([f"u{u}", f"i{item}", 1_500_000_000 + u * 10_000 + k * 60])
    return out.getvalue().encode()


def items_csv():
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["ITEM_ID", "GENRE"])
    for i in range(N_ITEMS):
        writer.writerow([f"i{i}", "Comedy|Drama" if i % 3 == 0 else ("Horror" if i % 3 == 1 else "Sci-Fi")])
    return out.getvalue().encode()


@pytest.fixture
def played_training(monkeypatch):
    """Import and campaign workflows run for real; training executions are only recorded
    (the test plays them with `train`)."""
    from chalicelib.workflows import starter
    real, recorded = starter.start_workflow, []

    def start(name, payload, execution_name=None):
        if name == "training":
            recorded.append(payload)
            return f"arn:aws:states:us-east-1:000000000000:execution:training:{len(recorded)}"
        return real(name, payload, execution_name)

    monkeypatch.setattr(starter, "start_workflow", start)
    from chalicelib.runtime import serving
    serving.reset_cache()
    yield recorded
    serving.reset_cache()


def import_file(client, s3, group, dataset_type, body, name):
    key = f"input/{name}.csv"
    s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    dataset = [d for d in client.list_datasets(datasetGroupArn=group)["datasets"]
               if d["datasetType"] == dataset_type.upper()][0]["datasetArn"]
    job = client.create_dataset_import_job(jobName=name, datasetArn=dataset,
                                           dataSource={"dataLocation": f"s3://{BUCKET}/{key}"},
                                           roleArn=ROLE)["datasetImportJobArn"]
    status = client.describe_dataset_import_job(datasetImportJobArn=job)["datasetImportJob"]["status"]
    assert status == "ACTIVE", status
    return dataset


def movie_group(client, s3, name="movies", with_items=False):
    """A dataset group with imported interactions (and Items metadata)."""
    group = make_group(client, name)
    import_file(client, s3, group, "Interactions", sample_csv(), f"{name}-ratings")
    if with_items:
        schema = client.create_schema(name=f"{name}-items-schema",
                                      schema=json.dumps(ITEMS_SCHEMA))["schemaArn"]
        client.create_dataset(name=f"{name}-items", datasetGroupArn=group, datasetType="Items",
                              schemaArn=schema)
        import_file(client, s3, group, "Items", items_csv(), f"{name}-items")
    return group


def model_recipe(recipe_arn):
    """The implementation that trains `recipe_arn`."""
    from chalicelib.algorithms.registry import recipe_for
    return recipe_for(recipe_arn.rsplit("/", 1)[1])


def train(version_arn, recipe_arn, hyperparameters=None, archive=True):
    """Play the training workflow: fit, upload model.tar.gz (or the bare files), mark ACTIVE."""
    from chalicelib.datasets.training_view import load_training_data
    from chalicelib.service import solution_versions as sv
    from chalicelib.storage import objects
    version = sv.get(version_arn)
    sv.mark_solution_version(version_arn, "CREATE IN_PROGRESS")
    data = load_training_data(version["datasetGroupArn"])
    small_net = "hrnn" in recipe_arn or recipe_arn == RANKING
    hp = dict(HRNN_HP) if hyperparameters is None and small_net else (hyperparameters or {})
    model = model_recipe(recipe_arn).fit(data, hp, seed=0)
    prefix = f"s3://{BUCKET}/models/{version_arn.rsplit('/', 1)[1]}/"
    with tempfile.TemporaryDirectory() as tmp:
        model.save(os.path.join(tmp, "model"))
        if archive:
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w:gz") as tar:
                for f in ("model.json", "arrays.npz"):
                    tar.add(os.path.join(tmp, "model", f), arcname=f)
            key = objects.put_bytes(prefix + "model.tar.gz", buf.getvalue())
        else:
            for f in ("model.json", "arrays.npz"):
                objects.put_file(prefix + f, os.path.join(tmp, "model", f))
            key = prefix
    sv.record_training_result(version_arn, metrics={"precision_at_25": 0.1}, training_hours=0.01,
                              model_key=key)
    sv.mark_solution_version(version_arn, "ACTIVE")
    return model


def trained_version(client, group, recipe_arn, name, **hp):
    # today's shape (no minProvisionedTPS): the solution trains nothing until CreateSolutionVersion
    solution = client.create_solution(name=name, datasetGroupArn=group, recipeArn=recipe_arn,
                                      performHPO=False)["solutionArn"]
    version = client.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    train(version, recipe_arn, hp or None)
    return solution, version


def campaign_for(client, version, name):
    arn = client.create_campaign(name=name, solutionVersionArn=version,
                                 minProvisionedTPS=1)["campaignArn"]
    campaign = client.describe_campaign(campaignArn=arn)["campaign"]
    assert campaign["status"] == "ACTIVE", campaign.get("failureReason")
    return arn


def deployed(client, group, recipe_arn, name, **hp):
    _solution, version = trained_version(client, group, recipe_arn, name, **hp)
    return campaign_for(client, version, f"{name}-campaign")


def ids(answer, key="itemList"):
    return [x["itemId"] for x in answer[key]]


# ---- tests ------------------------------------------------------------------------------------

@pytest.fixture
def hrnn_campaign(personalize, s3, played_training):
    group = movie_group(personalize, s3)
    return group, deployed(personalize, group, HRNN, "hrnn")


def test_getting_started_flow_shipped_and_stock_clients(hrnn_campaign, runtime, stock_runtime):
    """Seed "Getting Recommendations" step 1: campaignArn, userId, itemId -> itemList."""
    _group, campaign = hrnn_campaign
    answer = runtime.get_recommendations(campaignArn=campaign, userId="u0", itemId="i3")
    items = ids(answer)
    assert len(items) == 25 and len(set(items)) == 25   # numResults defaults to 25
    assert set(items) <= {f"i{i}" for i in range(N_ITEMS)}
    assert all(isinstance(x["score"], float) for x in answer["itemList"])
    stock = stock_runtime.get_recommendations(campaignArn=campaign, userId="u0", itemId="i3")
    assert ids(stock) == items                          # same answer for a stock client
    assert ids(runtime.get_recommendations(campaignArn=campaign, userId="u0", numResults=5)) == items[:5]
    assert runtime.get_recommendations(campaignArn=campaign, userId="u0", numResults=0)["itemList"] == []


def test_recommendations_differ_between_users(hrnn_campaign, runtime):
    """A personalised recipe: an even user (items i0-i19) and an odd one (i20-i39) get
    different lists, and neither is the list an unknown user gets."""
    _group, campaign = hrnn_campaign
    even = ids(runtime.get_recommendations(campaignArn=campaign, userId="u0", numResults=10))
    odd = ids(runtime.get_recommendations(campaignArn=campaign, userId="u1", numResults=10))
    stranger = ids(runtime.get_recommendations(campaignArn=campaign, userId="stranger", numResults=10))
    assert even != odd and stranger not in (even, odd)


def test_history_items_are_not_repeated(personalize, s3, played_training, runtime):
    from chalicelib.datasets.training_view import load_training_data
    group = movie_group(personalize, s3)
    campaign = deployed(personalize, group, POPULARITY, "pop")
    data = load_training_data(group)
    u0 = int(list(data.user_ids).index("u0"))
    seen = {str(data.item_ids[i]) for i in data.interactions.item[data.interactions.user == u0]}
    items = ids(runtime.get_recommendations(campaignArn=campaign, userId="u0", numResults=40))
    assert items and not (set(items) & seen)
    assert len(items) == data.n_items - len(seen)     # everything else, nothing twice


def test_unknown_user_gets_popular_items(personalize, s3, played_training, runtime):
    import numpy as np
    from chalicelib.datasets.training_view import load_training_data
    group = movie_group(personalize, s3)
    campaign = deployed(personalize, group, POPULARITY, "pop")
    data = load_training_data(group)
    counts = np.bincount(data.interactions.item, minlength=data.n_items)
    answer = runtime.get_recommendations(campaignArn=campaign, userId="nobody-knows-me", numResults=5)
    got = [int(np.flatnonzero(data.item_ids == i)[0]) for i in ids(answer)]
    assert list(counts[got]) == sorted(counts, reverse=True)[:5]


def test_related_items_campaign_needs_an_item(personalize, s3, played_training, runtime):
    group = movie_group(personalize, s3)
    campaign = deployed(personalize, group, SIMS, "sims")
    with pytest.raises(ClientError) as e:
        runtime.get_recommendations(campaignArn=campaign, userId="u0")
    assert code(e) == "InvalidInputException" and "itemId" in message(e) and "RELATED_ITEMS" in message(e)
    items = ids(runtime.get_recommendations(campaignArn=campaign, itemId="i3", numResults=10))
    assert len(items) == 10 and "i3" not in items
    # userId is "not used" for RELATED_ITEMS
    assert ids(runtime.get_recommendations(campaignArn=campaign, itemId="i3", userId="u9",
                                           numResults=10)) == items
    unknown = ids(runtime.get_recommendations(campaignArn=campaign, itemId="no-such-item", numResults=5))
    assert len(unknown) == 5                      # popular items, not an error


def test_user_personalization_needs_a_user(hrnn_campaign, runtime):
    _group, campaign = hrnn_campaign
    with pytest.raises(ClientError) as e:
        runtime.get_recommendations(campaignArn=campaign, itemId="i3")
    assert code(e) == "InvalidInputException" and "userId" in message(e)


def test_search_personalization_campaign_points_to_ranking(personalize, s3, played_training, runtime):
    group = movie_group(personalize, s3)
    campaign = deployed(personalize, group, RANKING, "rank")
    with pytest.raises(ClientError) as e:
        runtime.get_recommendations(campaignArn=campaign, userId="u0")
    assert code(e) == "InvalidInputException" and "PersonalizeRanking" in message(e)


def test_unknown_campaign_is_404(runtime, stock_runtime, raw):
    arn = "arn:aws:personalize:us-east-1:000000000000:campaign/nope"
    for client in (runtime, stock_runtime):
        with pytest.raises(ClientError) as e:
            client.get_recommendations(campaignArn=arn, userId="u0")
        assert code(e) == "ResourceNotFoundException"
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    status, headers, body = raw("/recommendations", {"campaignArn": arn, "userId": "u0"},
                                content_type="application/json")
    assert status == 404 and headers["x-amzn-errortype"].startswith("ResourceNotFoundException")


def test_campaign_that_failed_to_deploy_is_404(personalize, s3, played_training, runtime):
    """A campaign whose model is missing ends CREATE FAILED and serves nothing."""
    from chalicelib.storage import objects
    group = movie_group(personalize, s3)
    _solution, version = trained_version(personalize, group, POPULARITY, "pop")
    from chalicelib.service import solution_versions
    objects.delete(solution_versions.get(version)["modelKey"])
    arn = personalize.create_campaign(name="broken", solutionVersionArn=version,
                                      minProvisionedTPS=1)["campaignArn"]
    campaign = personalize.describe_campaign(campaignArn=arn)["campaign"]
    assert campaign["status"] == "CREATE FAILED" and "missing" in campaign["failureReason"]
    with pytest.raises(ClientError) as e:
        runtime.get_recommendations(campaignArn=arn, userId="u0")
    assert code(e) == "ResourceNotFoundException" and "CREATE FAILED" in message(e)


def test_num_results_limits(hrnn_campaign, runtime, raw):
    _group, campaign = hrnn_campaign
    # more than the catalogue: every known item once (at most 100 in any case)
    assert len(ids(runtime.get_recommendations(campaignArn=campaign, userId="u0", numResults=500))) <= N_ITEMS
    status, _h, body = raw("/recommendations", {"campaignArn": campaign, "userId": "u0", "numResults": -1},
                           content_type="application/json")
    assert status == 400 and body["message"]


def test_unserved_members_are_refused(hrnn_campaign, runtime):
    _group, campaign = hrnn_campaign
    with pytest.raises(ClientError) as e:
        runtime.get_recommendations(
            campaignArn=campaign, userId="u0",
            recommenderArn="arn:aws:personalize:us-east-1:000000000000:recommender/r")
    assert code(e) == "InvalidInputException" and "recommenderArn" in message(e)


def test_model_is_loaded_once_per_container(hrnn_campaign, runtime):
    from chalicelib.runtime import serving
    _group, campaign = hrnn_campaign
    loads = serving.cache().loads          # the deployment's warm-up loaded it in this process
    for user in ("u0", "u1", "u2"):
        runtime.get_recommendations(campaignArn=campaign, userId=user)
    assert serving.cache().loads == loads and loads == 1


def test_another_worker_maps_the_machines_model_and_histories(hrnn_campaign, runtime):
    """Issue 15 item 3: a second worker of the machine answers alike from the model folder and
    the per-user histories index the first one left there; it reads neither the model archive
    nor the interactions data version from S3 (only the archive's HeadObject)."""
    from chalicelib.runtime import serving
    from chalicelib.storage.clients import client
    _group, campaign = hrnn_campaign
    before = {u: ids(runtime.get_recommendations(campaignArn=campaign, userId=u)) for u in ("u0", "u1")}
    served = serving.cache().peek(serving.cache().keys()[0])
    assert isinstance(served.histories.items.base, np.memmap)     # mapped, not copied
    serving.reset_cache()                   # another worker: nothing loaded in its memory
    seen = []
    s3 = client("s3")

    def hook(model, params, **kw):
        seen.append((model.name, params.get("Key", "")))
    s3.meta.events.register("before-call.s3", hook)
    try:
        after = {u: ids(runtime.get_recommendations(campaignArn=campaign, userId=u)) for u in before}
    finally:
        s3.meta.events.unregister("before-call.s3", hook)
    assert after == before
    assert [name for name, _key in seen] == ["HeadObject"], seen


def test_getting_started_with_stock_clients_only(stock_personalize, stock_runtime, s3, played_training):
    """Seed "Getting Started": a user with today's boto3 and no model files of ours."""
    group = movie_group(stock_personalize, s3, name="MovieRatingDatasetGroup")
    _solution, version = trained_version(stock_personalize, group, HRNN, "MovieSolution")
    campaign = campaign_for(stock_personalize, version, "MovieRecommendationCampaign")
    items = ids(stock_runtime.get_recommendations(campaignArn=campaign, userId="u3"))
    assert len(items) == 25
    ranked = stock_runtime.get_personalized_ranking(campaignArn=campaign, userId="u3",
                                                    inputList=items[::-1])
    assert sorted(ids(ranked, "personalizedRanking")) == sorted(items)


def test_real_training_workflow_to_recommendations(personalize, s3, runtime, events):
    """Import, train (popularity: fast) and deploy with the real in-process workflows, then
    ask the campaign and fold in an event."""
    from chalicelib.runtime import serving
    serving.reset_cache()
    group = movie_group(personalize, s3, name="real")
    solution = personalize.create_solution(minProvisionedTPS=1, name="real-pop", datasetGroupArn=group, recipeArn=POPULARITY,
                                           performHPO=False)["solutionArn"]
    described = personalize.describe_solution(solutionArn=solution)["solution"]
    assert described["status"] == "ACTIVE", described
    version = described["latestSolutionVersion"]["solutionVersionArn"]
    campaign = campaign_for(personalize, version, "real-campaign")
    before = ids(runtime.get_recommendations(campaignArn=campaign, userId="u0", numResults=5))
    assert len(before) == 5
    tracking = personalize.create_event_tracker(name="real-tracker", datasetGroupArn=group,
                                                roleArn=ROLE)["trackingId"]
    events.put_events(trackingId=tracking, userId="u0", sessionId="s",
                      eventList=[{"eventId": "e1", "eventType": "click", "sentAt": 1_700_000_000,
                                  "properties": json.dumps({"id": before[0]})}])
    after = ids(runtime.get_recommendations(campaignArn=campaign, userId="u0", numResults=5))
    assert before[0] not in after and after[:4] == before[1:]   # seen now: popularity moves on
    serving.reset_cache()


def test_metadata_recipe_uses_the_user_features(personalize, s3, played_training, runtime):
    """aws-hrnn-metadata keeps users' metadata: the runtime passes the model's own user index."""
    from chalicelib.runtime import serving
    group = movie_group(personalize, s3, name="meta")
    users_schema = {"type": "record", "name": "Users", "namespace": "com.amazonaws.personalize.schema",
                    "fields": [{"name": "USER_ID", "type": "string"},
                               {"name": "SEGMENT", "type": "string", "categorical": True}],
                    "version": "1.0"}
    schema = personalize.create_schema(name="meta-users", schema=json.dumps(users_schema))["schemaArn"]
    personalize.create_dataset(name="meta-users", datasetGroupArn=group, datasetType="Users",
                               schemaArn=schema)
    body = "USER_ID,SEGMENT\n" + "".join(f"u{u},{'even' if u % 2 == 0 else 'odd'}\n" for u in range(N_USERS))
    import_file(personalize, s3, group, "Users", body.encode(), "meta-users")
    campaign = deployed(personalize, group, "arn:aws:personalize:::recipe/aws-hrnn-metadata", "meta")
    served = serving.cache().peek(serving.cache().keys()[0])
    assert served.user_index("u4") >= 0 and served.user_index("stranger") == -1
    assert len(ids(runtime.get_recommendations(campaignArn=campaign, userId="u4", numResults=5))) == 5
    assert len(ids(runtime.get_recommendations(campaignArn=campaign, userId="stranger", numResults=5))) == 5


@pytest.mark.parametrize("recipe", ["aws-deepfm", "aws-ffnn"])
def test_deepfm_and_ffnn_train_deploy_and_fold_in_events(personalize, s3, runtime, events, recipe):
    """Seed, "Predefined Recipes": the two AutoML recipes besides HRNN, with their default
    hyperparameters through the real in-process training and campaign workflows. A user the
    model never saw, with three events recorded by PutEvents, gets items of that taste
    without retraining (popularity would mix both halves)."""
    from chalicelib.runtime import serving
    serving.reset_cache()
    group = movie_group(personalize, s3, name=recipe)
    solution = personalize.create_solution(minProvisionedTPS=1, name=recipe, datasetGroupArn=group, performHPO=False,
                                           recipeArn=f"arn:aws:personalize:::recipe/{recipe}")["solutionArn"]
    described = personalize.describe_solution(solutionArn=solution)["solution"]
    version = described["latestSolutionVersion"]["solutionVersionArn"]
    status = personalize.describe_solution_version(solutionVersionArn=version)["solutionVersion"]
    assert status["status"] == "ACTIVE", status.get("failureReason")
    (model_arn,) = personalize.get_metrics(solutionArn=solution)["metrics"]
    assert recipe.replace("aws-", "") in model_arn
    campaign = campaign_for(personalize, version, f"{recipe}-campaign")
    before = ids(runtime.get_recommendations(campaignArn=campaign, userId="u0", numResults=10))
    assert len(before) == len(set(before)) == 10
    # a user the import never saw takes three items of the odd users' taste (i20-i39)
    tracking = personalize.create_event_tracker(name=f"{recipe}-tracker", datasetGroupArn=group,
                                                roleArn=ROLE)["trackingId"]
    events.put_events(trackingId=tracking, userId="newcomer", sessionId="s",
                      eventList=[{"eventId": f"e{k}", "eventType": "click", "sentAt": 1_700_000_000 + k,
                                  "properties": json.dumps({"id": f"i{20 + k}"})} for k in range(3)])
    after = ids(runtime.get_recommendations(campaignArn=campaign, userId="newcomer", numResults=10))
    assert not {"i20", "i21", "i22"} & set(after)
    odd_taste = [int(i[1:]) >= N_ITEMS // 2 for i in after[:5]]
    assert sum(odd_taste) >= 4, after
    serving.reset_cache()
