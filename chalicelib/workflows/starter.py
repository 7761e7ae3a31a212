"""Starting workflow executions (imports, training, campaign deployment,
feature export): `start_workflow(name, payload)` returns the execution ARN.

`WORKFLOW_MODE=stepfunctions` (deployments): Step Functions `StartExecution`
on `config.state_machine_arn(name)`; the client is built once, lazily, and
takes its endpoint from the environment.

`WORKFLOW_MODE=local` (fast tests, no AWS): the same ASL file,
`infrastructure/statemachines/<name>.asl.json`, runs in process under
`local_asl`, its `${...}` DefinitionSubstitutions resolved locally
(`${TasksFunctionArn}` names the in-process `tasks` function, which is
`chalicelib.workflows.tasks.run_task`). Executions run synchronously unless
`LOCAL_WORKFLOW_BACKGROUND=1` (or `configure_local(background=True)`); their
status, output, error and cause are kept in memory (`local_executions()`).
Waits and retry intervals do not really sleep unless
`LOCAL_WORKFLOW_SLEEP_SCALE` is set (a factor on the requested seconds).
`LOCAL_LAMBDA_ERROR_STYLE=ministack` names every task failure
`Runtime.HandlerError`, as the embedded emulator does (default `aws`: the
exception's class name).
"""
import json
import logging
import os
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from chalicelib import config

from .local_asl import DefinitionError, StateMachineRunner

log = logging.getLogger(__name__)

_REPO_ROOT = Path(__file__).resolve().parents[2]
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
MAX_EXECUTION_NAME = 80

_client = None
_client_lock = threading.Lock()


def _stepfunctions():
    """One client per container; endpoint and credentials from the environment."""
    global _client
    with _client_lock:
        if _client is None:
            import boto3
            _client = boto3.client("stepfunctions", region_name=config.region())
        return _client


def make_execution_name(prefix=None):
    """A valid name, unique per state machine: `<prefix>-<32 hex>`.

    Step Functions allows 1-80 characters without whitespace, brackets,
    wildcards, control characters or `"#%\\^|~`$&,;:/`; we keep to
    `[A-Za-z0-9_-]`, which CloudWatch logging also accepts. The random suffix
    makes every start unique (an import job runs many times), while a retried
    HTTP call of the same start reuses the name and so stays idempotent.
    """
    suffix = uuid.uuid4().hex
    clean = _NAME_UNSAFE.sub("-", prefix or "").strip("-")
    clean = clean[:MAX_EXECUTION_NAME - len(suffix) - 1].rstrip("-")
    return f"{clean}-{suffix}" if clean else suffix


def start_workflow(name: str, payload: dict, execution_name: str | None = None) -> str:
    """Start workflow `name` ("import", "training", "campaign", "feature-export")
    with `payload` as its input; returns the execution ARN. `execution_name`
    is a readable prefix of the (always unique) execution name."""
    text = json.dumps(payload)  # Step Functions takes JSON only; fail the same way in both modes
    exec_name = make_execution_name(execution_name)
    mode = config.workflow_mode()
    if mode == "stepfunctions":
        arn = config.state_machine_arn(name)
        if not arn:
            raise RuntimeError(f"no state machine ARN for workflow {name!r}: set "
                               f"{name.upper().replace('-', '_')}_STATE_MACHINE_ARN")
        response = _stepfunctions().start_execution(stateMachineArn=arn, name=exec_name, input=text)
        return response["executionArn"]
    if mode == "local":
        return _start_local(name, json.loads(text), exec_name)
    raise RuntimeError(f"unknown WORKFLOW_MODE {mode!r} (expected 'stepfunctions' or 'local')")


# --- local mode -------------------------------------------------------------

@dataclass
class LocalExecution:
    """What DescribeExecution would say about an in-process execution."""
    execution_arn: str
    workflow: str
    name: str
    input: dict
    status: str = "RUNNING"  # RUNNING | SUCCEEDED | FAILED | TIMED_OUT
    output: object = None
    error: str = None
    cause: str = None
    start_date: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    stop_date: datetime = None
    history: list = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event, repr=False)


_executions = {}
_executions_lock = threading.Lock()
_options = {"background": None, "sleep": None}
_local_functions = {}


def configure_local(background=None, sleep=None):
    """Override the environment for local executions: `background` (bool) and
    `sleep` (callable taking seconds). `None` keeps the current setting."""
    if background is not None:
        _options["background"] = background
    if sleep is not None:
        _options["sleep"] = sleep


def reset_local():
    """Forget local executions and option overrides (test isolation)."""
    with _executions_lock:
        _executions.clear()
    _options.update(background=None, sleep=None)


def register_local_function(name, handler):
    """Make `handler(event)` the in-process Lambda function `name` (a Task
    state's `${<Name>FunctionArn}` resolves to function `<name>`)."""
    _local_functions[name] = handler


def local_executions(workflow=None):
    """Local executions in start order, optionally of one workflow."""
    with _executions_lock:
        found = list(_executions.values())
    return [e for e in found if workflow is None or e.workflow == workflow]


def get_local_execution(execution_arn):
    with _executions_lock:
        return _executions[execution_arn]


def wait_local_executions(timeout=30.0):
    """Wait for background executions; True if none is still running."""
    deadline = time.monotonic() + timeout
    for execution in local_executions():
        if not execution.done.wait(max(0.0, deadline - time.monotonic())):
            return False
    return True


def statemachines_dir():
    """Folder of the ASL files: env `STATE_MACHINES_DIR`, else the repository's."""
    return Path(os.environ.get("STATE_MACHINES_DIR") or _REPO_ROOT / "infrastructure" / "statemachines")


def _function_arn(name):
    return f"arn:aws:lambda:{config.region()}:{config.account_id()}:function:{name}"


def local_substitutions():
    """Values for the DefinitionSubstitutions that template.yaml passes (the
    SageMaker ones only matter on the `sagemaker` training backend, which
    local runs do not take)."""
    return {
        "TasksFunctionArn": _function_arn("tasks"),
        "TasksFunctionName": "tasks",
        "TrainingBackend": config.training_backend(),
        "TrainingImage": os.environ.get("TRAINING_IMAGE") or "none",
        "TrainingInstanceType": os.environ.get("TRAINING_INSTANCE_TYPE") or "ml.m5.xlarge",
        "SageMakerRoleArn": f"arn:aws:iam::{config.account_id()}:role/local-sagemaker",
        "DataBucket": config.data_bucket(),
        "ResourcesTable": config.resources_table(),
        "EventsTable": config.events_table(),
        "Region": config.region(),
        "AccountId": config.account_id(),
    }


def _substitute(text, source):
    known = local_substitutions()

    def value(match):
        key = match.group(1)
        if key in known:
            v = known[key]
        elif os.environ.get(key):
            v = os.environ[key]
        elif key.endswith("FunctionArn"):
            v = _function_arn(_camel_to_dash(key[:-len("FunctionArn")]))
        else:
            raise DefinitionError(f"{source}: no local value for ${{{key}}}; set the environment "
                                  f"variable {key} or add it to starter.local_substitutions()")
        return json.dumps(str(v))[1:-1]  # placed inside a JSON string

    return _PLACEHOLDER.sub(value, text)


def _camel_to_dash(name):
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


def load_definition(name):
    """The ASL of workflow `name` with its substitutions resolved for local runs."""
    path = statemachines_dir() / f"{name}.asl.json"
    if not path.is_file():
        raise DefinitionError(f"no state machine file {path}")
    return json.loads(_substitute(path.read_text(encoding="utf-8"), path.name))


def _functions():
    from .tasks import load_all, run_task
    load_all()  # workflow modules register their in-process functions (e.g. the trainer) on import
    return {"tasks": run_task, **_local_functions}


def _sleeper():
    if _options["sleep"] is not None:
        return _options["sleep"]
    scale = float(os.environ.get("LOCAL_WORKFLOW_SLEEP_SCALE") or 0)
    return (lambda seconds: time.sleep(seconds * scale)) if scale > 0 else (lambda seconds: None)


def _background():
    if _options["background"] is not None:
        return _options["background"]
    return (os.environ.get("LOCAL_WORKFLOW_BACKGROUND") or "").lower() in ("1", "true", "yes")


def _start_local(name, payload, exec_name):
    definition = load_definition(name)
    sm_arn = config.state_machine_arn(name) or (
        f"arn:aws:states:{config.region()}:{config.account_id()}:stateMachine:personalize-{name}")
    arn = sm_arn.replace(":stateMachine:", ":execution:") + ":" + exec_name
    runner = StateMachineRunner(definition, functions=_functions(), sleep=_sleeper(),
                                execution_name=exec_name, execution_arn=arn, state_machine_arn=sm_arn,
                                error_style=os.environ.get("LOCAL_LAMBDA_ERROR_STYLE") or "aws")
    execution = LocalExecution(arn, name, exec_name, payload, history=runner.history)
    with _executions_lock:
        _executions[arn] = execution

    def run():
        try:
            result = runner.run(payload)
            execution.status, execution.output = result.status, result.output
            execution.error, execution.cause = result.error, result.cause
            if result.status != "SUCCEEDED":
                log.warning("local execution %s %s: %s %s", arn, result.status, result.error, result.cause)
        finally:
            execution.stop_date = datetime.now(timezone.utc)
            execution.done.set()

    if _background():
        threading.Thread(target=run, daemon=True, name=f"workflow-{name}").start()
    else:
        run()
    return arn
