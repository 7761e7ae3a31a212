"""ARN forms (seed: "Amazon Personalize Resources and Operations", Getting Started
examples) and the lifecycle table (seed: CreateDatasetGroup "Status")."""
import pytest

from chalicelib.domain import arns, lifecycle


def test_forms(monkeypatch):
    monkeypatch.setenv("AWS_REGION", "us-west-2")
    monkeypatch.setenv("PERSONALIZE_ACCOUNT_ID", "123456789012")
    group = arns.dataset_group("MovieRatingDatasetGroup")
    assert group == "arn:aws:personalize:us-west-2:123456789012:dataset-group/MovieRatingDatasetGroup"
    assert arns.schema("MovieRatingSchema").endswith(":schema/MovieRatingSchema")
    assert arns.dataset(group, "Interactions") == \
        "arn:aws:personalize:us-west-2:123456789012:dataset/MovieRatingDatasetGroup/INTERACTIONS"
    job = arns.dataset_import_job("MovieRatingImportJob")
    assert job.endswith(":dataset-import-job/MovieRatingImportJob")
    run = arns.dataset_import_job_run(job)
    run_id = run.rsplit("/", 1)[1]
    assert run == f"{job}/{run_id}" and len(run_id) == 8 and int(run_id, 16) >= 0
    assert arns.event_tracker("MovieClickTracker").endswith(":event-tracker/MovieClickTracker")
    assert arns.feature_export_job("fx").endswith(":feature-export-job/fx")
    assert arns.name_of(group) == "MovieRatingDatasetGroup"
    assert arns.type_of(run) == "dataset-import-job"
    assert arns.is_local(group)
    assert not arns.is_local(group.replace("us-west-2", "eu-west-1"))


def test_parse():
    parsed = arns.parse("arn:aws:personalize:::recipe/aws-sims")
    assert (parsed.region, parsed.account, parsed.type, parsed.parts) == ("", "", "recipe", ("aws-sims",))
    assert str(parsed) == "arn:aws:personalize:::recipe/aws-sims"
    assert arns.parse("arn:aws:s3:::bucket") is None
    assert arns.parse("") is None and arns.parse(None) is None


def test_run_ids_differ():
    assert len({arns.new_id() for _ in range(50)}) == 50


def test_lifecycle_moves_forward_only():
    L = lifecycle
    assert L.allowed_previous(L.CREATE_IN_PROGRESS) == {L.CREATE_PENDING}
    assert L.allowed_previous(L.ACTIVE) == {L.CREATE_IN_PROGRESS, L.START_IN_PROGRESS}
    assert L.allowed_previous(L.CREATE_FAILED) == {L.CREATE_PENDING, L.CREATE_IN_PROGRESS}
    assert L.allowed_previous(L.DELETE_PENDING) == {L.ACTIVE, L.CREATE_FAILED, L.DELETE_FAILED,
                                                   L.CREATE_STOPPED, L.INACTIVE}
    # today's StopRecommender / StartRecommender
    assert L.allowed_previous(L.INACTIVE) == {L.STOP_IN_PROGRESS}
    assert not L.can_move(L.INACTIVE, L.ACTIVE)
    # today's StopSolutionVersionCreation: PENDING > STOPPED, IN_PROGRESS > STOPPING > STOPPED
    assert L.allowed_previous(L.CREATE_STOPPED) == {L.CREATE_PENDING, L.CREATE_STOPPING}
    assert L.allowed_previous(L.CREATE_STOPPING) == {L.CREATE_IN_PROGRESS}
    assert not L.can_move(L.CREATE_STOPPING, L.ACTIVE) and not L.can_move(L.ACTIVE, L.CREATE_STOPPING)
    assert not L.can_move(L.ACTIVE, L.CREATE_IN_PROGRESS)
    assert not L.can_move(L.CREATE_FAILED, L.ACTIVE)
    assert L.can_move(L.CREATE_PENDING, L.CREATE_IN_PROGRESS)
    with pytest.raises(ValueError):
        L.allowed_previous("CREATE_PENDING")  # the underscore spelling is not ours
