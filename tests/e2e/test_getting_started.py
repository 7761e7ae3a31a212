"""End to end on the embedded stack: the seed's "Getting Started" as users run it, with stock boto3
clients and with the shipped models, then the runtime of an aws-hrnn campaign over HTTP.

Seed: "Getting Started (AWS CLI)" / "(Python SDK)" (dataset group, schema, dataset, import job,
solution, metrics, campaign, get-recommendations), "Personalized Rankings" (PersonalizeRanking;
today's GetPersonalizedRanking), "Recording Events" (PutEvents changes the next recommendations of a
recipe that models sequences), "HRNN Recipe" (hyperparameters kept small here for time).
"""
import boto3
import pytest

from tests.api.test_put_events import click
from tests.api.test_recommendations import HRNN_HP, N_ITEMS, sample_csv
from tests.e2e import flows

pytestmark = pytest.mark.e2e

STEPS = ["Step 1: create a dataset group",
         "Step 1: create a schema and an Interactions dataset",
         "Step 1: import the training data (dataset import job)",
         "Step 2: create a solution (train aws-hrnn)",
         "Step 2: solution metrics (GetMetrics)",
         "Step 3: create a campaign",
         "Step 4: get recommendations"]


def movielens_format(n_users=60, per_user=25, n_movies=97):
    """A MovieLens-format ratings.csv (CRLF, rating column) above the seed's training minimums
    (1000 interactions, 25 users with 2 or more): n_users * per_user rows."""
    lines = ["userId,movieId,rating,timestamp"]
    for u in range(n_users):
        for k in range(per_user):
            movie = 1 + (u * 7 + k * (1 + u % 3)) % n_movies
            lines.append(f"{1 + u},{movie},{1 + (u + k) % 5}.0,{1_400_000_000 + u * 10_000 + k * 60}")
    return ("\r\n".join(lines) + "\r\n").encode()


@pytest.mark.parametrize("models", [True, False], ids=["shipped-models", "stock-client"])
def test_walkthrough_completes_getting_started(stack, tmp_path, monkeypatch, models):
    """`make run`'s walkthrough (default recipe aws-hrnn) completes every step on data of
    Getting Started size; with a stock client it uses today's calls where the preview's are
    missing (GetSolutionMetrics for GetMetrics)."""
    from scripts import walkthrough
    ratings = tmp_path / "ratings.csv"
    ratings.write_bytes(movielens_format())
    for key, value in stack.env.items():
        monkeypatch.setenv(key, value)
    if not models:
        monkeypatch.delenv("AWS_DATA_PATH", raising=False)
    monkeypatch.setenv("PERSONALIZE_DATA_BUCKET", stack.outputs["DataBucketName"])
    # boto3.client() reuses one default session; a fresh one reads the environment set above.
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    assert hasattr(boto3.client("personalize"), "get_metrics") == models
    outcomes = walkthrough.run(str(ratings), timeout=300, work_dir=str(tmp_path / "work"),
                               suffix=flows.name("-models" if models else "-stock"))
    assert outcomes == [[step, "done"] for step in STEPS]


@pytest.fixture(scope="module")
def hrnn(stack):
    """An aws-hrnn campaign on two-taste data (even users take items i0-i19, odd users i20-i39),
    built over HTTP: {"group", "solution", "version", "campaign"}."""
    personalize = stack.client("personalize")
    group, _ = flows.import_interactions(stack, personalize, sample_csv(), "hrnn")
    solution, version = flows.train(personalize, group, "aws-hrnn", "hrnn", performHPO=False,
                                    solutionConfig={"algorithmHyperParameters": HRNN_HP})
    assert version["status"] == "ACTIVE", version.get("failureReason")
    campaign = flows.campaign(personalize, version["solutionVersionArn"], "hrnn")
    return {"group": group, "solution": solution, "version": version, "campaign": campaign}


def test_hrnn_campaign_answers_and_users_differ(stack, hrnn):
    """GetRecommendations over HTTP: both clients get the same answer; users of the two tastes
    get different lists; numResults is honoured; items come from the catalogue."""
    shipped = stack.client("personalize-runtime")
    stock = stack.client("personalize-runtime", models=False)
    answers = {}
    for user in ("u0", "u1", "u2", "u3"):
        got = flows.item_ids(shipped.get_recommendations(campaignArn=hrnn["campaign"], userId=user,
                                                         numResults=10))
        assert got == flows.item_ids(stock.get_recommendations(
            campaignArn=hrnn["campaign"], userId=user, numResults=10))
        assert len(got) == 10 and len(set(got)) == 10
        assert set(got) <= {f"i{k}" for k in range(N_ITEMS)}
        answers[user] = got
    assert len({tuple(a) for a in answers.values()}) > 1
    assert answers["u0"] != answers["u1"]
    default = shipped.get_recommendations(campaignArn=hrnn["campaign"], userId="u0")
    assert len(default["itemList"]) == 25  # seed: numResults defaults to 25


def test_ranking_returns_a_permutation_of_the_input(stack, hrnn):
    """PersonalizeRanking (shipped models) and GetPersonalizedRanking (stock) re-rank exactly
    the items given; an item the model never saw goes last."""
    shipped = stack.client("personalize-runtime")
    stock = stack.client("personalize-runtime", models=False)
    given = [f"i{k}" for k in (3, 25, 11, 38, 0, 19, 30, 7)] + ["never-seen"]
    preview = flows.item_ids(shipped.personalize_ranking(campaignArn=hrnn["campaign"],
                                                         userId="u1", inputList=given),
                             key="personalizedRanking")
    today = flows.item_ids(stock.get_personalized_ranking(campaignArn=hrnn["campaign"],
                                                          userId="u1", inputList=given),
                           key="personalizedRanking")
    assert sorted(preview) == sorted(given) and preview == today
    assert preview[-1] == "never-seen"
    other = flows.item_ids(shipped.personalize_ranking(campaignArn=hrnn["campaign"], userId="u0",
                                                       inputList=given), key="personalizedRanking")
    assert sorted(other) == sorted(given)


def test_put_events_change_the_next_answer_of_that_user(stack, hrnn):
    """Seed, "Recording Events": events sent with PutEvents reach the sequential model's user
    state at once, without retraining; another user's answer stays as it was."""
    personalize = stack.client("personalize")
    runtime = stack.client("personalize-runtime", models=False)
    events = stack.client("personalize-events", models=False)
    tracking_id = personalize.create_event_tracker(
        name=flows.name("hrnn-tracker"), datasetGroupArn=hrnn["group"],
        roleArn=flows.ROLE)["trackingId"]

    def top(user):
        return flows.item_ids(runtime.get_recommendations(campaignArn=hrnn["campaign"],
                                                          userId=user, numResults=10))
    before, bystander = top("u0"), top("u2")
    # u0 (an even user, items i0-i19) suddenly takes items of the other taste
    clicked = [f"i{k}" for k in range(N_ITEMS - 1, N_ITEMS // 2 - 1, -1)
               if f"i{k}" not in before][:6]
    events.put_events(trackingId=tracking_id, userId="u0", sessionId=flows.name("session"),
                      eventList=[click(f"e2e-{k}", item, 2_000_000_000 + k)
                                 for k, item in enumerate(clicked)])
    after = top("u0")
    assert after != before
    assert not set(clicked) & set(after)  # what the user just took is not offered again
    assert top("u2") == bystander
