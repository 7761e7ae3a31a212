"""The AWS path of training.asl.json (backend `sagemaker`), run by the local ASL runner with a
stand-in for `arn:aws:states:::sagemaker:createTrainingJob.sync` that does what SageMaker does
with the image of training_container/: put the channel under /opt/ml, run the entry point, tar
/opt/ml/model to `<S3OutputPath>/<TrainingJobName>/output/model.tar.gz`, or fail with the
failure file's text as FailureReason. Also the trainer Lambda's S3 shim on its own."""
import json
import os
import re
import tempfile

import pytest

from chalicelib.storage import objects
from chalicelib.training import artifacts, contract, entry, lambda_trainer
from chalicelib.workflows import starter, training
from tests.support.asl.runner import StateMachineRunner, StatesError
from chalicelib.workflows.tasks import run_task
from tests.workflows.test_training_workflow import SIMS, make_group, sample_files  # noqa: F401
from tests.support import stepfunctions as sfn

SYNC = "arn:aws:states:::sagemaker:createTrainingJob.sync"


@pytest.fixture(autouse=True)
def local_runs():
    sfn.reset()
    yield
    sfn.reset()


class FakeSageMaker:
    """createTrainingJob.sync, in process."""

    def __init__(self, fail_first=0):
        self.requests, self.fail_first = [], fail_first

    def __call__(self, resource, params):
        assert resource == SYNC
        self.requests.append(params)
        if len(self.requests) <= self.fail_first:
            raise StatesError("SageMaker.AmazonSageMakerException", "ThrottlingException: Rate exceeded")
        job = params["TrainingJobName"]
        with tempfile.TemporaryDirectory() as root:
            layout = contract.Layout(root)
            layout.create(params["HyperParameters"])
            for c in params["InputDataConfig"]:
                lambda_trainer._download_prefix(c["DataSource"]["S3DataSource"]["S3Uri"],
                                                layout.channel_dir(c["ChannelName"]))
            if entry.run(root, log=lambda m: None) != 0:
                raise StatesError("States.TaskFailed", json.dumps(
                    {"TrainingJobName": job, "TrainingJobStatus": "Failed",
                     "FailureReason": f"AlgorithmError: {layout.read_failure()}"}))
            archive = artifacts.pack(layout.model_dir, os.path.join(root, "model.tar.gz"))
            uri = objects.put_file(artifacts.archive_key(params["OutputDataConfig"]["S3OutputPath"], job), archive)
        return {"TrainingJobName": job, "TrainingJobStatus": "Completed",
                "ModelArtifacts": {"S3ModelArtifacts": uri}, "HyperParameters": params["HyperParameters"]}


@pytest.fixture
def pending_version(personalize, s3, sample_files, monkeypatch):
    """A version CreateSolution stored, whose training we run ourselves on the sagemaker backend."""
    group = make_group(personalize, s3, sample_files, name="aws")
    recorded = []
    monkeypatch.setattr(starter, "start_workflow",
                        lambda name, payload, execution_name=None: recorded.append(payload) or "arn")
    monkeypatch.setenv("TRAINING_BACKEND", "sagemaker")

    def create(**config):
        personalize.create_solution(name="on-aws", datasetGroupArn=group, recipeArn=SIMS,
                                    minProvisionedTPS=1, performHPO=False, **config)
        return recorded[-1]
    return create


def run_sagemaker_path(payload, sagemaker):
    definition = sfn.load_definition("training")
    runner = StateMachineRunner(definition, functions={"tasks": run_task, "trainer": training.trainer},
                                invoke_resource=sagemaker, sleep=lambda s: None)
    return runner.run(payload)


def test_a_sagemaker_training_job_trains_the_version(personalize, pending_version):
    payload = pending_version(solutionConfig={"algorithmHyperParameters": {"alpha": "0.25"}})
    sagemaker = FakeSageMaker(fail_first=1)   # a throttled first call is retried with a new name
    result = run_sagemaker_path(payload, sagemaker)
    assert result.status == "SUCCEEDED", result.cause
    assert "TrainOnLambda" not in result.states_entered()
    first, second = sagemaker.requests
    assert re.fullmatch(r"on-aws-[0-9a-f]{8}-0", first["TrainingJobName"])
    assert second["TrainingJobName"] == first["TrainingJobName"][:-1] + "1"
    assert re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", second["TrainingJobName"])
    hp = second["HyperParameters"]
    assert all(isinstance(v, str) for v in hp.values()) and hp["alpha"] == "0.25"
    assert json.loads(hp["_recipes"]) == [{"recipe": "aws-sims", "recipeArn": SIMS}]
    assert second["AlgorithmSpecification"]["TrainingInputMode"] == "File"
    assert second["RoleArn"].startswith("arn:aws:iam::") and second["ResourceConfig"]["InstanceCount"] == 1
    version = personalize.describe_solution_version(
        solutionVersionArn=payload["solutionVersionArn"])["solutionVersion"]
    assert version["status"] == "ACTIVE"
    assert personalize.get_metrics(solutionArn=version["solutionArn"])["metrics"]


def test_a_failed_job_gives_its_failure_reason(personalize, pending_version):
    payload = pending_version(solutionConfig={"featureTransformationParameters": {"test_ratio": "0"}})
    result = run_sagemaker_path(payload, FakeSageMaker())
    assert result.status == "FAILED" and result.error == "SolutionVersionFailed"
    version = personalize.describe_solution_version(
        solutionVersionArn=payload["solutionVersionArn"])["solutionVersion"]
    assert version["status"] == "CREATE FAILED"
    assert version["failureReason"].startswith("AlgorithmError: test_ratio: 0.0 leaves no evaluation users")


def test_the_trainer_lambda_answers_like_a_training_job(s3, tmp_path):
    from tests.unit.test_trainer_contract import tiny_data
    from chalicelib.training import channel
    paths = channel.write_channel(tiny_data(), str(tmp_path))
    for p in paths:
        objects.put_file(objects.internal_uri(f"models/s/v/input/train/{os.path.basename(p)}"), p)
    event = {"trainingJobName": "s-v", "channels": {"train": objects.internal_uri("models/s/v/input/train/")},
             "outputUri": objects.internal_uri("models/s/v/output/"),
             "hyperparameters": {"_recipes": json.dumps([{"recipe": "aws-popularity-count", "recipeArn": "p"}])}}
    answer = lambda_trainer.handle(event)
    assert answer["modelArtifacts"] == objects.internal_uri("models/s/v/output/s-v/output/model.tar.gz")
    outcome = artifacts.training_outcome(answer["modelArtifacts"])
    assert outcome["report"]["recipe"] == "aws-popularity-count" and outcome["metrics"]["coverage"] > 0
    model = artifacts.load_model(answer["modelArtifacts"], str(tmp_path / "served"))
    assert model.recipe == "aws-popularity-count"
    # a training that cannot succeed is an answer, not an error
    event["hyperparameters"]["alpha"] = "1"
    assert lambda_trainer.handle(event) == {"failureReason": "alpha: not a hyperparameter of "
                                            "aws-popularity-count (allowed: none)"}
    # an empty channel is an error of the shim (retried by the state machine)
    event["channels"] = {"train": objects.internal_uri("models/none/")}
    with pytest.raises(RuntimeError, match="nothing at"):
        lambda_trainer.handle(event)
