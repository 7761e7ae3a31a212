"""End to end with the clients people have today, on the deployed stack.

- The newest boto3 the package registry serves, in a venv of its own, with no AWS_DATA_PATH,
  runs today's getting-started flow unchanged (tests/e2e/clients/todays_getting_started.py):
  CreateSolution trains nothing, CreateSolutionVersion trains, GetSolutionMetrics, a campaign,
  recommendations, an event tracker, PutEvents, and recommendations that change with the events;
  for aws-user-personalization, aws-similar-items, aws-personalized-ranking-v2 and aws-trending-now.
- The AWS CLI (v1, the newest release, in the same venv) runs the seed's "Getting Started (AWS
  CLI)" chapter as printed, with the shipped models on AWS_DATA_PATH: the placeholders the chapter
  prints (us-west-2, acct-id, bucketname, roleArn) become this stack's values, nothing else changes,
  `create-dataset` has no `--name`.
"""
import json
import os
import subprocess
import sys
import time

import pytest

from tests.api.test_recommendations import N_ITEMS, sample_csv
from tests.e2e import flows
from tests.e2e.test_getting_started import movielens_format

pytestmark = pytest.mark.e2e

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CLIENTS_VENV = os.path.join(ROOT, "build", "clients-venv")


@pytest.fixture(scope="session")
def clients_python():
    """A venv with the newest boto3 and awscli the registry serves (upgraded every session)."""
    python = os.path.join(CLIENTS_VENV, "bin", "python")
    if not os.path.exists(python):
        subprocess.run([sys.executable, "-m", "venv", CLIENTS_VENV], check=True)
    subprocess.run([python, "-m", "pip", "install", "-q", "--upgrade", "boto3", "awscli"],
                   check=True, capture_output=True)
    return python


def client_env(stack, models):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "PYTHON", "VIRTUAL_ENV"))}
    env.update(stack.env)
    if not models:
        env.pop("AWS_DATA_PATH", None)
    env["AWS_CONFIG_FILE"] = env["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    return env


@pytest.mark.parametrize("recipe", ["aws-user-personalization", "aws-similar-items",
                                    "aws-personalized-ranking-v2", "aws-trending-now"])
def test_todays_stock_boto3_runs_the_getting_started_flow_unchanged(stack, clients_python, tmp_path,
                                                                     recipe):
    ratings = tmp_path / "ratings.csv"
    ratings.write_bytes(sample_csv())
    # u0 has the even taste (items i0-i19); the clicks are on an item of the odd taste
    item_a, item_b, user = "i0", f"i{N_ITEMS // 2 + 3}", "u0"
    done = subprocess.run(
        [clients_python, os.path.join(HERE, "clients", "todays_getting_started.py"), recipe,
         str(ratings), stack.outputs["DataBucketName"], item_a, item_b, user],
        env=client_env(stack, models=False), capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["import"] == "ACTIVE"
    assert (out["solution"], out["versions_before"]) == ("ACTIVE", 0)   # today: nothing trained yet
    assert out["version"] == "ACTIVE" and out["campaign"] == "ACTIVE"
    assert {"coverage", "precision_at_10", "normalized_discounted_cumulative_gain_at_10"} \
        <= set(out["metrics"])
    assert out["before"], out
    if out["recipeType"] == "RELATED_ITEMS":
        assert item_a not in out["before"]
    else:
        assert out["after"] != out["before"], out


def _cli_chapter(stack, tmp_path):
    """The chapter's commands in order, placeholders replaced by this stack's values."""
    bucket = stack.outputs["DataBucketName"]
    account = "000000000000"
    arn = f"arn:aws:personalize:us-east-1:{account}"
    role = f"arn:aws:iam::{account}:role/PersonalizeRole"
    return [
        "aws personalize create-dataset-group --name MovieRatingDatasetGroup",
        f"aws personalize describe-dataset-group --dataset-group-arn {arn}:dataset-group/MovieRatingDatasetGroup",
        "aws personalize list-dataset-groups",
        "aws personalize create-schema --name MovieRatingSchema --schema file://MovieRatingSchema.json",
        f"aws personalize create-dataset --dataset-group-arn {arn}:dataset-group/MovieRatingDatasetGroup"
        f" --dataset-type Interactions --schema-arn {arn}:schema/MovieRatingSchema",
        f"aws personalize create-dataset-import-job --job-name MovieRatingImportJob --dataset-arn "
        f"{arn}:dataset/MovieRatingDatasetGroup/INTERACTIONS --data-source "
        f"dataLocation=s3://{bucket}/ratings.csv --role-arn {role}",
        f"aws personalize describe-dataset-import-job --dataset-import-job-arn "
        f"{arn}:dataset-import-job/MovieRatingImportJob",
        f"aws personalize create-solution --name MovieSolution --perform-auto-ml --dataset-group-arn "
        f"{arn}:dataset-group/MovieRatingDatasetGroup --min-provisioned-tps 10",
        f"aws personalize describe-solution --solution-arn {arn}:solution/MovieSolution",
        f"aws personalize get-metrics --solution-arn {arn}:solution/MovieSolution",
        f"aws personalize create-campaign --name MovieRecommendationCampaign --solution-arn "
        f"{arn}:solution/MovieSolution --update-mode AUTO",
        f"aws personalize describe-campaign --campaign-arn {arn}:campaign/MovieRecommendationCampaign",
        f"aws personalize-runtime get-recommendations --campaign-arn "
        f"{arn}:campaign/MovieRecommendationCampaign --user-id 123",
    ]


def _wait_for(run, command, done, timeout=900):
    deadline = time.monotonic() + timeout
    while True:
        answer = run(command)
        if done(answer):
            return answer
        assert time.monotonic() < deadline, answer
        time.sleep(3)


def test_the_aws_cli_runs_the_seeds_getting_started_chapter_as_printed(stack, clients_python, tmp_path):
    aws = os.path.join(os.path.dirname(clients_python), "aws")
    env = client_env(stack, models=True)
    (tmp_path / "MovieRatingSchema.json").write_text(json.dumps(flows.INTERACTIONS_SCHEMA))
    # "Create the Training Data": ratings.csv with the rating column removed, header renamed
    from chalicelib.datasets.movielens import getting_started_csv
    source = tmp_path / "ml-ratings.csv"
    source.write_bytes(movielens_format(n_users=124, per_user=12))
    flows.upload(stack, "ratings.csv", getting_started_csv(str(source)))

    def run(command):
        done = subprocess.run([aws] + command.split()[1:], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"{command}\n{done.stderr}"
        return json.loads(done.stdout) if done.stdout.strip() else {}

    answers = {}
    for command in _cli_chapter(stack, tmp_path):
        operation = command.split()[2]
        if operation == "describe-dataset-import-job":
            answers[operation] = _wait_for(run, command, lambda a: (a["datasetImportJob"].get(
                "latestDatasetImportJobRun") or {}).get("status") in ("ACTIVE", "CREATE FAILED"))
        elif operation == "describe-solution":
            answers[operation] = _wait_for(run, command, lambda a: (a["solution"].get(
                "latestSolutionVersion") or {}).get("status") in ("ACTIVE", "CREATE FAILED"))
        elif operation == "describe-campaign":
            answers[operation] = _wait_for(run, command, lambda a: a["campaign"]["status"] in (
                "ACTIVE", "CREATE FAILED"))
        else:
            answers[operation] = run(command)
    assert answers["create-dataset"]["datasetArn"].endswith("dataset/MovieRatingDatasetGroup/INTERACTIONS")
    assert answers["describe-dataset-import-job"]["datasetImportJob"]["latestDatasetImportJobRun"][
        "status"] == "ACTIVE"
    assert answers["describe-solution"]["solution"]["latestSolutionVersion"]["status"] == "ACTIVE"
    (model, metrics), = answers["get-metrics"]["metrics"].items()   # the seed: keyed by model ARN
    assert ":model/" in model and {"coverage", "mean_reciprocal_rank"} <= set(metrics)
    assert answers["describe-campaign"]["campaign"]["status"] == "ACTIVE"
    assert len(answers["get-recommendations"]["itemList"]) == 25
