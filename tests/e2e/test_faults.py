"""Fault injection on the deployed stack (issue 16, item 6): kill it anywhere, restart, and
nothing is stuck, lost or broken.

The module starts its OWN durable emulator (scripts/emulator.py, state in a temporary folder,
a free 127.0.0.1 port), deploys with the code of `make up` (scripts.stack.deploy_to_emulator)
and stops it by PID at the end, also after a failure. Each test interrupts one job at a named
kill point: a SIGKILL of the emulator (its whole process group, as a crash takes the Lambda
workers with it), a SIGKILL of one of its Lambda worker processes, or a graceful stop (`make
down`). Then it restarts the emulator on the same state folder and does what `make up` does
after a deploy (the maintenance workflow: reconciler, garbage collector) and asserts:

- nothing stays in *_PENDING / *_IN_PROGRESS / *_STOPPING (polled up to a minute);
- every record's references resolve: a dataset's data version and an ACTIVE solution version's
  model are in the internal bucket, a campaign's solution version exists;
- the data and the campaign made before the fault still serve (GetRecommendations);
- the interrupted kind of job, retried, succeeds.

Only boto3 calls (the product's API, the emulator's S3 / DynamoDB for the references) and
process signals: the tests survive changes to the workflows' steps.
"""
import os
import signal
import time
from dataclasses import dataclass, field

import boto3
import botocore.session
import pytest

from scripts import access, emulator, package
from scripts import stack as stack_cli
from tests.e2e import flows
from tests.e2e.conftest import _models_dir

pytestmark = pytest.mark.e2e

REGION = "us-east-1"
STACK = "personalize-faults"
IN_FLIGHT_SUFFIXES = ("PENDING", "IN_PROGRESS", "STOPPING")
SETTLE_SECONDS = 60


def _interactions(users=120, start=1_700_000_000):
    """About 1,260 rows (training needs 1,000): user u likes items i0 .. i(6 + u % 8), so
    popularity falls with the item number."""
    lines = ["USER_ID,ITEM_ID,TIMESTAMP"]
    for u in range(users):
        lines += [f"u{u},i{i},{start + u * 100 + i}" for i in range(7 + u % 8)]
    return ("\n".join(lines) + "\n").encode()


@dataclass
class FaultStack:
    home: str
    port: int
    record: dict
    keys: tuple
    emu: emulator.Emulator
    models: str
    base: dict = field(default_factory=dict)

    # ---- clients
    def client(self, service):
        if service.startswith("personalize"):
            endpoint, keys = self.record["personalize_endpoint"], self.keys
        else:
            endpoint, keys = self.emu.endpoint, ("test", "test")
        session = botocore.session.Session()
        session.set_config_variable("data_path", self.models)   # the shipped models, as the README
        return boto3.session.Session(botocore_session=session).client(
            service, endpoint_url=endpoint, region_name=REGION,
            aws_access_key_id=keys[0], aws_secret_access_key=keys[1])

    @property
    def outputs(self):
        return self.record["outputs"]

    # ---- faults
    def sigkill(self):
        """A crash: no shutdown, no save; the Lambda workers go with the emulator."""
        os.killpg(self.emu.pid, signal.SIGKILL)
        try:
            os.waitpid(self.emu.pid, 0)
        except ChildProcessError:
            pass

    def graceful_stop(self):
        """`make down`."""
        assert emulator.stop(self.home) == self.emu.pid

    def workers(self, function_output):
        """PIDs of the emulator's Lambda worker processes of one of the stack's functions."""
        name = self.outputs[function_output].rsplit(":", 1)[1]
        found = []
        for pid in _descendants(self.emu.pid):
            try:
                with open(f"/proc/{pid}/environ", "rb") as f:
                    env = f.read().split(b"\0")
            except OSError:
                continue
            if f"AWS_LAMBDA_FUNCTION_NAME={name}".encode() in env:
                found.append(pid)
        return found

    def kill_busy_worker(self, function_output, timeout=60.0):
        """SIGKILL a worker of the function while it runs (state R in /proc): an invocation is
        in flight. Returns how many invocations the emulator saw fail on a dead worker, from its
        log, so the test can check that the kill did interrupt one."""
        deadline = time.monotonic() + timeout
        while True:
            for pid in self.workers(function_output):
                try:
                    with open(f"/proc/{pid}/stat") as f:
                        running = f.read().rsplit(")", 1)[1].split()[0] == "R"
                except OSError:
                    continue
                if running:
                    os.kill(pid, signal.SIGKILL)
                    return
            assert time.monotonic() < deadline, f"no busy worker of {function_output}"
            time.sleep(0.001)

    def interrupted_invocations(self):
        """Task failures of the stack's workflows that a dead Lambda worker caused, from Step
        Functions' execution histories (the emulator answers "Worker process died" or "exited")."""
        sfn, found = self.client("stepfunctions"), 0
        for machine in sfn.list_state_machines()["stateMachines"]:
            if not machine["name"].startswith(STACK):
                continue
            for execution in sfn.list_executions(stateMachineArn=machine["stateMachineArn"])[
                    "executions"]:
                history = sfn.get_execution_history(executionArn=execution["executionArn"],
                                                    maxResults=1000)["events"]
                found += sum(1 for e in history if "Failed" in e["type"] and (
                    "Worker process died" in str(e) or "exited immediately" in str(e)))
        return found

    # ---- recovery, as `make up`
    def restart(self):
        """Start the emulator on the same state folder and port, then what `make up` runs after
        its deploy: the deploy is reused (inputs unchanged), the root keys kept, and the
        maintenance workflow (reconciler, collector) started once."""
        if emulator.running(self.home) is None:
            try:
                os.remove(os.path.join(self.home, emulator.PID_FILE))
            except OSError:
                pass
            self.emu = emulator.start(self.home, port=self.port, region=REGION)
        record, redeployed = stack_cli.deploy_to_emulator(
            self.emu, stack_name=STACK, region=REGION, record_path=self.record["path"],
            build_dir=self.record["build_dir"], root=self.record["source"],
            progress=lambda msg: None)
        assert not redeployed, "the restarted emulator lost the deployed stack"
        self.keys = access.ensure_root(record["outputs"], self.emu.endpoint, REGION, self.keys)
        assert stack_cli.start_maintenance(self.emu.endpoint, REGION, STACK,
                                           progress=lambda msg: None)


def _descendants(root):
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


@pytest.fixture(scope="module")
def fs(tmp_path_factory):
    base = tmp_path_factory.mktemp("faults")
    home = str(base / "ministack")
    source = package.snapshot(str(base / "source"))
    emu = emulator.start(home, region=REGION)  # persistent and durable, as `make up`
    try:
        paths = {"path": str(base / "stack.json"), "build_dir": str(base / "build"),
                 "source": source}
        record, _ = stack_cli.deploy_to_emulator(
            emu, stack_name=STACK, region=REGION, record_path=paths["path"],
            build_dir=paths["build_dir"], root=source, progress=lambda msg: None)
        record.update(paths)
        keys = access.ensure_root(record["outputs"], emu.endpoint, REGION)
        stack = FaultStack(home=home, port=emu.port, record=record, keys=keys, emu=emu,
                          models=_models_dir(tmp_path_factory))
        _build_base(stack)
        yield stack
    finally:
        emulator.stop(home)


def _build_base(fs):
    """One dataset group shared by the kill points: imported data, a popularity-count solution
    with two ACTIVE versions, a campaign on the first, an event tracker."""
    p = fs.client("personalize")
    group, dataset = flows.import_interactions(fs, p, _interactions(), prefix="faults")
    solution, v1 = flows.train(p, group, "aws-popularity-count", prefix="faults")
    assert v1["status"] == "ACTIVE", v1.get("failureReason")
    v2 = _new_version(p, solution)
    campaign = flows.campaign(p, v1["solutionVersionArn"], prefix="faults")
    tracker = p.create_event_tracker(name=flows.name("faults-tracker"), datasetGroupArn=group)
    fs.base.update(group=group, dataset=dataset, solution=solution, campaign=campaign,
                   versions=[v1["solutionVersionArn"], v2], tracking_id=tracker["trackingId"])


def _new_version(p, solution, timeout=300):
    arn = p.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    record = flows.wait(lambda: p.describe_solution_version(solutionVersionArn=arn)
                        ["solutionVersion"], "retried training", timeout, interval=1.0)
    assert record["status"] == "ACTIVE", record
    return arn


@pytest.fixture(autouse=True)
def up(fs):
    """Each kill point starts on a running stack, also after an earlier test failed."""
    if emulator.running(fs.home) is None:
        fs.restart()
    yield


def _wait_for(describe, statuses, what, timeout=120):
    """Poll until describe()'s status is one of `statuses` (or final); the status seen."""
    deadline = time.monotonic() + timeout
    while True:
        status = describe()
        if status in statuses or status == "ACTIVE" or "FAILED" in status:
            return status
        assert time.monotonic() < deadline, f"{what} still {status}"
        time.sleep(0.05)


# ---------------------------------------------------------------- invariants

def _items(fs):
    ddb = fs.client("dynamodb")
    table = fs.outputs["ResourcesTableName"]
    out, kwargs = [], {"TableName": table, "ConsistentRead": True}
    while True:
        page = ddb.scan(**kwargs)
        out += [_plain(i) for i in page["Items"]]
        if "LastEvaluatedKey" not in page:
            return out
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _plain(item):
    from boto3.dynamodb.types import TypeDeserializer
    de = TypeDeserializer()
    return {k: de.deserialize(v) for k, v in item.items()}


def _in_flight(items):
    stuck = []
    for item in items:
        for status in (item.get("status"), (item.get("latestCampaignUpdate") or {}).get("status")):
            if isinstance(status, str) and status.endswith(IN_FLIGHT_SUFFIXES):
                stuck.append((item["arn"], status))
    return stuck


def _settled(fs):
    """Every record once none is in flight (the reconciler ran), polled up to a minute."""
    started = time.monotonic()
    deadline = started + SETTLE_SECONDS
    while True:
        items = _items(fs)
        stuck = _in_flight(items)
        if not stuck:
            print(f"\n  settled {time.monotonic() - started:.1f}s after the restart's maintenance start")
            return items
        assert time.monotonic() < deadline, f"still in flight after the reconciler: {stuck}"
        time.sleep(1.0)


def _internal_keys(fs):
    s3 = fs.client("s3")
    return {o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=fs.outputs["InternalBucketName"]) for o in page.get("Contents", [])}


def _references_resolve(fs, items):
    keys = _internal_keys(fs)
    by_arn = {i["arn"]: i for i in items}
    p = fs.client("personalize")
    for item in items:
        arn = item["arn"]
        if item.get("dataVersion"):    # a dataset: its current data version's parts
            prefix = f"data-versions/{arn.split(':', 5)[5]}/{item['dataVersion']}/"
            assert any(k.startswith(prefix) for k in keys), f"{arn}: no data at {prefix}"
        if ":solution/" in arn and item.get("status") == "ACTIVE" and arn.count("/") >= 2:
            model = item.get("modelKey")
            assert model, f"ACTIVE version {arn} has no model"
            key = model.split("/", 3)[3] if model.startswith("s3://") else model
            assert key in keys, f"{arn}: model {key} is missing"
        if ":campaign/" in arn:
            for version in {item.get("solutionVersionArn"),
                            (item.get("latestCampaignUpdate") or {}).get("solutionVersionArn")}:
                if version:
                    assert version in by_arn, f"{arn}: solution version {version} is gone"
                    p.describe_solution_version(solutionVersionArn=version)


def _still_serves(fs):
    answer = fs.client("personalize-runtime").get_recommendations(
        campaignArn=fs.base["campaign"], userId="u1", numResults=5)
    assert answer["itemList"], answer
    return flows.item_ids(answer)


def _recovered(fs):
    """Restart as `make up`, then the invariants that hold after any fault."""
    fs.restart()
    items = _settled(fs)
    _references_resolve(fs, items)
    _still_serves(fs)
    return {i["arn"]: i for i in items}


def _reason(records, arn):
    record = records[arn]
    print(f"\n  {arn.rsplit(':', 1)[1]}: {record.get('status')}: {record.get('failureReason')}")
    if record.get("status") == "ACTIVE":
        return None   # it finished before the fault struck
    assert "FAILED" in record["status"] or "STOPPED" in record["status"], record
    assert record.get("failureReason"), record
    return record["failureReason"]


# ---------------------------------------------------------------- retried jobs

def _reimport(fs, body=None, mode="FULL"):
    """A new import of the base dataset; (job ARN, its run ARN) once the run has started."""
    p = fs.client("personalize")
    location = flows.upload(fs, f"faults/{flows.name('data')}.csv", body or _interactions())
    job = p.create_dataset_import_job(
        jobName=flows.name("faults-import"), datasetArn=fs.base["dataset"], roleArn=flows.ROLE,
        dataSource={"dataLocation": location}, importMode=mode)["datasetImportJobArn"]
    return job


def _latest_run(p, job):
    return p.describe_dataset_import_job(datasetImportJobArn=job)["datasetImportJob"].get(
        "latestDatasetImportJobRun") or {}


def _import_succeeds(fs):
    p = fs.client("personalize")
    job = _reimport(fs)
    run = flows.wait(lambda: _latest_run(p, job), "retried import")
    assert run["status"] == "ACTIVE", run


def _training_succeeds(fs):
    return _new_version(fs.client("personalize"), fs.base["solution"])


def _start_training(fs):
    p = fs.client("personalize")
    arn = p.create_solution_version(solutionArn=fs.base["solution"])["solutionVersionArn"]
    _wait_for(lambda: p.describe_solution_version(solutionVersionArn=arn)["solutionVersion"]
              ["status"], {"CREATE IN_PROGRESS"}, "training")
    return arn


def _start_import(fs, body=None):
    p = fs.client("personalize")
    job = _reimport(fs, body)
    _wait_for(lambda: _latest_run(p, job).get("status", "CREATE PENDING"),
              {"CREATE IN_PROGRESS"}, "import run")
    return job, _latest_run(p, job)["datasetImportJobRunArn"]


def _start_campaign(fs, wait=True):
    """CreateCampaign; with `wait`, returns once the deployment is CREATE IN_PROGRESS, else at
    once (its steps are quick: a kill point must strike before they end)."""
    p = fs.client("personalize")
    arn = p.create_campaign(name=flows.name("faults-campaign"),
                            solutionVersionArn=fs.base["versions"][1],
                            minProvisionedTPS=1)["campaignArn"]
    if not wait:
        return arn
    _wait_for(lambda: p.describe_campaign(campaignArn=arn)["campaign"]["status"],
              {"CREATE IN_PROGRESS"}, "campaign deployment")
    return arn


def _campaign_succeeds(fs, arn):
    """A campaign the fault left failed is deleted and deployed anew; either way one reaches
    ACTIVE and answers."""
    p = fs.client("personalize")
    status = p.describe_campaign(campaignArn=arn)["campaign"]["status"]
    if status != "ACTIVE":
        p.delete_campaign(campaignArn=arn)
        arn = flows.campaign(p, fs.base["versions"][1], prefix="faults-retry")
    answer = fs.client("personalize-runtime").get_recommendations(campaignArn=arn, userId="u2")
    assert answer["itemList"]


# ---------------------------------------------------------------- kill points

def test_sigkill_right_after_create_dataset_group(fs):
    p = fs.client("personalize")
    group = p.create_dataset_group(name=flows.name("faults-crash-group"))["datasetGroupArn"]
    fs.sigkill()
    records = _recovered(fs)
    assert records[group]["status"] in ("ACTIVE", "CREATE FAILED"), records[group]
    described = fs.client("personalize").describe_dataset_group(datasetGroupArn=group)
    assert described["datasetGroup"]["name"].startswith("faults-crash-group")
    _import_succeeds(fs)


def test_sigkill_during_import_run(fs):
    _job, run = _start_import(fs)
    fs.sigkill()
    records = _recovered(fs)
    reason = _reason(records, run)
    assert reason is None or "interrupted" in reason, reason
    _import_succeeds(fs)


def test_sigkill_after_reimport_succeeded(fs):
    """The issue's case: the re-import's new data version is current, the previous one may be
    gone only once nothing references it; after the crash every training still finds its data
    and the campaign still answers."""
    p = fs.client("personalize")
    before = _still_serves(fs)
    job = _reimport(fs)
    run = flows.wait(lambda: _latest_run(p, job), "re-import")
    assert run["status"] == "ACTIVE", run
    fs.sigkill()
    _recovered(fs)
    assert _still_serves(fs) == before
    _training_succeeds(fs)


def test_sigkill_during_training(fs):
    version = _start_training(fs)
    fs.sigkill()
    records = _recovered(fs)
    reason = _reason(records, version)
    assert reason is None or "interrupted" in reason, reason
    _training_succeeds(fs)


def test_sigkill_during_campaign_deployment(fs):
    arn = _start_campaign(fs, wait=False)
    fs.sigkill()
    records = _recovered(fs)
    _reason(records, arn)
    _campaign_succeeds(fs, arn)


def test_sigkill_during_campaign_update(fs):
    p = fs.client("personalize")
    campaign = fs.base["campaign"]
    current = p.describe_campaign(campaignArn=campaign)["campaign"]["solutionVersionArn"]
    other = next(v for v in fs.base["versions"] if v != current)
    p.update_campaign(campaignArn=campaign, solutionVersionArn=other)
    _wait_for(lambda: (p.describe_campaign(campaignArn=campaign)["campaign"].get(
        "latestCampaignUpdate") or {}).get("status", "CREATE PENDING"),
        {"CREATE IN_PROGRESS"}, "campaign update")
    fs.sigkill()
    records = _recovered(fs)
    record = records[campaign]
    assert record["status"] == "ACTIVE", record      # the campaign itself kept serving
    update = record.get("latestCampaignUpdate") or {}
    print(f"\n  update: {update.get('status')}: {update.get('failureReason')}")
    assert update.get("status") in ("ACTIVE", "CREATE FAILED"), update
    if update.get("status") == "CREATE FAILED":
        assert update.get("failureReason"), update
    # Retried: the update goes through.
    p.update_campaign(campaignArn=campaign, solutionVersionArn=other)
    described = flows.wait(lambda: p.describe_campaign(campaignArn=campaign)["campaign"].get(
        "latestCampaignUpdate") or {}, "retried campaign update")
    assert described["status"] == "ACTIVE", described
    assert p.describe_campaign(campaignArn=campaign)["campaign"]["solutionVersionArn"] == other


def test_sigkill_right_after_put_events(fs):
    """Acknowledged events survive: a training after the crash sees them (a new item that the
    events make the most popular tops popularity-count's answer)."""
    events = fs.client("personalize-events")
    for n in range(20):   # 200 clicks: more than i0's 120 interactions
        events.put_events(trackingId=fs.base["tracking_id"], userId=f"fan{n}",
                          sessionId=f"s{n}", eventList=[
                              {"eventType": "click", "itemId": "hot", "sentAt": 1_800_000_000 + k}
                              for k in range(10)])
    fs.sigkill()
    _recovered(fs)
    version = _training_succeeds(fs)
    p = fs.client("personalize")
    campaign = flows.campaign(p, version, prefix="faults-events")
    answer = fs.client("personalize-runtime").get_recommendations(campaignArn=campaign,
                                                                   userId="u3", numResults=3)
    assert flows.item_ids(answer)[0] == "hot", answer


def _batch_input(fs, users=3000):
    body = "".join(f'{{"userId": "u{u % 120}"}}\n' for u in range(users)).encode()
    return flows.upload(fs, f"faults/batch-{flows.name('in')}.json", body)


def _start_batch(fs):
    p = fs.client("personalize")
    bucket = fs.outputs["DataBucketName"]
    arn = p.create_batch_inference_job(
        jobName=flows.name("faults-batch"), solutionVersionArn=fs.base["versions"][0],
        roleArn=flows.ROLE, numResults=5,
        jobInput={"s3DataSource": {"path": _batch_input(fs)}},
        jobOutput={"s3DataDestination": {"path": f"s3://{bucket}/faults/out-{flows.name('b')}/"}},
    )["batchInferenceJobArn"]
    return arn, lambda: p.describe_batch_inference_job(batchInferenceJobArn=arn)[
        "batchInferenceJob"]


def test_sigkill_during_batch_inference_job(fs):
    arn, describe = _start_batch(fs)
    _wait_for(lambda: describe()["status"], {"CREATE IN_PROGRESS"}, "batch inference job")
    fs.sigkill()
    records = _recovered(fs)
    _reason(records, arn)
    _, describe = _start_batch(fs)
    assert flows.wait(describe, "retried batch inference job")["status"] == "ACTIVE"


def _start_export(fs):
    p = fs.client("personalize")
    bucket = fs.outputs["DataBucketName"]
    arn = p.create_dataset_export_job(
        jobName=flows.name("faults-export"), datasetArn=fs.base["dataset"], roleArn=flows.ROLE,
        jobOutput={"s3DataDestination": {"path": f"s3://{bucket}/faults/export-{flows.name('e')}/"}},
    )["datasetExportJobArn"]
    return arn, lambda: p.describe_dataset_export_job(datasetExportJobArn=arn)[
        "datasetExportJob"]


def test_sigkill_during_dataset_export_job(fs):
    arn, describe = _start_export(fs)
    _wait_for(lambda: describe()["status"], {"CREATE IN_PROGRESS"}, "dataset export job")
    fs.sigkill()
    records = _recovered(fs)
    _reason(records, arn)
    _, describe = _start_export(fs)
    assert flows.wait(describe, "retried dataset export job")["status"] == "ACTIVE"


def _worker_killed_during(fs, function_output, start):
    """Start a job, SIGKILL the function's worker while it runs a step of it, and check that an
    invocation was interrupted (else the kill tested nothing)."""
    for _attempt in range(3):   # a short step can end between the look and the kill
        before = fs.interrupted_invocations()
        started = start()
        fs.kill_busy_worker(function_output)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if fs.interrupted_invocations() > before:
                return started
            time.sleep(0.2)
        _settled(fs)   # that job ends on its own; try again on a new one
    raise AssertionError("the killed worker was never running an invocation")


def test_sigkill_tasks_worker_during_import(fs):
    # Enough rows (about 126,000) that parsing keeps the worker busy for a while.
    _job, run = _worker_killed_during(fs, "TasksFunctionArn",
                                      lambda: _start_import(fs, _interactions(users=12_000)))
    records = _recovered(fs)
    _reason(records, run)
    _import_succeeds(fs)


def test_sigkill_trainer_worker_during_training(fs):
    version = _worker_killed_during(fs, "TrainerFunctionArn", lambda: _start_training(fs))
    records = _recovered(fs)
    _reason(records, version)
    _training_succeeds(fs)


def test_sigkill_tasks_worker_during_campaign_deployment(fs):
    arn = _worker_killed_during(fs, "TasksFunctionArn", lambda: _start_campaign(fs, wait=False))
    records = _recovered(fs)
    _reason(records, arn)
    _campaign_succeeds(fs, arn)


def test_graceful_stop_during_training(fs):
    """Issue 16, "Done when": `make down` during a training, then `make up`: the version
    reaches a final state within a minute and a new version can be created."""
    version = _start_training(fs)
    fs.graceful_stop()
    records = _recovered(fs)
    reason = _reason(records, version)
    assert reason is None or "interrupted" in reason, reason
    _training_succeeds(fs)
