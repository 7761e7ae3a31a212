"""The in-process ASL runner and start_workflow: every state type and field on
small inline state machines, Retry/Catch, the context object, intrinsic
functions, and the Lambda failure shape Step Functions reports."""
import json
import re
import threading

import pytest

from chalicelib.workflows import starter
from tests.support.asl import paths as asl_paths
from tests.support.asl.runner import DefinitionError, check_definition, run_state_machine
from chalicelib.workflows.tasks import task
from tests.support import stepfunctions as sfn

FN = "arn:aws:lambda:us-east-1:000000000000:function:tasks"


def machine(states, start=None, **top):
    return {"StartAt": start or next(iter(states)), "States": states, **top}


def run(states, input=None, functions=None, **kw):
    """Run with a recording `sleep`; returns (result, list of slept seconds)."""
    slept = []
    defn = states if "States" in states else machine(states)
    result = run_state_machine(defn, input if input is not None else {},
                               functions=functions or {}, sleep=slept.append, **kw)
    return result, slept


def ok(result):
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    return result.output


# --- JSONPath ---------------------------------------------------------------

DOC = {"a": {"b": [10, 20, {"c": "x"}]}, "x y": 1, "items": [{"id": 1}, {"id": 2}]}


@pytest.mark.parametrize("path,value", [
    ("$", DOC),
    ("$.a.b", [10, 20, {"c": "x"}]),
    ("$.a.b[0]", 10),
    ("$.a.b[-1].c", "x"),
    ("$['x y']", 1),
    ("$.a['b'][1]", 20),
    ("$.items[*].id", [1, 2]),
    ("$..id", [1, 2]),
    ("$.a.b[0:2]", [10, 20]),
    ("$.items[0,1]", [{"id": 1}, {"id": 2}]),
])
def test_jsonpath_evaluate(path, value):
    assert asl_paths.evaluate(path, DOC) == value


@pytest.mark.parametrize("path", ["$.nope", "$.a.b[7]", "$.a.b.c", "a.b"])
def test_jsonpath_missing_or_invalid(path):
    with pytest.raises(asl_paths.PathError):
        asl_paths.evaluate(path, DOC)


def test_result_path_forms():
    data = {"keep": 1}
    assert asl_paths.set_reference("$", data, 5) == 5
    assert asl_paths.set_reference(None, data, 5) == data
    assert asl_paths.set_reference("$.r.s", data, 5) == {"keep": 1, "r": {"s": 5}}
    assert data == {"keep": 1}  # input not mutated
    with pytest.raises(asl_paths.PathError):
        asl_paths.set_reference("$.keep.x", data, 5)
    with pytest.raises(asl_paths.PathError):
        asl_paths.set_reference("$.a[*]", data, 5)


# --- Pass, InputPath, Parameters, ResultPath, OutputPath -----------------------

def test_pass_result_and_paths():
    out = ok(run({"P": {"Type": "Pass", "InputPath": "$.in", "Result": {"r": 1},
                        "ResultPath": "$.res", "OutputPath": "$.res", "End": True}},
                 {"in": {"x": 1}})[0])
    # ResultPath applies to the raw input, OutputPath then picks from it
    assert out == {"r": 1}


def test_pass_parameters_and_result_path_null():
    r, _ = run({"P": {"Type": "Pass", "Parameters": {"fixed": 1, "copy.$": "$.v",
                                                     "nested": {"deep.$": "$.w[0]"}, "list": [{"z.$": "$.v"}]},
                      "ResultPath": "$.p", "Next": "Q"},
                "Q": {"Type": "Pass", "ResultPath": None, "Result": "dropped", "End": True}},
               {"v": "V", "w": [7]})
    assert ok(r) == {"v": "V", "w": [7], "p": {"fixed": 1, "copy": "V", "nested": {"deep": 7}, "list": [{"z": "V"}]}}


def test_input_path_and_output_path_null():
    r, _ = run({"P": {"Type": "Pass", "InputPath": None, "ResultPath": "$.seen", "Next": "Q"},
                "Q": {"Type": "Pass", "OutputPath": None, "End": True}}, {"a": 1})
    assert ok(r) == {}
    assert r.history[2]["output"] == {"a": 1, "seen": {}}


def test_missing_parameter_path_is_a_runtime_error_not_caught_by_states_all():
    r, _ = run({"T": {"Type": "Task", "Resource": FN, "Parameters": {"x.$": "$.missing"},
                      "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "S"}], "End": True},
                "S": {"Type": "Succeed"}},
               functions={"tasks": lambda e: e})
    assert (r.status, r.error) == ("FAILED", "States.Runtime")
    assert ("The JSONPath '$.missing' specified for the field 'x.$' could not be found "
            "in the input '{}'") in r.cause


# --- Task ----------------------------------------------------------------------

def test_task_direct_lambda_arn_receives_parameters():
    seen = []

    def handler(event):
        seen.append(event)
        return {"count": 3, "noise": "x"}

    r, _ = run({"T": {"Type": "Task", "Resource": FN, "Parameters": {"task": "t.one", "input.$": "$"},
                      "ResultSelector": {"n.$": "$.count"}, "ResultPath": "$.result", "End": True}},
               {"job": "j1"}, functions={"tasks": handler})
    assert seen == [{"task": "t.one", "input": {"job": "j1"}}]
    assert ok(r) == {"job": "j1", "result": {"n": 3}}


def test_task_lambda_invoke_integration_wraps_the_payload():
    r, _ = run({"T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                      "Parameters": {"FunctionName": FN + ":$LATEST", "Payload": {"task": "t", "input.$": "$"}},
                      "ResultPath": "$.raw", "Next": "U"},
                "U": {"Type": "Pass", "OutputPath": "$.raw.Payload", "End": True}},
               {"a": 1}, functions={"tasks": lambda e: {"echo": e["input"]}})
    assert ok(r) == {"echo": {"a": 1}}
    raw = r.history[2]["output"]["raw"]
    assert raw["StatusCode"] == 200 and raw["ExecutedVersion"] == "$LATEST"


def test_failing_task_reports_lambda_error_shape():
    class DataImportError(Exception):
        pass

    def handler(event):
        raise DataImportError("column USER_ID is missing")

    r, _ = run({"T": {"Type": "Task", "Resource": FN, "End": True}}, functions={"tasks": handler})
    assert (r.status, r.error) == ("FAILED", "DataImportError")
    cause = json.loads(r.cause)
    assert cause["errorMessage"] == "column USER_ID is missing"
    assert cause["errorType"] == "DataImportError"
    assert re.fullmatch(r"[0-9a-f-]{36}", cause["requestId"])
    assert any("in handler" in frame for frame in cause["stackTrace"])
    assert not any("support/asl/runner.py" in frame for frame in cause["stackTrace"])


def test_ministack_error_style_hides_the_exception_type():
    def handler(event):
        raise KeyError("k")

    states = {"T": {"Type": "Task", "Resource": FN, "End": True,
                    "Catch": [{"ErrorEquals": ["KeyError"], "Next": "Named"},
                              {"ErrorEquals": ["States.TaskFailed"], "ResultPath": "$.e", "Next": "Any"}]},
              "Named": {"Type": "Pass", "Result": "named", "End": True},
              "Any": {"Type": "Pass", "OutputPath": "$.e", "End": True}}
    assert ok(run(states, functions={"tasks": handler})[0]) == "named"
    out = ok(run(states, functions={"tasks": handler}, error_style="ministack")[0])
    assert out["Error"] == "Runtime.HandlerError"
    assert json.loads(out["Cause"])["errorMessage"] == "'k'"


def test_unknown_function_and_unmarshallable_result():
    r, _ = run({"T": {"Type": "Task", "Resource": FN.replace("tasks", "nope"), "End": True}})
    assert r.error == "Lambda.ResourceNotFoundException"
    r, _ = run({"T": {"Type": "Task", "Resource": FN, "End": True}}, functions={"tasks": lambda e: {1, 2}})
    assert r.error == "Runtime.MarshalError"


def test_oversized_result_is_data_limit_exceeded_and_not_caught_by_states_all():
    r, _ = run({"T": {"Type": "Task", "Resource": FN, "End": True,
                      "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "S"}]},
                "S": {"Type": "Succeed"}}, functions={"tasks": lambda e: "x" * 300_000})
    assert (r.status, r.error) == ("FAILED", "States.DataLimitExceeded")


def test_task_timeout_is_states_timeout_and_not_task_failed():
    release = threading.Event()

    def slow(event):
        release.wait(10)
        return "late"

    try:
        r, _ = run({"T": {"Type": "Task", "Resource": FN, "TimeoutSeconds": 1, "End": True,
                          "Catch": [{"ErrorEquals": ["States.TaskFailed"], "Next": "Wrong"},
                                    {"ErrorEquals": ["States.Timeout"], "ResultPath": "$.err", "Next": "S"}]},
                    "Wrong": {"Type": "Fail", "Error": "Wrong"},
                    "S": {"Type": "Succeed"}}, functions={"tasks": slow})
    finally:
        release.set()
    assert ok(r)["err"]["Error"] == "States.Timeout"


# --- Retry and Catch ---------------------------------------------------------------

def flaky(failures, error=RuntimeError):
    calls = []

    def handler(event):
        calls.append(event)
        if len(calls) <= failures:
            raise error(f"attempt {len(calls)}")
        return {"attempts": len(calls), "retry_seen": event.get("retry")}
    return handler, calls


def test_retry_with_backoff_then_success():
    handler, calls = flaky(3)
    r, slept = run({"T": {"Type": "Task", "Resource": FN,
                          "Parameters": {"retry.$": "$$.State.RetryCount"},
                          "Retry": [{"ErrorEquals": ["States.TaskFailed"], "IntervalSeconds": 2,
                                     "MaxAttempts": 3, "BackoffRate": 1.5}], "End": True}},
                   functions={"tasks": handler})
    assert ok(r) == {"attempts": 4, "retry_seen": 3}
    assert slept == [2, 3.0, 4.5]
    assert [c["retry"] for c in calls] == [0, 1, 2, 3]


def test_retry_defaults_and_max_delay():
    handler, _ = flaky(3)
    r, slept = run({"T": {"Type": "Task", "Resource": FN, "Retry": [
        {"ErrorEquals": ["States.ALL"], "MaxDelaySeconds": 3}], "End": True}}, functions={"tasks": handler})
    assert ok(r)["attempts"] == 4
    assert slept == [1, 2, 3]  # IntervalSeconds 1, BackoffRate 2, MaxAttempts 3; capped at 3


def test_first_matching_retrier_wins_even_when_exhausted():
    handler, calls = flaky(5, ValueError)
    r, slept = run({"T": {"Type": "Task", "Resource": FN, "Retry": [
        {"ErrorEquals": ["ValueError"], "MaxAttempts": 0},
        {"ErrorEquals": ["States.ALL"], "MaxAttempts": 5}], "End": True}}, functions={"tasks": handler})
    assert (r.status, r.error, len(calls), slept) == ("FAILED", "ValueError", 1, [])


def test_retries_exhausted_then_catch_then_fail():
    handler, calls = flaky(10, KeyError)
    r, slept = run({
        "Work": {"Type": "Task", "Resource": FN,
                 "Retry": [{"ErrorEquals": ["KeyError"], "MaxAttempts": 2}],
                 "Catch": [{"ErrorEquals": ["ValueError"], "Next": "Wrong"},
                           {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Record"}],
                 "End": True},
        "Wrong": {"Type": "Fail", "Error": "Wrong"},
        "Record": {"Type": "Pass", "Parameters": {"job.$": "$.job", "reason.$": "$.error.Cause"},
                   "Next": "Failed"},
        "Failed": {"Type": "Fail", "Error": "ImportFailed", "CausePath": "$.reason"}},
        {"job": "j1"}, functions={"tasks": handler})
    assert len(calls) == 3 and slept == [1, 2]
    assert (r.status, r.error) == ("FAILED", "ImportFailed")
    assert json.loads(r.cause)["errorType"] == "KeyError"
    assert r.states_entered() == ["Work", "Record", "Failed"]


def test_catch_default_result_path_replaces_input():
    r, _ = run({"T": {"Type": "Task", "Resource": FN, "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "S"}],
                      "End": True},
                "S": {"Type": "Succeed"}}, {"lost": True}, functions={"tasks": flaky(1)[0]})
    out = ok(r)
    assert set(out) == {"Error", "Cause"} and out["Error"] == "RuntimeError"


def test_uncaught_error_fails_execution():
    r, _ = run({"T": {"Type": "Task", "Resource": FN, "Catch": [{"ErrorEquals": ["Other"], "Next": "S"}],
                      "End": True},
                "S": {"Type": "Succeed"}}, functions={"tasks": flaky(1, TypeError)[0]})
    assert (r.status, r.error) == ("FAILED", "TypeError")


# --- Choice --------------------------------------------------------------------

VALUES = {"s": "beta", "n": 5, "f": 2.5, "b": True, "t": "2019-06-01T12:00:00Z", "z": None,
          "s2": "beta", "n2": 7, "t2": "2020-01-01T00:00:00Z", "file": "ratings.csv", "star": "a*b"}


@pytest.mark.parametrize("rule,expected", [
    ({"Variable": "$.s", "StringEquals": "beta"}, True),
    ({"Variable": "$.s", "StringEquals": "alpha"}, False),
    ({"Variable": "$.n", "StringEquals": "5"}, False),  # type mismatch is false
    ({"Variable": "$.s", "StringLessThan": "gamma"}, True),
    ({"Variable": "$.s", "StringGreaterThan": "alpha"}, True),
    ({"Variable": "$.s", "StringLessThanEquals": "beta"}, True),
    ({"Variable": "$.s", "StringGreaterThanEquals": "gamma"}, False),
    ({"Variable": "$.s", "StringEqualsPath": "$.s2"}, True),
    ({"Variable": "$.s", "StringLessThanPath": "$.s2"}, False),
    ({"Variable": "$.file", "StringMatches": "*.csv"}, True),
    ({"Variable": "$.file", "StringMatches": "*.json"}, False),
    ({"Variable": "$.star", "StringMatches": "a\\*b"}, True),
    ({"Variable": "$.file", "StringMatches": "a\\*b"}, False),
    ({"Variable": "$.n", "NumericEquals": 5}, True),
    ({"Variable": "$.b", "NumericEquals": 1}, False),  # a boolean is not a number
    ({"Variable": "$.n", "NumericLessThan": 5}, False),
    ({"Variable": "$.f", "NumericLessThan": 3}, True),
    ({"Variable": "$.n", "NumericGreaterThan": 4.5}, True),
    ({"Variable": "$.n", "NumericLessThanEquals": 5}, True),
    ({"Variable": "$.n", "NumericGreaterThanEquals": 6}, False),
    ({"Variable": "$.n", "NumericLessThanPath": "$.n2"}, True),
    ({"Variable": "$.n", "NumericEqualsPath": "$.n2"}, False),
    ({"Variable": "$.n", "NumericGreaterThanEqualsPath": "$.n"}, True),
    ({"Variable": "$.b", "BooleanEquals": True}, True),
    ({"Variable": "$.b", "BooleanEqualsPath": "$.b"}, True),
    ({"Variable": "$.t", "TimestampEquals": "2019-06-01T14:00:00+02:00"}, True),
    ({"Variable": "$.t", "TimestampLessThan": "2019-06-01T12:00:01Z"}, True),
    ({"Variable": "$.t", "TimestampGreaterThan": "2019-06-01T12:00:00Z"}, False),
    ({"Variable": "$.t", "TimestampLessThanEquals": "2019-06-01T12:00:00Z"}, True),
    ({"Variable": "$.t", "TimestampGreaterThanEquals": "2020-01-01T00:00:00Z"}, False),
    ({"Variable": "$.t", "TimestampLessThanPath": "$.t2"}, True),
    ({"Variable": "$.s", "TimestampEquals": "2019-06-01T12:00:00Z"}, False),
    ({"Variable": "$.z", "IsNull": True}, True),
    ({"Variable": "$.s", "IsNull": True}, False),
    ({"Variable": "$.s", "IsPresent": True}, True),
    ({"Variable": "$.absent", "IsPresent": False}, True),
    ({"Variable": "$.n", "IsNumeric": True}, True),
    ({"Variable": "$.s", "IsString": True}, True),
    ({"Variable": "$.b", "IsBoolean": True}, True),
    ({"Variable": "$.t", "IsTimestamp": True}, True),
    ({"Variable": "$.s", "IsTimestamp": False}, True),
    ({"And": [{"Variable": "$.n", "NumericGreaterThan": 1}, {"Variable": "$.s", "StringEquals": "beta"}]}, True),
    ({"And": [{"Variable": "$.n", "NumericGreaterThan": 9}, {"Variable": "$.s", "StringEquals": "beta"}]}, False),
    ({"Or": [{"Variable": "$.n", "NumericGreaterThan": 9}, {"Variable": "$.s", "StringEquals": "beta"}]}, True),
    ({"Not": {"Variable": "$.s", "StringEquals": "beta"}}, False),
    ({"Variable": "$$.State.Name", "StringEquals": "C"}, True),
])
def test_choice_operators(rule, expected):
    r, _ = run({"C": {"Type": "Choice", "Choices": [dict(rule, Next="Yes")], "Default": "No"},
                "Yes": {"Type": "Pass", "Result": "yes", "End": True},
                "No": {"Type": "Pass", "Result": "no", "End": True}}, VALUES)
    assert ok(r) == ("yes" if expected else "no")


def test_choice_first_match_input_output_paths_and_errors():
    states = {"C": {"Type": "Choice", "InputPath": "$.in", "OutputPath": "$.v",
                    "Choices": [{"Variable": "$.v", "NumericGreaterThan": 10, "Next": "Big"},
                                {"Variable": "$.v", "NumericGreaterThan": 0, "Next": "Small"}]},
              "Big": {"Type": "Succeed"}, "Small": {"Type": "Succeed"}}
    r, _ = run(states, {"in": {"v": 50}})
    assert ok(r) == 50 and r.states_entered() == ["C", "Big"]
    r, _ = run(states, {"in": {"v": -1}})
    assert (r.status, r.error) == ("FAILED", "States.NoChoiceMatched")
    r, _ = run(states, {"in": {}})
    assert (r.status, r.error) == ("FAILED", "States.Runtime")


# --- Wait ------------------------------------------------------------------------

def test_wait_forms_sleep_through_the_injected_sleep():
    r, slept = run({
        "A": {"Type": "Wait", "Seconds": 30, "Next": "B"},
        "B": {"Type": "Wait", "SecondsPath": "$.delay", "Next": "C"},
        "C": {"Type": "Wait", "Timestamp": "2001-01-01T00:00:00Z", "Next": "D"},
        "D": {"Type": "Wait", "TimestampPath": "$.until", "End": True}},
        {"delay": 5, "until": "2999-01-01T00:00:00Z"})
    assert ok(r) == {"delay": 5, "until": "2999-01-01T00:00:00Z"}
    assert slept[:3] == [30, 5, 0.0] and slept[3] > 300 * 365 * 86400


def test_wait_timestamp_is_relative_to_the_machine_clock():
    from datetime import datetime, timedelta, timezone
    soon = (datetime.now(timezone.utc) + timedelta(seconds=100)).strftime("%Y-%m-%dT%H:%M:%SZ")
    r, slept = run({"W": {"Type": "Wait", "TimestampPath": "$.t", "End": True}}, {"t": soon})
    ok(r)
    assert 97 < slept[0] <= 100


def test_execution_timeout_counts_skipped_sleep():
    r, _ = run(machine({"W": {"Type": "Wait", "Seconds": 100, "Next": "P"},
                        "P": {"Type": "Pass", "End": True}}, TimeoutSeconds=60))
    assert (r.status, r.error) == ("TIMED_OUT", "States.Timeout")


def test_bad_wait_seconds_path_is_runtime_error():
    r, _ = run({"W": {"Type": "Wait", "SecondsPath": "$.d", "End": True}}, {"d": "soon"})
    assert r.error == "States.Runtime"


# --- Succeed and Fail ------------------------------------------------------------

def test_succeed_applies_input_and_output_paths():
    r, _ = run({"S": {"Type": "Succeed", "InputPath": "$.a", "OutputPath": "$.b"}}, {"a": {"b": 2}})
    assert ok(r) == 2


def test_fail_with_literal_error_and_cause():
    r, _ = run({"F": {"Type": "Fail", "Error": "Custom.Error", "Cause": "because"}})
    assert (r.status, r.error, r.cause) == ("FAILED", "Custom.Error", "because")


def test_fail_with_error_path_and_intrinsic_cause_path():
    r, _ = run({"F": {"Type": "Fail", "ErrorPath": "$.code",
                      "CausePath": "States.Format('job {} failed: {} rows', $.job, $.rows)"}},
               {"code": "E1", "job": "j9", "rows": 3})
    assert (r.error, r.cause) == ("E1", "job j9 failed: 3 rows")


# --- Parallel and Map ---------------------------------------------------------------

def test_parallel_branches_results_in_order():
    r, _ = run({"P": {"Type": "Parallel", "InputPath": "$.in", "ResultPath": "$.out", "End": True,
                      "Branches": [
                          machine({"A": {"Type": "Pass", "Parameters": {"a.$": "$.x"}, "End": True}}),
                          machine({"B": {"Type": "Task", "Resource": FN, "End": True}})]}},
               {"in": {"x": 1}}, functions={"tasks": lambda e: {"b": e["x"] + 1}})
    assert ok(r) == {"in": {"x": 1}, "out": [{"a": 1}, {"b": 2}]}


def test_parallel_branch_failure_is_caught_on_the_parallel_state():
    r, _ = run({"P": {"Type": "Parallel", "Next": "Done",
                      "Branches": [machine({"A": {"Type": "Pass", "End": True}}),
                                   machine({"F": {"Type": "Fail", "Error": "BranchBroke", "Cause": "c"}})],
                      "Retry": [{"ErrorEquals": ["BranchBroke"], "MaxAttempts": 1}],
                      "Catch": [{"ErrorEquals": ["BranchBroke"], "ResultPath": "$.err", "Next": "Done"}]},
                "Done": {"Type": "Pass", "End": True}}, {"k": 1})
    assert ok(r) == {"k": 1, "err": {"Error": "BranchBroke", "Cause": "c"}}
    assert r.states_entered().count("F") == 2  # one retry


def test_task_failed_is_a_wildcard_on_parallel_states_too():
    r, _ = run({"P": {"Type": "Parallel", "End": True,
                      "Branches": [machine({"F": {"Type": "Fail", "Error": "X", "Cause": "c"}})],
                      "Catch": [{"ErrorEquals": ["States.TaskFailed"], "Next": "S"}]},
                "S": {"Type": "Succeed"}})
    assert ok(r) == {"Error": "X", "Cause": "c"}


def test_map_item_selector_and_context():
    r, _ = run({"M": {"Type": "Map", "ItemsPath": "$.users", "MaxConcurrency": 4,
                      "ItemSelector": {"index.$": "$$.Map.Item.Index", "user.$": "$$.Map.Item.Value",
                                       "group.$": "$.group"},
                      "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "T",
                                        "States": {"T": {"Type": "Task", "Resource": FN, "End": True}}},
                      "ResultSelector": {"all.$": "$[*].tag"}, "ResultPath": "$.tags", "End": True}},
               {"users": ["u1", "u2"], "group": "g"},
               functions={"tasks": lambda e: {"tag": f"{e['group']}/{e['index']}/{e['user']}"}})
    assert ok(r)["tags"] == {"all": ["g/0/u1", "g/1/u2"]}


def test_map_legacy_iterator_and_parameters_and_errors():
    iterator = machine({"Double": {"Type": "Pass", "Parameters": {"v.$": "States.MathAdd($.v, $.v)"},
                                   "End": True}})
    r, _ = run({"M": {"Type": "Map", "Parameters": {"v.$": "$$.Map.Item.Value"}, "Iterator": iterator,
                      "End": True}}, [1, 2, 3])
    assert ok(r) == [{"v": 2}, {"v": 4}, {"v": 6}]
    r, _ = run({"M": {"Type": "Map", "ItemsPath": "$.n", "Iterator": iterator, "End": True}}, {"n": 3})
    assert r.error == "States.Runtime"
    failing = machine({"F": {"Type": "Fail", "Error": "ItemBad"}})
    r, _ = run({"M": {"Type": "Map", "Iterator": failing, "End": True,
                      "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "S"}]},
                "S": {"Type": "Succeed"}}, [1])
    assert ok(r)["Error"] == "ItemBad"


# --- intrinsic functions and the context object ------------------------------------

def test_intrinsic_functions():
    params = {
        "fmt.$": "States.Format('{} has {} items, \\'quoted\\' \\{\\}', $.name, $.n)",
        "parsed.$": "States.StringToJson($.text)",
        "text.$": "States.JsonToString($.obj)",
        "arr.$": "States.Array($.n, 'two', States.Array(3))",
        "id.$": "States.UUID()",
        "len.$": "States.ArrayLength($.list)",
        "has.$": "States.ArrayContains($.list, 'b')",
        "parts.$": "States.StringSplit('a,b;c', ',;')",
        "item.$": "States.ArrayGetItem($.list, 1)",
        "merged.$": "States.JsonMerge($.obj, States.StringToJson('{\"k\":9}'), false)",
    }
    r, _ = run({"P": {"Type": "Pass", "Parameters": params, "End": True}},
               {"name": "cart", "n": 2, "text": "{\"a\": [1]}", "obj": {"k": 1, "z": "ü"}, "list": ["a", "b"]})
    out = ok(r)
    assert out["fmt"] == "cart has 2 items, 'quoted' {}"
    assert out["parsed"] == {"a": [1]}
    assert out["text"] == '{"k":1,"z":"ü"}'
    assert out["arr"] == [2, "two", [3]]
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}", out["id"])
    assert (out["len"], out["has"], out["parts"], out["item"]) == (2, True, ["a", "b", "c"], "b")
    assert out["merged"] == {"k": 9, "z": "ü"}


def test_bad_intrinsic_call_is_intrinsic_failure():
    r, _ = run({"P": {"Type": "Pass", "Parameters": {"x.$": "States.Format('{} {}', $.a)"}, "End": True}},
               {"a": 1})
    assert r.error == "States.IntrinsicFailure"
    r, _ = run({"P": {"Type": "Pass", "Parameters": {"x.$": "States.Format('{}', $.b)"}, "End": True}},
               {"a": 1})
    assert r.error == "States.Runtime"  # the argument's path does not resolve


def test_context_object():
    r, _ = run({"First": {"Type": "Pass", "Next": "P"},
                "P": {"Type": "Pass", "Parameters": {
                    "id.$": "$$.Execution.Id", "name.$": "$$.Execution.Name", "input.$": "$$.Execution.Input",
                    "start.$": "$$.Execution.StartTime", "state.$": "$$.State.Name",
                    "entered.$": "$$.State.EnteredTime", "retries.$": "$$.State.RetryCount",
                    "machine.$": "$$.StateMachine.Id", "machineName.$": "$$.StateMachine.Name"},
                    "End": True}},
               {"x": 1}, execution_name="exec-1",
               state_machine_arn="arn:aws:states:us-east-1:000000000000:stateMachine:personalize-import")
    out = ok(r)
    assert out["id"] == "arn:aws:states:us-east-1:000000000000:execution:personalize-import:exec-1"
    assert (out["name"], out["input"], out["state"], out["retries"]) == ("exec-1", {"x": 1}, "P", 0)
    assert out["machineName"] == "personalize-import"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", out["start"])
    assert out["entered"] >= out["start"]


# --- definitions ---------------------------------------------------------------------

@pytest.mark.parametrize("defn", [
    machine({"A": {"Type": "Pass", "End": True}}, QueryLanguage="JSONata"),
    machine({"A": {"Type": "Pass", "Next": "Nowhere"}}),
    machine({"A": {"Type": "Pass"}}),
    machine({"A": {"Type": "Pass", "Assign": {"x": 1}, "End": True}}),
    machine({"A": {"Type": "Teleport", "End": True}}),
    {"StartAt": "B", "States": {"A": {"Type": "Succeed"}}},
])
def test_check_definition_rejects(defn):
    with pytest.raises(DefinitionError):
        check_definition(defn)


# --- start_workflow through the in-process Step Functions (tests/support/stepfunctions.py) ----------------------------------------------------------------------

@task("test.local_asl.double")
def _double(payload):
    if payload.get("n") is None:
        raise ValueError("n is required")
    return {"n": payload["n"] * 2}


WORKFLOW = {
    "Comment": "test workflow",
    "StartAt": "Double",
    "States": {
        "Double": {"Type": "Task", "Resource": "${TasksFunctionArn}",
                   "Parameters": {"task": "test.local_asl.double", "input.$": "$"},
                   "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 5, "MaxAttempts": 1}],
                   "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Failed"}],
                   "ResultPath": "$.result", "Next": "Backend"},
        "Backend": {"Type": "Pass", "Parameters": {"backend": "${TrainingBackend}", "n.$": "$.result.n"},
                    "End": True},
        "Failed": {"Type": "Fail", "Error": "WorkflowFailed", "CausePath": "$.error.Cause"},
    },
}


@pytest.fixture
def local_mode(tmp_path, monkeypatch):
    (tmp_path / "demo.asl.json").write_text(json.dumps(WORKFLOW))
    monkeypatch.setenv("TRAINING_BACKEND", "lambda")
    sfn.reset()
    sfn.configure(statemachines_dir=tmp_path)
    sfn.install(monkeypatch)
    yield tmp_path
    sfn.reset()


def test_start_workflow_local_runs_the_asl_synchronously(local_mode):
    arn = starter.start_workflow("demo", {"n": 21}, execution_name="job 1/run")
    execution = sfn.get_execution(arn)
    assert (execution.status, execution.output) == ("SUCCEEDED", {"backend": "lambda", "n": 42})
    assert arn.startswith("arn:aws:states:us-east-1:000000000000:execution:personalize-demo:job-1-run-")
    assert execution.stop_date is not None
    assert [e.execution_arn for e in sfn.executions("demo")] == [arn]


def test_start_workflow_local_failure_is_recorded_not_raised(local_mode):
    slept = []
    sfn.configure(sleep=slept.append)
    arn = starter.start_workflow("demo", {"other": 1})
    execution = sfn.get_execution(arn)
    assert (execution.status, execution.error) == ("FAILED", "WorkflowFailed")
    assert json.loads(execution.cause)["errorMessage"] == "n is required"
    assert slept == [5]  # the one retry, not really slept


def test_start_workflow_local_background(local_mode):
    sfn.configure(background=True)
    arns = [starter.start_workflow("demo", {"n": i}) for i in range(3)]
    assert sfn.wait_executions(timeout=30)
    assert [sfn.get_execution(a).output["n"] for a in arns] == [0, 2, 4]


def test_start_workflow_local_errors(local_mode, monkeypatch):
    with pytest.raises(RuntimeError, match="NO_SUCH_WORKFLOW_STATE_MACHINE_ARN"):
        starter.start_workflow("no-such-workflow", {})
    (local_mode / "odd.asl.json").write_text(json.dumps(
        machine({"A": {"Type": "Pass", "Result": "${SomethingUnknown}", "End": True}})))
    sfn.install(monkeypatch)
    with pytest.raises(DefinitionError, match="SomethingUnknown"):
        starter.start_workflow("odd", {})
    monkeypatch.setenv("SomethingUnknown", 'a "quoted" value')
    arn = starter.start_workflow("odd", {})
    assert sfn.get_execution(arn).output == 'a "quoted" value'
    with pytest.raises(TypeError):
        starter.start_workflow("demo", {"when": object()})


def test_execution_names_are_valid_and_unique():
    names = {starter.make_execution_name("arn:aws:personalize:us-east-1:1:dataset-import-job/x" * 3)
             for _ in range(50)}
    assert len(names) == 50
    for name in names | {starter.make_execution_name(None), starter.make_execution_name("//")}:
        assert re.fullmatch(r"[A-Za-z0-9_-]{1,80}", name), name


def test_start_workflow_stepfunctions_mode(monkeypatch):
    from moto import mock_aws
    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                 "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_SFN", raising=False)
    from chalicelib.storage.clients import reset_clients
    reset_clients()
    with mock_aws():
        import boto3
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        sm = sfn.create_state_machine(name="personalize-import", roleArn="arn:aws:iam::123456789012:role/sf",
                                      definition=json.dumps(machine({"A": {"Type": "Pass", "End": True}})))
        monkeypatch.setenv("IMPORT_STATE_MACHINE_ARN", sm["stateMachineArn"])
        arns = [starter.start_workflow("import", {"jobArn": "j"}, execution_name="import j") for _ in range(2)]
        assert arns[0] != arns[1]
        described = sfn.describe_execution(executionArn=arns[0])
        assert json.loads(described["input"]) == {"jobArn": "j"}
        assert described["name"].startswith("import-j-")
        monkeypatch.delenv("IMPORT_STATE_MACHINE_ARN")
        with pytest.raises(RuntimeError, match="IMPORT_STATE_MACHINE_ARN"):
            starter.start_workflow("import", {})
