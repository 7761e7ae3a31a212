"""Today's CreateSolutionVersion trainingMode UPDATE through a stock boto3 client: a FULL version,
then new items (PutItems metadata, an INCREMENTAL import of their first interactions), then an
UPDATE version that warm-starts from the FULL one (chalicelib/algorithms/warm_start.py) and whose
campaign recommends the new items by exploration, which the FULL version's campaign cannot.
Training, import and campaign workflows run for real, in process."""
import csv
import io
import json

import pytest

from tests.api.test_recipes_today import TODAY, campaign, train_today
from tests.api.test_recommendations import (BUCKET, ITEMS_SCHEMA, N_ITEMS, ROLE, ids, import_file,
                                            items_csv, movie_group)
from tests.workflows.test_training_workflow import training_report

N_NEW = 4


@pytest.fixture(autouse=True)
def fresh_cache():
    from chalicelib.runtime import serving
    serving.reset_cache()
    yield
    serving.reset_cache()


def new_interactions():
    """Each new item taken by two even users (fewer than five interactions: cold, explorable)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["USER_ID", "ITEM_ID", "TIMESTAMP"])
    for k in range(N_NEW):
        for u in (2 * k + 2, 2 * k + 10):
            writer.writerow([f"u{u}", f"new{k}", 1_600_000_000 + 60 * k + u])
    return out.getvalue().encode()


def test_update_warm_starts_and_its_campaign_explores_the_new_items(stock_personalize, s3, runtime,
                                                                    stock_events):
    client = stock_personalize
    group = movie_group(client, s3, name="incremental")
    schema = client.create_schema(name="incremental-items", schema=json.dumps(ITEMS_SCHEMA))["schemaArn"]
    items = client.create_dataset(name="incremental-items", datasetGroupArn=group, datasetType="Items",
                                  schemaArn=schema)["datasetArn"]
    import_file(client, s3, group, "Items", items_csv(), "incremental-items")
    solution, full = train_today(client, group, "aws-user-personalization", "incremental")
    full_report = training_report({"solutionVersionArn": full})
    assert full_report["trainingMode"] == "FULL" and "warmStart" not in full_report

    # new items: their metadata by PutItems, their first interactions by an incremental import
    stock_events.put_items(datasetArn=items, items=[
        {"itemId": f"new{k}", "properties": json.dumps({"genre": "Horror" if k % 2 else "Comedy|Drama"})}
        for k in range(N_NEW)])
    interactions = [d for d in client.list_datasets(datasetGroupArn=group)["datasets"]
                    if d["datasetType"] == "INTERACTIONS"][0]["datasetArn"]
    s3.put_object(Bucket=BUCKET, Key="input/incremental-new.csv", Body=new_interactions())
    job = client.create_dataset_import_job(
        jobName="incremental-new", datasetArn=interactions, roleArn=ROLE, importMode="INCREMENTAL",
        dataSource={"dataLocation": f"s3://{BUCKET}/input/incremental-new.csv"})["datasetImportJobArn"]
    assert client.describe_dataset_import_job(datasetImportJobArn=job)["datasetImportJob"]["status"] == "ACTIVE"

    update = client.create_solution_version(solutionArn=solution, trainingMode="UPDATE")["solutionVersionArn"]
    described = client.describe_solution_version(solutionVersionArn=update)["solutionVersion"]
    assert described["status"] == "ACTIVE", described.get("failureReason")
    assert described["trainingMode"] == "UPDATE" and described["recipeArn"] == TODAY + "aws-user-personalization"
    assert "normalized_discounted_cumulative_gain_at_10" in \
        client.get_solution_metrics(solutionVersionArn=update)["metrics"]

    report = training_report({"solutionVersionArn": update})
    assert report["trainingMode"] == "UPDATE"
    warm = report["warmStart"]
    assert warm["previousRecipe"] == "aws-user-personalization" and warm["epochs"] == 1
    assert warm["carriedItems"] == N_ITEMS and warm["newItems"] == N_NEW
    assert warm["placedByMetadata"] == N_NEW           # PutItems gave each one its genre
    assert "hpo" not in report and "automl" not in report

    explore = {"itemExplorationConfig": {"explorationWeight": "1", "explorationItemAgeCutOff": "30"}}
    new = {f"new{k}" for k in range(N_NEW)}
    before = ids(runtime.get_recommendations(campaignArn=campaign(client, full, "before", explore),
                                             userId="u0", numResults=25))
    after = ids(runtime.get_recommendations(campaignArn=campaign(client, update, "after", explore),
                                            userId="u0", numResults=25))
    assert not new & set(before)       # the FULL version has never heard of them
    assert new & set(after), after
