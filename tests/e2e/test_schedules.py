"""End to end: scheduled imports and scheduled retraining on the embedded stack.

Seed, CreateDatasetImportJob "Scheduling" / DatasetImportJobConfig: `importJobSchedule`
(CloudWatch cron syntax) starts a new run at that frequency, an empty string stops it; seed,
CreateSolution "Scheduling" / SolutionConfig: `retrainSchedule` trains a new version at that
frequency; seed, "Limits": the minimum increment is 30 minutes.

Our port (`chalicelib.storage.schedules`) turns a schedule into an EventBridge rule whose one
target is the workflow's state machine, with the EventsRole and a fixed Input
({"datasetImportJobArn"} / {"solutionArn"}); the workflows' first steps (`import.begin`,
`training.schedule`) turn such an input into a new run / version.

How the firing is proven. ministack's EventBridge scheduler (services/eventbridge.py,
`_tick_scheduled_rules`) sweeps every 10 s against the wall clock and has no hook to trigger
or fast-forward a rule; a `rate(n)` rule first fires n after its CreationTime, a `cron(...)`
rule at its next occurrence. A schedule our API accepts (>= 30 minutes) therefore cannot fire
within a test. So the test creates ONE test-only rule with `rate(1 minute)` whose targets are
copied verbatim (Arn, RoleArn, Input) from the real rules via ListTargetsByRule, and waits for
it (~60-70 s, once for both workflows). What this proves: the target, role and input our code
puts on its rules start, when EventBridge fires them, a new import run and a new solution
version through the deployed state machines. That the emulator would fire the real rules at
their own cron occurrences is shown separately and more weakly: their expressions, read back
from the emulator, parse in ministack's scheduler and give the expected next occurrences (its
private functions, called in this process; no clock is advanced). ministack ignores the
target's RoleArn (it starts the execution without assuming the role), so the test checks
that the rules name the stack's EventsRole but not that the role's policy suffices.
"""
import csv
import json
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from botocore.exceptions import ClientError

from chalicelib.storage.schedules import rule_name

pytestmark = pytest.mark.e2e

POPULARITY = "arn:aws:personalize:::recipe/aws-popularity-count"
IMPORT_SCHEDULE = "cron(0 12 * * ? *)"       # the seed's example: every day at 12:00 UTC
RETRAIN_SCHEDULE = "cron(30 3 ? * MON *)"    # Mondays 03:30 UTC
TERMINAL = ("ACTIVE", "CREATE FAILED")


def _name(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _wait(probe, seconds, what):
    """Poll `probe()` each second until it returns a truthy value; fail after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {seconds} s waiting for {what}")
        time.sleep(1)


def _code(err):
    return err.value.response["Error"]["Code"]


def _runs(personalize, job):
    return personalize.list_dataset_import_job_runs(
        datasetImportJobArn=job)["datasetImportJobRuns"]


def _versions(personalize, solution):
    return personalize.list_solution_versions(solutionArn=solution)["solutionVersions"]


def _all_done(items):
    return items if items and all(i["status"] in TERMINAL for i in items) else None


def _state_machine(stack, workflow):
    sfn = stack.client("stepfunctions")
    arns = [m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]
            if m["name"].endswith(f"-{workflow}")]
    assert len(arns) == 1, arns
    return arns[0]


def _only_target(events, name):
    targets = events.list_targets_by_rule(Rule=name)["Targets"]
    assert len(targets) == 1, targets
    return targets[0]


@pytest.fixture(scope="module")
def world(stack, tmp_path_factory):
    """A dataset group with an imported INTERACTIONS dataset (1,200 events of 60 users: above
    the seed's training minimum), its import job carrying IMPORT_SCHEDULE (first run ACTIVE),
    and a popularity solution (performHPO False) carrying RETRAIN_SCHEDULE, first version
    ACTIVE."""
    for workflow in ("import", "training"):
        if workflow in stack.skipped_workflows:
            pytest.skip(f"the {workflow} state machine is not deployed")
    personalize = stack.client("personalize")
    bucket = stack.outputs["DataBucketName"]
    path = tmp_path_factory.mktemp("sched") / "interactions.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["USER_ID", "ITEM_ID", "TIMESTAMP"])
        for i in range(1200):
            w.writerow([f"u{i % 60}", f"i{(i * 7 + i // 60) % 45}", 1_560_000_000 + 60 * i])
    key = f"sched-e2e/{uuid.uuid4().hex[:8]}/interactions.csv"
    stack.client("s3").upload_file(str(path), bucket, key)
    group = personalize.create_dataset_group(name=_name("sched-group"))["datasetGroupArn"]
    schema = personalize.create_schema(name=_name("sched-schema"), schema=json.dumps({
        "type": "record", "name": "Interactions",
        "namespace": "com.amazonaws.personalize.schema", "version": "1.0",
        "fields": [{"name": "USER_ID", "type": "string"}, {"name": "ITEM_ID", "type": "string"},
                   {"name": "TIMESTAMP", "type": "long"}]}))["schemaArn"]
    dataset = personalize.create_dataset(name=_name("sched-ds"), datasetGroupArn=group,
                                         datasetType="Interactions",
                                         schemaArn=schema)["datasetArn"]
    location = f"s3://{bucket}/{key}"
    job = personalize.create_dataset_import_job(
        jobName=_name("sched-job"), datasetArn=dataset, dataSource={"dataLocation": location},
        roleArn="arn:aws:iam::000000000000:role/PersonalizeE2E",
        datasetImportJobConfig={"importJobSchedule": IMPORT_SCHEDULE})["datasetImportJobArn"]
    runs = _wait(lambda: _all_done(_runs(personalize, job)), 240, "the first import run")
    assert [r["status"] for r in runs] == ["ACTIVE"], runs
    solution = personalize.create_solution(
        name=_name("sched-solution"), datasetGroupArn=group, recipeArn=POPULARITY,
        performHPO=False, solutionConfig={"retrainSchedule": RETRAIN_SCHEDULE})["solutionArn"]
    return {"personalize": personalize, "events": stack.client("events"), "group": group,
            "dataset": dataset, "job": job, "location": location, "solution": solution}


def test_import_job_schedule_creates_a_rule_starting_the_import_workflow(stack, world):
    """importJobSchedule -> rule with that expression, target the import state machine, the
    EventsRole, and the input that makes `import.begin` store a new run."""
    job = world["personalize"].describe_dataset_import_job(
        datasetImportJobArn=world["job"])["datasetImportJob"]
    assert job["datasetImportJobConfig"] == {"importJobSchedule": IMPORT_SCHEDULE}
    events, name = world["events"], rule_name("import", world["job"])
    rule = events.describe_rule(Name=name)
    assert rule["ScheduleExpression"] == IMPORT_SCHEDULE and rule["State"] == "ENABLED"
    target = _only_target(events, name)
    assert target["Arn"] == _state_machine(stack, "import")
    assert json.loads(target["Input"]) == {"datasetImportJobArn": world["job"]}
    role = stack.client("cloudformation").describe_stack_resource(
        StackName="personalize-e2e", LogicalResourceId="EventsRole")
    role_name = role["StackResourceDetail"]["PhysicalResourceId"].rsplit("/", 1)[-1]
    assert target["RoleArn"].endswith(f":role/{role_name}"), (target, role_name)


def test_retrain_schedule_creates_a_rule_starting_the_training_workflow(stack, world):
    """retrainSchedule -> retrainingMode MANUAL and a rule targeting the training state
    machine with {"solutionArn"} (the input `training.schedule` turns into a version)."""
    solution = world["personalize"].describe_solution(
        solutionArn=world["solution"])["solution"]
    config = solution["solutionConfig"]
    assert config["retrainSchedule"] == RETRAIN_SCHEDULE
    assert config["retrainingMode"] == "MANUAL"
    events, name = world["events"], rule_name("retrain", world["solution"])
    assert events.describe_rule(Name=name)["ScheduleExpression"] == RETRAIN_SCHEDULE
    target = _only_target(events, name)
    assert target["Arn"] == _state_machine(stack, "training")
    assert json.loads(target["Input"]) == {"solutionArn": world["solution"]}
    assert target["RoleArn"] == _only_target(
        events, rule_name("import", world["job"]))["RoleArn"]


def test_the_emulator_scheduler_evaluates_the_real_rules_expressions(world):
    """The real rules' own expressions (read back with DescribeRule) are ones ministack's
    scheduler understands: its sweep (`_tick_scheduled_rules`, same module and version as the
    emulator process) silently skips a rule whose expression `_parse_cron_fields` cannot parse,
    so this checks parsing and the next occurrence it computes against one computed here.
    Private functions of the pinned ministack (1.5.33): a rename fails here, on purpose."""
    from ministack.services import eventbridge as scheduler
    events = world["events"]
    now = datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc)   # a Friday
    noon = now.replace(hour=12)
    monday = (now + timedelta(days=(7 - now.weekday()) % 7 or 7)).replace(hour=3, minute=30)
    for name, expected in ((rule_name("import", world["job"]), noon),
                           (rule_name("retrain", world["solution"]), monday)):
        expression = events.describe_rule(Name=name)["ScheduleExpression"]
        fields = scheduler._parse_cron_fields(expression)
        assert fields is not None, expression
        assert scheduler._cron_next_fire(fields, now) == expected, expression
        assert scheduler._cron_next_fire(fields, expected) == (
            expected + timedelta(days=1 if expected is noon else 7)), expression


@pytest.mark.parametrize("schedule", [
    "cron(*/10 * * * ? *)",     # every 10 minutes: below the 30-minute minimum
    "cron(0,20 * * * ? *)",     # 20-minute gap within each hour
    "rate(29 minutes)",
    "rate(1 minute)",
    "cron(0 12 * * * *)",       # day-of-month and day-of-week both given
    "cron(0 25 * * ? *)",       # hour out of range
    "every day at noon",
])
def test_invalid_or_too_frequent_schedules_are_refused(world, schedule):
    """Refused with InvalidInputException and no rule left behind, for imports and solutions."""
    personalize, events = world["personalize"], world["events"]
    with pytest.raises(ClientError) as err:
        personalize.create_dataset_import_job(
            jobName=_name("sched-bad"), datasetArn=world["dataset"],
            dataSource={"dataLocation": world["location"]},
            roleArn="arn:aws:iam::000000000000:role/PersonalizeE2E",
            datasetImportJobConfig={"importJobSchedule": schedule})
    assert _code(err) == "InvalidInputException"
    assert "importJobSchedule" in err.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as err:
        personalize.create_solution(
            name=_name("sched-bad"), datasetGroupArn=world["group"], recipeArn=POPULARITY,
            performHPO=False, solutionConfig={"retrainSchedule": schedule})
    assert _code(err) == "InvalidInputException"
    assert "retrainSchedule" in err.value.response["Error"]["Message"]
    # UpdateDatasetImportJob checks the schedule before it starts anything
    with pytest.raises(ClientError) as err:
        personalize.update_dataset_import_job(
            datasetImportJobArn=world["job"],
            datasetImportJobConfig={"importJobSchedule": schedule})
    assert _code(err) == "InvalidInputException"
    assert events.describe_rule(
        Name=rule_name("import", world["job"]))["ScheduleExpression"] == IMPORT_SCHEDULE


def test_the_rules_targets_fire_a_new_import_run_and_a_new_solution_version(stack, world):
    """One `rate(1 minute)` test rule carrying the real rules' targets, copied verbatim (see
    the module docstring), fires on the emulator: the import workflow stores and completes a
    second run of the job, the training workflow creates and trains a second version of the
    solution, and the executions EventBridge started carry exactly the real rules' inputs."""
    personalize, events = world["personalize"], world["events"]
    sfn = stack.client("stepfunctions")
    job, solution = world["job"], world["solution"]
    first = _wait(lambda: _all_done(_versions(personalize, solution)), 240,
                  "the solution's first version")
    assert [v["status"] for v in first] == ["ACTIVE"], first
    copied = []
    for kind, arn in (("import", job), ("retrain", solution)):
        target = _only_target(events, rule_name(kind, arn))
        copied.append({"Id": kind, "Arn": target["Arn"], "Input": target["Input"],
                       "RoleArn": target["RoleArn"]})
    tick = _name("sched-e2e-tick")
    events.put_rule(Name=tick, ScheduleExpression="rate(1 minute)", State="ENABLED")
    try:
        assert events.put_targets(Rule=tick, Targets=copied)["FailedEntryCount"] == 0
        _wait(lambda: len(_runs(personalize, job)) >= 2
              and len(_versions(personalize, solution)) >= 2, 150,
              "the test rule to fire (ministack: 60 s after creation, 10 s sweeps)")
    finally:
        events.remove_targets(Rule=tick, Ids=["import", "retrain"])
        events.delete_rule(Name=tick)
    runs = _wait(lambda: _all_done(_runs(personalize, job)), 180, "the scheduled import run")
    assert len(runs) >= 2 and {r["status"] for r in runs} == {"ACTIVE"}, runs
    versions = _wait(lambda: _all_done(_versions(personalize, solution)), 240,
                     "the scheduled solution version")
    assert len(versions) >= 2 and {v["status"] for v in versions} == {"ACTIVE"}, versions
    for target in copied:
        started = [sfn.describe_execution(executionArn=e["executionArn"])["input"]
                   for e in sfn.list_executions(stateMachineArn=target["Arn"])["executions"]]
        assert any(json.loads(i) == json.loads(target["Input"]) for i in started), started


def test_empty_schedules_remove_the_rules(world):
    """Seed: an empty importJobSchedule / retrainSchedule stops the schedule; the rule goes."""
    personalize, events = world["personalize"], world["events"]
    _wait(lambda: _all_done(_runs(personalize, world["job"])), 180, "idle import job")
    personalize.update_dataset_import_job(datasetImportJobArn=world["job"],
                                          datasetImportJobConfig={"importJobSchedule": ""})
    with pytest.raises(ClientError) as err:
        events.describe_rule(Name=rule_name("import", world["job"]))
    assert _code(err) == "ResourceNotFoundException"
    job = personalize.describe_dataset_import_job(
        datasetImportJobArn=world["job"])["datasetImportJob"]
    assert not (job.get("datasetImportJobConfig") or {}).get("importJobSchedule")

    _wait(lambda: _all_done(_versions(personalize, world["solution"])), 240, "idle solution")
    personalize.update_solution(solutionArn=world["solution"],
                                solutionConfig={"retrainSchedule": ""})
    with pytest.raises(ClientError) as err:
        events.describe_rule(Name=rule_name("retrain", world["solution"]))
    assert _code(err) == "ResourceNotFoundException"
    config = personalize.describe_solution(
        solutionArn=world["solution"])["solution"]["solutionConfig"]
    assert "retrainSchedule" not in config and config["retrainingMode"] == "MANUAL"
