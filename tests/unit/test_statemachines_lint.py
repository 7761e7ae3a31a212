"""Every state machine in infrastructure/statemachines/ passes statelint (with
its DefinitionSubstitutions replaced by valid ARNs), is JSONPath only, is
accepted by the local runner, and names registered tasks. A fixture machine
is always linted too, so the linter is shown to run even before any file
exists, and a broken one shows that it can fail."""
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from chalicelib.workflows import tasks
from tests.support.asl.runner import check_definition, function_name
from tests.support import stepfunctions as sfn

REPO = Path(__file__).resolve().parents[2]
FILES = sorted((REPO / "infrastructure" / "statemachines").glob("*.asl.json"))
PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")

FIXTURE = {
    "Comment": "Shape of our workflows: tasks via ${TasksFunctionArn}, retry, catch, choice, map.",
    "StartAt": "Work",
    "TimeoutSeconds": 600,
    "States": {
        "Work": {"Type": "Task", "Resource": "${TasksFunctionArn}",
                 "Parameters": {"task": "fixture.work", "input.$": "$", "backend": "${TrainingBackend}"},
                 "ResultPath": "$.work", "TimeoutSeconds": 60,
                 "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 2, "MaxAttempts": 3,
                            "BackoffRate": 2.0}],
                 "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Failed"}],
                 "Next": "Route"},
        "Route": {"Type": "Choice", "Default": "Each",
                  "Choices": [{"Variable": "$.work.failureReason", "IsPresent": True, "Next": "Failed"}]},
        "Each": {"Type": "Map", "ItemsPath": "$.work.items", "ResultPath": "$.items", "Next": "Done",
                 "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "One",
                                   "States": {"One": {"Type": "Pass", "End": True}}}},
        "Done": {"Type": "Succeed"},
        "Failed": {"Type": "Fail", "Error": "WorkFailed", "CausePath": "$.error.Cause"},
    },
}


def lint_value(name):
    """A syntactically valid stand-in for a DefinitionSubstitution."""
    if name.endswith("FunctionArn"):
        return f"arn:aws:lambda:us-east-1:123456789012:function:{name}"
    if name.endswith("RoleArn"):
        return f"arn:aws:iam::123456789012:role/{name}"
    if name.endswith("StateMachineArn"):
        return f"arn:aws:states:us-east-1:123456789012:stateMachine:{name}"
    if name.endswith("Arn"):
        return f"arn:aws:sns:us-east-1:123456789012:{name}"
    return f"lint-{name}"


def substituted(text):
    return PLACEHOLDER.sub(lambda m: lint_value(m.group(1)), text)


def statelint(path):
    exe = Path(sys.executable).parent / "statelint"
    exe = str(exe) if exe.exists() else shutil.which("statelint")
    assert exe, "statelint is not installed (requirements-dev.txt)"
    proc = subprocess.run([exe, str(path)], capture_output=True, text=True, timeout=60)
    return proc.returncode, proc.stdout + proc.stderr


def states(machine):
    """Every state of a definition, nested branches and item processors included."""
    for state in machine.get("States", {}).values():
        yield state
        for branch in state.get("Branches", []):
            yield from states(branch)
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            yield from states(processor)


@pytest.fixture(params=FILES + ["fixture"], ids=lambda p: p if isinstance(p, str) else p.name)
def definition_file(request, tmp_path):
    """(name, path of the substituted copy, original text)."""
    if request.param == "fixture":
        text = json.dumps(FIXTURE, indent=2)
    else:
        text = request.param.read_text(encoding="utf-8")
    path = tmp_path / "machine.asl.json"
    path.write_text(substituted(text), encoding="utf-8")
    return request.param, path, text


def test_statelint_passes(definition_file):
    _, path, _ = definition_file
    code, output = statelint(path)
    assert code == 0, output


def test_jsonpath_only(definition_file):
    _, path, _ = definition_file
    machine = json.loads(path.read_text())
    assert machine.get("QueryLanguage", "JSONPath") == "JSONPath"
    for state in states(machine):
        assert state.get("QueryLanguage", "JSONPath") == "JSONPath", state
        # fields that exist only in JSONata states
        assert not {"Arguments", "Output"} & set(state), state


def test_in_process_runner_accepts_it(definition_file):
    source, _, text = definition_file
    if source == "fixture":
        check_definition(json.loads(substituted(text)))
        return
    check_definition(sfn.load_definition(source.name[:-len(".asl.json")]))


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_task_states_name_registered_tasks(path):
    tasks.load_all()
    registered = set(tasks.registered_tasks())
    tasks_arn = lint_value("TasksFunctionArn")
    for state in states(json.loads(substituted(path.read_text(encoding="utf-8")))):
        if state["Type"] != "Task":
            continue
        params = state.get("Parameters") or {}
        if state["Resource"].endswith(":states:::lambda:invoke"):
            if function_name(params.get("FunctionName", "")) != function_name(tasks_arn):
                continue
            params = params.get("Payload") or {}
        elif state["Resource"] != tasks_arn:
            continue  # another service (SageMaker on the AWS training path, ...)
        assert params.get("task") in registered, f"{path.name}: task {params.get('task')!r} is not registered"


@pytest.mark.parametrize("broken,message", [
    ({"StartAt": "Missing", "States": {"A": {"Type": "Succeed"}}}, "StartAt"),
    ({"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "${TasksFunctionArn}"}}},
     "should be A URI"),  # an unsubstituted placeholder is not an ARN
    ({"StartAt": "A", "States": {"A": {"Type": "Pass", "Parameters": {"x.$": "no-path"}, "End": True}}},
     "JSONPath"),
])
def test_statelint_catches_broken_machines(tmp_path, broken, message):
    path = tmp_path / "broken.asl.json"
    path.write_text(json.dumps(broken))
    code, output = statelint(path)
    assert code != 0 and message in output, output
