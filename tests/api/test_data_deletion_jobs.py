"""Data deletion jobs (today's CreateDataDeletionJob / DescribeDataDeletionJob /
ListDataDeletionJobs) through stock boto3 clients: every trace of the listed users leaves the
group's data (Interactions, Users, PutUsers records, recorded events) and, after the next
training, the models' answers. Training is played as in test_recommendations.py."""
import json

import pytest
from botocore.exceptions import ClientError
from tests.support import stepfunctions as sfn

from chalicelib.datasets.training_view import load_training_data
from tests.api.test_recommendations import (POPULARITY, campaign_for, ids, import_file,  # noqa: F401
                                            make_group, played_training, sample_csv, train)
from tests.conftest import make_client

ROLE = "arn:aws:iam::123456789012:role/PersonalizeS3"
BUCKET = "personalize-data"
USERS_SCHEMA = json.dumps({"type": "record", "name": "Users", "fields": [
    {"name": "USER_ID", "type": "string"},
    {"name": "PLAN", "type": "string", "categorical": True}], "version": "1.0"})


def hog_csv():
    """The shared sample plus one user, `hog`, who alone plays item `z1`, so often that it is
    the most popular item while hog's data is there."""
    rows = b"".join(f"hog,z1,{1_600_000_000 + k}\n".encode() for k in range(400))
    return sample_csv() + rows


@pytest.fixture
def group(personalize, stock_personalize, s3, played_training):
    arn = make_group(personalize, "shop")
    import_file(personalize, s3, arn, "Interactions", hog_csv(), "shop-interactions")
    schema = personalize.create_schema(name="shop-users", schema=USERS_SCHEMA)["schemaArn"]
    personalize.create_dataset(name="shop-users", datasetGroupArn=arn, datasetType="Users",
                               schemaArn=schema)
    import_file(personalize, s3, arn, "Users", b"USER_ID,PLAN\nhog,gold\nu0,free\nu1,free\n",
                "shop-users")
    return arn


def delete_users(p, s3, group, body, name="forget"):
    s3.put_object(Bucket=BUCKET, Key=f"{name}.csv", Body=body)
    arn = p.create_data_deletion_job(jobName=name, datasetGroupArn=group, roleArn=ROLE,
                                     dataSource={"dataLocation": f"s3://{BUCKET}/{name}.csv"}
                                     )["dataDeletionJobArn"]
    sfn.wait_executions()
    return p.describe_data_deletion_job(dataDeletionJobArn=arn)["dataDeletionJob"]


def popular(personalize, runtime, group, name):
    solution = personalize.create_solution(name=name, datasetGroupArn=group,
                                           recipeArn=POPULARITY)["solutionArn"]
    version = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    train(version, POPULARITY)
    campaign = campaign_for(personalize, version, f"{name}-campaign")
    return ids(runtime.get_recommendations(campaignArn=campaign, userId="stranger", numResults=5))


def test_deleted_user_leaves_the_data_and_after_retraining_the_answers(
        group, personalize, stock_personalize, s3, runtime):
    events = make_client("personalize-events", shipped_models=False)
    users_dataset = [d["datasetArn"] for d in personalize.list_datasets(datasetGroupArn=group)["datasets"]
                     if d["datasetType"] == "USERS"][0]
    events.put_users(datasetArn=users_dataset, users=[
        {"userId": "hog", "properties": json.dumps({"plan": "platinum"})}])
    tracking = personalize.create_event_tracker(name="shop-tracker",
                                                datasetGroupArn=group)["trackingId"]
    events.put_events(trackingId=tracking, userId="hog", sessionId="s1", eventList=[
        {"eventType": "click", "itemId": "z1", "sentAt": 1_700_000_000}])
    events.put_events(trackingId=tracking, sessionId="s1", eventList=[   # the session is hog's
        {"eventType": "click", "itemId": "z2", "sentAt": 1_700_000_001}])
    before = load_training_data(group)
    assert "hog" in before.user_ids.tolist() and "z2" in before.item_ids.tolist()
    assert popular(personalize, runtime, group, "before")[0] == "z1"

    job = delete_users(stock_personalize, s3, group, b"USER_ID\nhog\nnobody\n")
    assert (job["status"], job["numDeleted"]) == ("COMPLETED", 1), job.get("failureReason")
    assert job["datasetGroupArn"] == group and job["roleArn"] == ROLE
    assert job["dataSource"] == {"dataLocation": f"s3://{BUCKET}/forget.csv"}

    after = load_training_data(group)
    assert "hog" not in after.user_ids.tolist()
    assert not {"z1", "z2"} & set(after.item_ids.tolist())          # only hog's items
    assert len(after.interactions) == len(before.interactions) - 402
    assert after.users is not None and "platinum" not in after.users.fields["PLAN"].tolist()
    from chalicelib.runtime.recorded import user_events
    assert user_events(group, "hog") == []
    # the session that was hog's no longer gives its later anonymous events to hog
    events.put_events(trackingId=tracking, sessionId="s1", eventList=[
        {"eventType": "click", "itemId": "z3", "sentAt": 1_700_000_002}])
    assert "hog" not in load_training_data(group).user_ids.tolist()

    answer = popular(personalize, runtime, group, "after")            # the next training
    assert "z1" not in answer and len(answer) == 5


def test_a_list_without_user_id_fails_with_a_reason(group, stock_personalize, s3):
    job = delete_users(stock_personalize, s3, group, b"ITEM_ID\ni1\n", name="bad-list")
    assert job["status"] == "FAILED"
    assert "USER_ID" in job["failureReason"] and "bad-list.csv" in job["failureReason"]
    assert "hog" in load_training_data(group).user_ids.tolist()        # nothing deleted


def test_list_and_errors(group, stock_personalize, s3):
    p = stock_personalize
    delete_users(p, s3, group, b"USER_ID\nu0\n", name="first")
    delete_users(p, s3, group, b"USER_ID\nnobody\n", name="second")
    listed = p.list_data_deletion_jobs(datasetGroupArn=group)["dataDeletionJobs"]
    assert [(j["jobName"], j["status"]) for j in listed] == [("second", "COMPLETED"),
                                                             ("first", "COMPLETED")]
    assert p.describe_data_deletion_job(
        dataDeletionJobArn=listed[0]["dataDeletionJobArn"])["dataDeletionJob"]["numDeleted"] == 0
    with pytest.raises(ClientError) as e:
        delete_users(p, s3, group, b"USER_ID\nu1\n", name="first")
    assert e.value.response["Error"]["Code"] == "ResourceAlreadyExistsException"
    with pytest.raises(ClientError) as e:
        p.create_data_deletion_job(jobName="x", datasetGroupArn=group, roleArn=ROLE,
                                   dataSource={"dataLocation": "https://example.com/u.csv"})
    assert e.value.response["Error"]["Code"] == "InvalidInputException"
    with pytest.raises(ClientError) as e:
        p.create_data_deletion_job(jobName="y", datasetGroupArn=group.replace("shop", "none"),
                                   roleArn=ROLE, dataSource={"dataLocation": f"s3://{BUCKET}/u.csv"})
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"
