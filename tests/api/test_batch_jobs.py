"""Batch inference and batch segment jobs through today's stock boto3 (CreateBatchInferenceJob,
DescribeBatchInferenceJob, ListBatchInferenceJobs, CreateBatchSegmentJob & co.).

Solutions train through today's shape (CreateSolution, then CreateSolutionVersion) on the real
in-process training workflow; jobs run the batch-inference state machine in process, with a
small chunk size (BATCH_CHUNK_LINES) so that the Map over chunks has several iterations.
"""
import json

import pytest
from botocore.exceptions import ClientError

from tests.api.test_recommendations import BUCKET, ROLE, movie_group
from tests.api.test_solutions import HRNN, SIMS, code, message  # noqa: F401

ITEM_AFFINITY = "arn:aws:personalize:::recipe/aws-item-affinity"
ATTRIBUTE_AFFINITY = "arn:aws:personalize:::recipe/aws-item-attribute-affinity"
CHUNK = 4


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch):
    monkeypatch.setenv("BATCH_CHUNK_LINES", str(CHUNK))
    from chalicelib.runtime import serving
    serving.reset_cache()
    yield
    serving.reset_cache()


def trained(client, group, recipe, name, hyperparameters=None):
    config = {"algorithmHyperParameters": hyperparameters} if hyperparameters else {}
    solution = client.create_solution(name=name, datasetGroupArn=group, recipeArn=recipe,
                                      solutionConfig=config)["solutionArn"]
    version = client.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    described = client.describe_solution_version(solutionVersionArn=version)["solutionVersion"]
    assert described["status"] == "ACTIVE", described.get("failureReason")
    return version


def put_lines(s3, key, lines):
    body = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n"
    s3.put_object(Bucket=BUCKET, Key=key, Body=body.encode())
    return f"s3://{BUCKET}/{key}"


def read_lines(s3, key):
    body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode()
    return [json.loads(line) for line in body.splitlines()]


def chunks_scored(job_arn):
    """How many Map iterations the job's execution ran."""
    from tests.support import stepfunctions
    [execution] = [e for e in stepfunctions.executions("batch-inference")
                   if e.input.get("jobArn") == job_arn]
    assert execution.status == "SUCCEEDED", (execution.error, execution.cause)
    return sum(1 for e in execution.history if e["type"] == "StateEntered" and e["name"] == "ScoreChunk")


def inference_job(client, name, version, source, **extra):
    return client.create_batch_inference_job(
        jobName=name, solutionVersionArn=version, roleArn=ROLE,
        jobInput={"s3DataSource": {"path": source}},
        jobOutput={"s3DataDestination": {"path": f"s3://{BUCKET}/out/{name}/"}},
        **extra)["batchInferenceJobArn"]


@pytest.fixture
def hrnn(stock_personalize, s3):
    group = movie_group(stock_personalize, s3, name="batch")
    version = trained(stock_personalize, group, HRNN, "batch-hrnn",
                      {"model.num_hidden": "32", "training.epochs": "2"})
    return group, version


def test_batch_recommendations_match_get_recommendations(stock_personalize, stock_runtime, s3, hrnn):
    _group, version = hrnn
    users = [f"u{u}" for u in range(0, 60, 3)] + ["stranger"]
    lines = [{"userId": u} for u in users[:7]] + ["{not json", {"itemId": "i1"}, [1, 2]] + \
        [{"userId": u} for u in users[7:]]
    source = put_lines(s3, "in/users.json", lines)
    arn = inference_job(stock_personalize, "recs", version, source, numResults=10)

    job = stock_personalize.describe_batch_inference_job(batchInferenceJobArn=arn)["batchInferenceJob"]
    assert job["status"] == "ACTIVE", job.get("failureReason")
    assert job["numResults"] == 10 and job["solutionVersionArn"] == version
    assert job["jobInput"]["s3DataSource"]["path"] == source
    assert job["batchInferenceJobMode"] == "BATCH_INFERENCE"
    assert chunks_scored(arn) == -(-len(lines) // CHUNK) > 1

    out = read_lines(s3, "out/recs/users.json.out")
    assert len(out) == len(lines)
    errors = [o for o in out if o["error"]]
    assert [o["input"] for o in errors] == ["{not json", {"itemId": "i1"}, [1, 2]]
    assert all(o["output"] is None for o in errors)
    assert "userId" in errors[1]["error"]
    answered = [o for o in out if not o["error"]]
    assert [o["input"]["userId"] for o in answered] == users      # input order kept
    campaign = stock_personalize.create_campaign(name="recs-campaign", solutionVersionArn=version,
                                                 minProvisionedTPS=1)["campaignArn"]
    for line in answered:
        single = stock_runtime.get_recommendations(campaignArn=campaign, numResults=10,
                                                   userId=line["input"]["userId"])["itemList"]
        assert line["output"]["recommendedItems"] == [i["itemId"] for i in single]
        assert len(line["output"]["scores"]) == 10
    listed = stock_personalize.list_batch_inference_jobs(solutionVersionArn=version)
    assert [j["batchInferenceJobArn"] for j in listed["batchInferenceJobs"]] == [arn]
    assert listed["batchInferenceJobs"][0]["status"] == "ACTIVE"
    # the parts are gone; only the output remains
    assert not s3.list_objects_v2(Bucket=BUCKET, Prefix="batch-jobs/").get("Contents")


def test_related_items_batch_over_a_folder(stock_personalize, stock_runtime, s3):
    group = movie_group(stock_personalize, s3, name="related")
    version = trained(stock_personalize, group, SIMS, "batch-sims")
    put_lines(s3, "in/items/a.json", [{"itemId": f"i{i}"} for i in range(6)])
    put_lines(s3, "in/items/b.json", [{"itemId": "i30"}, {"userId": "u1"}])
    arn = inference_job(stock_personalize, "related", version, f"s3://{BUCKET}/in/items/",
                        numResults=5)
    job = stock_personalize.describe_batch_inference_job(batchInferenceJobArn=arn)["batchInferenceJob"]
    assert job["status"] == "ACTIVE", job.get("failureReason")
    a, b = read_lines(s3, "out/related/a.json.out"), read_lines(s3, "out/related/b.json.out")
    assert len(a) == 6 and len(b) == 2 and b[1]["error"] and not b[0]["error"]
    campaign = stock_personalize.create_campaign(name="related-campaign", solutionVersionArn=version,
                                                 minProvisionedTPS=1)["campaignArn"]
    for line in a + b[:1]:
        single = stock_runtime.get_recommendations(campaignArn=campaign, numResults=5,
                                                   itemId=line["input"]["itemId"])["itemList"]
        assert line["output"]["recommendedItems"] == [i["itemId"] for i in single]


def test_create_rules(stock_personalize, s3, hrnn):
    group, version = hrnn
    source = put_lines(s3, "in/few.json", [{"userId": "u1"}])
    cases = [
        (dict(solutionVersionArn=version + "x"), "ResourceNotFoundException",
         f"Resource Arn {version}x does not exist."),
        (dict(numResults=0), "InvalidInputException", "numResults"),
        (dict(numResults=501), "InvalidInputException", "numResults"),
        (dict(batchInferenceJobMode="THEME_GENERATION"), "InvalidInputException", "THEME_GENERATION"),
        (dict(jobOutput={"s3DataDestination": {"path": "https://example.com/out"}}),
         "InvalidInputException", "jobOutput.s3DataDestination.path"),
    ]
    for extra, error, text in cases:
        params = dict(jobName="bad", solutionVersionArn=version, roleArn=ROLE,
                      jobInput={"s3DataSource": {"path": source}},
                      jobOutput={"s3DataDestination": {"path": f"s3://{BUCKET}/out/"}})
        params.update(extra)
        with pytest.raises(ClientError) as e:
            stock_personalize.create_batch_inference_job(**params)
        assert code(e) == error and text in message(e), (extra, message(e))
    inference_job(stock_personalize, "once", version, source)
    with pytest.raises(ClientError) as e:
        inference_job(stock_personalize, "once", version, source)
    assert code(e) == "ResourceAlreadyExistsException"
    # a recommendation model makes no segments
    with pytest.raises(ClientError) as e:
        stock_personalize.create_batch_segment_job(
            jobName="seg", solutionVersionArn=version, roleArn=ROLE,
            jobInput={"s3DataSource": {"path": source}},
            jobOutput={"s3DataDestination": {"path": f"s3://{BUCKET}/out/"}})
    assert code(e) == "InvalidInputException" and "CreateBatchInferenceJob" in message(e)


def test_missing_input_fails_the_job_with_its_reason(stock_personalize, hrnn):
    _group, version = hrnn
    arn = inference_job(stock_personalize, "nothing", version, f"s3://{BUCKET}/in/none.json")
    job = stock_personalize.describe_batch_inference_job(batchInferenceJobArn=arn)["batchInferenceJob"]
    assert job["status"] == "CREATE FAILED"
    assert "There is no input at" in job["failureReason"]


def segment_job(client, name, version, source, n):
    return client.create_batch_segment_job(
        jobName=name, solutionVersionArn=version, roleArn=ROLE, numResults=n,
        jobInput={"s3DataSource": {"path": source}},
        jobOutput={"s3DataDestination": {"path": f"s3://{BUCKET}/segments/{name}"}})["batchSegmentJobArn"]


def test_segment_jobs_give_the_users_of_an_item_or_an_attribute(stock_personalize, s3):
    """The sample data has two tastes: even users take i0-i19, odd users i20-i39; Items give
    i0, i3, ... Comedy|Drama, i1, i4, ... Horror."""
    group = movie_group(stock_personalize, s3, name="segments", with_items=True)
    affinity = trained(stock_personalize, group, ITEM_AFFINITY, "affinity")
    source = put_lines(s3, "in/items.json", [{"itemId": "i2"}, {"itemId": "i25"}, {"itemId": "nope"},
                                             {"itemAttributes": 'ITEMS.GENRE = "Horror"'}])
    arn = segment_job(stock_personalize, "by-item", affinity, source, 10)
    job = stock_personalize.describe_batch_segment_job(batchSegmentJobArn=arn)["batchSegmentJob"]
    assert job["status"] == "ACTIVE", job.get("failureReason")
    assert job["numResults"] == 10
    assert chunks_scored(arn) == 1
    even, odd, unknown, wrong = read_lines(s3, "segments/by-item/items.json.out")
    for line, parity in ((even, 0), (odd, 1)):
        users = line["output"]["usersList"]
        assert len(users) == 10 and len(set(users)) == 10
        assert sum(int(u[1:]) % 2 == parity for u in users) >= 8, users
    assert unknown["output"] is None and "nope" in unknown["error"]
    assert wrong["output"] is None and "itemId" in wrong["error"]

    attributes = trained(stock_personalize, group, ATTRIBUTE_AFFINITY, "attribute-affinity")
    lines = [{"itemAttributes": 'ITEMS.GENRE = "Comedy"'},
             {"itemAttributes": 'GENRE = "Horror" AND ITEMS.GENRE = "Comedy"'},
             {"itemAttributes": 'ITEMS.GENRE = '},
             {"itemAttributes": 'ITEMS.PRICE = "1"'}] + [{"itemAttributes": 'ITEMS.GENRE = "Sci-Fi"'}] * 3
    source = put_lines(s3, "in/genres.json", lines)
    arn = segment_job(stock_personalize, "by-genre", attributes, source, 5)
    job = stock_personalize.describe_batch_segment_job(batchSegmentJobArn=arn)["batchSegmentJob"]
    assert job["status"] == "ACTIVE", job.get("failureReason")
    assert chunks_scored(arn) == 2
    out = read_lines(s3, "segments/by-genre/genres.json.out")
    assert len(out) == len(lines)
    assert len(out[0]["output"]["usersList"]) == 5
    assert "no item" in out[1]["error"]                  # nothing is both Horror and Comedy
    assert "position" in out[2]["error"]
    assert "PRICE is not a field" in out[3]["error"]
    assert out[4] == out[5] == out[6] and len(out[4]["output"]["usersList"]) == 5
    listed = stock_personalize.list_batch_segment_jobs(solutionVersionArn=attributes)["batchSegmentJobs"]
    assert [j["batchSegmentJobArn"] for j in listed] == [arn]
    # a segmentation model makes no recommendations
    with pytest.raises(ClientError) as e:
        inference_job(stock_personalize, "seg-recs", attributes, source)
    assert code(e) == "InvalidInputException" and "CreateBatchSegmentJob" in message(e)


def test_a_chunk_that_keeps_failing_fails_the_job_and_leaves_nothing(stock_personalize, s3, hrnn,
                                                                     monkeypatch):
    from chalicelib.workflows import batch_jobs
    _group, version = hrnn
    real = batch_jobs.score_bytes

    def flaky(raw, scorer):
        if b"u9" in raw:
            raise RuntimeError("disk on fire")
        return real(raw, scorer)
    monkeypatch.setattr(batch_jobs, "score_bytes", flaky)
    source = put_lines(s3, "in/some.json", [{"userId": f"u{u}"} for u in range(12)])
    arn = inference_job(stock_personalize, "broken", version, source)
    job = stock_personalize.describe_batch_inference_job(batchInferenceJobArn=arn)["batchInferenceJob"]
    assert job["status"] == "CREATE FAILED"
    assert "disk on fire" in job["failureReason"]
    assert "(after 8 of 12 input lines)" in job["failureReason"]   # chunks 1 and 2 of 3 were done
    assert not s3.list_objects_v2(Bucket=BUCKET, Prefix="batch-jobs/").get("Contents")
    assert not s3.list_objects_v2(Bucket=BUCKET, Prefix="out/broken/").get("Contents")


def test_filters_apply_to_every_line_as_to_a_single_request(stock_personalize, stock_runtime, s3):
    """filterArn on a batch job ("Filtering batch recommendations"): each line is answered
    through the same filter as GetRecommendations, with the line's own filterValues; a line
    without the values its filter needs gets an error, the others go on."""
    import datetime

    from tests.api.test_filters import GENRES, new_filter
    from tests.conftest import make_client
    group = movie_group(stock_personalize, s3, name="batch-filters", with_items=True)
    tracking = stock_personalize.create_event_tracker(name="batch-tracker",
                                                      datasetGroupArn=group)["trackingId"]
    version = trained(stock_personalize, group, HRNN, "batch-filter-hrnn",
                      {"model.num_hidden": "32", "training.epochs": "2"})
    campaign = stock_personalize.create_campaign(name="batch-filter-campaign",
                                                 solutionVersionArn=version)["campaignArn"]
    bought = new_filter(stock_personalize, group, "not-bought",
                        'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")')
    genre = new_filter(stock_personalize, group, "by-genre",
                       "INCLUDE ItemID WHERE Items.GENRE IN ($GENRE)")
    ask = dict(campaignArn=campaign, userId="u4", numResults=10)
    first = [i["itemId"] for i in stock_runtime.get_recommendations(**ask)["itemList"]][0]
    make_client("personalize-events", shipped_models=False).put_events(
        trackingId=tracking, userId="u4", sessionId="s-u4",
        eventList=[{"eventType": "purchase", "itemId": first, "sentAt": datetime.datetime.now()}])

    users = ["u4", "u1", "u7", "stranger"]
    source = put_lines(s3, "in/filtered.json", [{"userId": u} for u in users])
    arn = inference_job(stock_personalize, "not-bought", version, source, numResults=10,
                        filterArn=bought)
    job = stock_personalize.describe_batch_inference_job(batchInferenceJobArn=arn)["batchInferenceJob"]
    assert job["status"] == "ACTIVE", job.get("failureReason")
    assert job["filterArn"] == bought
    out = read_lines(s3, "out/not-bought/filtered.json.out")
    assert [o["input"]["userId"] for o in out] == users and not any(o["error"] for o in out)
    assert first not in out[0]["output"]["recommendedItems"]
    for line in out:
        single = stock_runtime.get_recommendations(**dict(ask, userId=line["input"]["userId"],
                                                          filterArn=bought))["itemList"]
        assert line["output"]["recommendedItems"] == [i["itemId"] for i in single]

    lines = [{"userId": "u1", "filterValues": {"GENRE": '"Horror"'}},
             {"userId": "u2", "filterValues": {"GENRE": '"Drama","Sci-Fi"'}},
             {"userId": "u3"},                                     # $GENRE unbound
             {"userId": "u5", "filterValues": {"GENRE": 3}}]
    source = put_lines(s3, "in/genres.json", lines)
    arn = inference_job(stock_personalize, "genres", version, source, numResults=8, filterArn=genre)
    job = stock_personalize.describe_batch_inference_job(batchInferenceJobArn=arn)["batchInferenceJob"]
    assert job["status"] == "ACTIVE", job.get("failureReason")
    horror, mixed, unbound, bad = read_lines(s3, "out/genres/genres.json.out")
    assert len(horror["output"]["recommendedItems"]) == 8
    assert {GENRES[i] for i in horror["output"]["recommendedItems"]} == {"Horror"}
    assert {GENRES[i] for i in mixed["output"]["recommendedItems"]} <= {"Comedy|Drama", "Sci-Fi"}
    single = stock_runtime.get_recommendations(campaignArn=campaign, userId="u1", numResults=8,
                                               filterArn=genre, filterValues={"GENRE": '"Horror"'})
    assert horror["output"]["recommendedItems"] == [i["itemId"] for i in single["itemList"]]
    assert unbound["output"] is None and "$GENRE" in unbound["error"]
    assert bad["output"] is None and "filterValues" in bad["error"]


def test_batch_filter_rules(stock_personalize, s3, hrnn):
    from tests.api.test_filters import new_filter
    group, version = hrnn
    source = put_lines(s3, "in/one.json", [{"userId": "u1"}])
    other = movie_group(stock_personalize, s3, name="other-group")
    foreign = new_filter(stock_personalize, other, "foreign",
                         'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click")')
    users = new_filter(stock_personalize, group, "users",
                       'EXCLUDE UserID WHERE Interactions.EVENT_TYPE IN ("click")')
    for arn, text in ((foreign, "belongs to dataset group"), (users, "UserID"),
                      (foreign + "x", "does not exist")):
        with pytest.raises(ClientError) as e:
            inference_job(stock_personalize, "bad-filter", version, source, filterArn=arn)
        assert text in message(e) and "filterArn" in message(e) or code(e) == "ResourceNotFoundException", \
            message(e)
