"""Step Functions in the test process: what `chalicelib.workflows.starter` calls
(`start_execution`) answered by running the deployed ASL file with `tests.support.asl`.

`install(monkeypatch)` points every workflow's `<NAME>_STATE_MACHINE_ARN` at a
machine named `personalize-<name>` (one per file in
`infrastructure/statemachines/`, as template.yaml declares them) and hands the
starter this client instead of boto3's. `${...}` DefinitionSubstitutions are
resolved here (`${TasksFunctionArn}` is the `tasks` function); a Task state's
Lambda function is the Chalice app's function of that name (app.py), so the
tasks run exactly the handlers that are deployed.

Executions run synchronously unless `configure(background=True)`; their status,
output, error and cause are kept (`executions()`, `get_execution(arn)`). Waits and
retry intervals do not sleep unless `configure(sleep=...)` says how.
`configure(error_style="ministack")` names every task failure `Runtime.HandlerError`,
as the embedded emulator does (default: the exception's class name, as AWS does).
"""
import json
import logging
import os
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from chalicelib import config

from tests.support.asl.runner import DefinitionError, StateMachineRunner

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
STATE_MACHINES = ROOT / "infrastructure" / "statemachines"
MACHINE_PREFIX = "personalize-"
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


@dataclass
class Execution:
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
_lock = threading.Lock()
_DEFAULTS = {"background": False, "sleep": None, "error_style": "aws", "dir": None}
_options = dict(_DEFAULTS)


def configure(background=None, sleep=None, error_style=None, statemachines_dir=None):
    """Change how executions run; `None` keeps the current setting."""
    for key, value in (("background", background), ("sleep", sleep),
                       ("error_style", error_style), ("dir", statemachines_dir)):
        if value is not None:
            _options[key] = value


def reset():
    """Forget executions and option changes (test isolation)."""
    with _lock:
        _executions.clear()
    _options.update(_DEFAULTS)


def statemachines_dir():
    return Path(_options["dir"] or STATE_MACHINES)


def workflows():
    """Workflow names, one per ASL file ("import", "training", ...)."""
    return sorted(p.name[:-len(".asl.json")] for p in statemachines_dir().glob("*.asl.json"))


def state_machine_arn(workflow):
    return (f"arn:aws:states:{config.region()}:{config.account_id()}:stateMachine:"
            f"{MACHINE_PREFIX}{workflow}")


def install(monkeypatch):
    """Every workflow's state machine ARN in the environment, and this client in the starter."""
    from chalicelib.workflows import starter
    for workflow in workflows():
        monkeypatch.setenv(f"{workflow.upper().replace('-', '_')}_STATE_MACHINE_ARN",
                           state_machine_arn(workflow))
    monkeypatch.setattr(starter, "_stepfunctions", lambda: CLIENT)


def executions(workflow=None):
    """Executions in start order, optionally of one workflow."""
    with _lock:
        found = list(_executions.values())
    return [e for e in found if workflow is None or e.workflow == workflow]


def get_execution(execution_arn):
    with _lock:
        return _executions[execution_arn]


def wait_executions(timeout=30.0):
    """Wait for background executions; True if none is still running."""
    deadline = time.monotonic() + timeout
    for execution in executions():
        if not execution.done.wait(max(0.0, deadline - time.monotonic())):
            return False
    return True


def _function_arn(name):
    return f"arn:aws:lambda:{config.region()}:{config.account_id()}:function:{name}"


def substitutions():
    """Values for the DefinitionSubstitutions that template.yaml passes (the SageMaker
    ones matter only on the `sagemaker` training backend)."""
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


def _camel_to_dash(name):
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


def _substitute(text, source):
    known = substitutions()

    def value(match):
        key = match.group(1)
        if key in known:
            v = known[key]
        elif os.environ.get(key):
            v = os.environ[key]
        elif key.endswith("FunctionArn"):
            v = _function_arn(_camel_to_dash(key[:-len("FunctionArn")]))
        else:
            raise DefinitionError(f"{source}: no value for ${{{key}}}; set the environment "
                                  f"variable {key} or add it to substitutions()")
        return json.dumps(str(v))[1:-1]  # placed inside a JSON string

    return _PLACEHOLDER.sub(value, text)


def load_definition(workflow):
    """The ASL of `workflow` with its substitutions resolved."""
    path = statemachines_dir() / f"{workflow}.asl.json"
    if not path.is_file():
        raise DefinitionError(f"no state machine file {path}")
    return json.loads(_substitute(path.read_text(encoding="utf-8"), path.name))


def _functions():
    """The Lambda functions app.py declares, by name, called as Lambda calls them."""
    import app
    return {f.name: (lambda event, _f=f: _f.func(event, None)) for f in app.app.pure_lambda_functions}


def _sleeper():
    return _options["sleep"] or (lambda seconds: None)


class InProcessStepFunctions:
    """The part of boto3's `stepfunctions` client the application uses."""

    def start_execution(self, stateMachineArn, name, input):
        machine = stateMachineArn.rsplit(":", 1)[-1]
        if not machine.startswith(MACHINE_PREFIX):
            raise ValueError(f"not an in-process state machine: {stateMachineArn}")
        workflow = machine[len(MACHINE_PREFIX):]
        payload = json.loads(input)
        definition = load_definition(workflow)
        arn = stateMachineArn.replace(":stateMachine:", ":execution:") + ":" + name
        runner = StateMachineRunner(definition, functions=_functions(), sleep=_sleeper(),
                                    execution_name=name, execution_arn=arn,
                                    state_machine_arn=stateMachineArn,
                                    error_style=_options["error_style"])
        execution = Execution(arn, workflow, name, payload, history=runner.history)
        with _lock:
            _executions[arn] = execution

        def run():
            try:
                result = runner.run(payload)
                execution.status, execution.output = result.status, result.output
                execution.error, execution.cause = result.error, result.cause
                if result.status != "SUCCEEDED":
                    log.warning("execution %s %s: %s %s", arn, result.status, result.error, result.cause)
            finally:
                execution.stop_date = datetime.now(timezone.utc)
                execution.done.set()

        if _options["background"]:
            threading.Thread(target=run, daemon=True, name=f"workflow-{workflow}").start()
        else:
            run()
        return {"executionArn": arn, "startDate": execution.start_date}

    def describe_execution(self, executionArn):
        e = get_execution(executionArn)
        out = {"executionArn": e.execution_arn, "name": e.name, "status": e.status,
               "input": json.dumps(e.input), "startDate": e.start_date}
        if e.output is not None:
            out["output"] = json.dumps(e.output)
        if e.error:
            out.update(error=e.error, cause=e.cause)
        return out


CLIENT = InProcessStepFunctions()
