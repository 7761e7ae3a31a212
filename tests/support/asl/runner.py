"""An in-process interpreter for Amazon States Language state machines
(JSONPath only), so that fast tests run the very ASL files we deploy.

    result = run_state_machine(definition, {"datasetImportJobArn": ...},
                               functions={"tasks": handler})
    result.status, result.output, result.error, result.cause

State types: Task, Pass, Choice, Wait, Succeed, Fail, Parallel, Map (inline;
branches run one after the other; a Map's iterations run in threads, at most
MaxConcurrency / MaxConcurrencyPath at once, one after the other without either). Fields: InputPath, Parameters/ItemSelector (paths, `$$`
context object, intrinsic functions), ResultSelector, ResultPath (incl.
null), OutputPath, Retry (ErrorEquals, IntervalSeconds, MaxAttempts,
BackoffRate, MaxDelaySeconds, JitterStrategy), Catch (ErrorEquals,
ResultPath), TimeoutSeconds on a Task (best effort: the call runs in a
thread that is abandoned on timeout) and on the machine.

Task states reach Lambda functions in process: a Resource that is a Lambda
function ARN, or `arn:aws:states:::lambda:invoke` with `FunctionName` and
`Payload` (whose result is wrapped in `{"Payload": ..., "StatusCode": 200,
...}` as Step Functions does). A handler that raises fails the state the way
a Python Lambda does on AWS: Error is the exception's class name and Cause is
the Lambda error document as compact JSON, `{"errorMessage", "errorType",
"requestId", "stackTrace"}` (observed in AWS-recorded LocalStack snapshots
of Step Functions calling a failing Python Lambda). Event and result travel
as JSON, so a handler returning something JSON cannot carry fails with
`Runtime.MarshalError` here as on AWS.

Sleeping (Wait states, Retry intervals) goes through an injectable `sleep`;
the clock seen by the machine (`$$.Execution.StartTime`, Wait Timestamp,
machine TimeoutSeconds) advances by the requested time even when `sleep`
does not really sleep.
"""
import contextvars
import json
import logging
import random
import re
import threading
import time
import traceback
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from .choice import ChoiceRuntimeError, evaluate_rule, parse_timestamp
from .paths import (IntrinsicError, PathError, apply_template,
                        resolve_dynamic, select_reference, set_reference)

log = logging.getLogger(__name__)

# Errors that `States.ALL` does not catch; States.Runtime is never retried or caught.
_UNCATCHABLE = {"States.Runtime"}
_NOT_IN_ALL = {"States.Runtime", "States.DataLimitExceeded"}
MAX_PAYLOAD_BYTES = 256 * 1024  # Step Functions' limit on a state's input/output

_LAMBDA_ARN = re.compile(r"^arn:[\w-]+:lambda:[^:]*:[^:]*:function:([^:]+)(?::[^:]+)?$")
_LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"
_UNSUPPORTED_FIELDS = ("Assign", "Arguments", "Output", "ItemReader", "ResultWriter", "ItemBatcher")
_STATE_TYPES = {"Task", "Pass", "Choice", "Wait", "Succeed", "Fail", "Parallel", "Map"}


class StatesError(Exception):
    """A failure with the Error/Cause pair Step Functions reports."""

    def __init__(self, error, cause=None):
        super().__init__(f"{error}: {cause}")
        self.error, self.cause = error, cause


class DefinitionError(ValueError):
    """The definition is not one this runner (or Step Functions) accepts."""


@dataclass
class ExecutionResult:
    status: str  # SUCCEEDED | FAILED | TIMED_OUT
    output: object = None
    error: str = None
    cause: str = None
    history: list = field(default_factory=list)

    def states_entered(self):
        """Names of the states entered, in order (branches and iterations included)."""
        return [e["name"] for e in self.history if e["type"] == "StateEntered"]


def run_state_machine(definition, input=None, **options):
    """Run `definition` (dict or JSON text) on `input`; see StateMachineRunner."""
    return StateMachineRunner(definition, **options).run({} if input is None else input)


def lambda_error(exc, request_id=None, style="aws"):
    """(Error, Cause) of a Python exception raised by a Lambda handler.

    style "aws": Error is the exception class name. style "ministack": Error
    is `Runtime.HandlerError` whatever was raised, as ministack 1.5 reports it
    (its Lambda worker does not pass the error type on), so tests can check
    that Retry/Catch rules do not depend on exact error names."""
    if style == "ministack":
        doc = {"errorMessage": str(exc), "errorType": "Runtime.HandlerError"}
        return "Runtime.HandlerError", json.dumps(doc, separators=(",", ":"))
    name = type(exc).__name__
    # the runner's own frame is not part of the function's trace
    frames = traceback.format_list([f for f in traceback.extract_tb(exc.__traceback__)
                                    if f.filename != __file__])
    doc = {"errorMessage": str(exc), "errorType": name,
           "requestId": request_id or str(uuid.uuid4()), "stackTrace": frames}
    return name, json.dumps(doc, separators=(",", ":"))


def function_name(ref):
    """Function name from a name, `account:function:name` or a full ARN."""
    m = _LAMBDA_ARN.match(ref)
    if m:
        return m.group(1)
    if ":function:" in ref:
        return ref.split(":function:", 1)[1].split(":")[0]
    return ref.split(":")[0]


def check_definition(definition):
    """Reject what the runner would misinterpret: unknown states or targets,
    JSONata, and JSONPath features it does not implement (variables, ...)."""
    if definition.get("QueryLanguage", "JSONPath") != "JSONPath":
        raise DefinitionError("only JSONPath state machines are supported")
    _check_machine(definition, "State Machine")


def _check_machine(machine, where):
    states = machine.get("States") or {}
    if machine.get("StartAt") not in states:
        raise DefinitionError(f"{where}: StartAt {machine.get('StartAt')!r} is not a state")
    for name, state in states.items():
        here = f"{where}.{name}"
        kind = state.get("Type")
        if kind not in _STATE_TYPES:
            raise DefinitionError(f"{here}: unknown state type {kind!r}")
        if state.get("QueryLanguage", "JSONPath") != "JSONPath":
            raise DefinitionError(f"{here}: only JSONPath is supported")
        for f in _UNSUPPORTED_FIELDS:
            if f in state:
                raise DefinitionError(f"{here}: {f} is not supported by the local runner")
        targets = [state.get("Next"), state.get("Default")]
        targets += [c.get("Next") for c in state.get("Catch", [])]
        targets += [c.get("Next") for c in state.get("Choices", [])]
        for t in targets:
            if t is not None and t not in states:
                raise DefinitionError(f"{here}: no state named {t!r}")
        if kind not in ("Choice", "Succeed", "Fail") and not state.get("End") and "Next" not in state:
            raise DefinitionError(f"{here}: neither Next nor End")
        for i, branch in enumerate(state.get("Branches", [])):
            _check_machine(branch, f"{here}.Branches[{i}]")
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if kind == "Map":
            if processor is None:
                raise DefinitionError(f"{here}: Map without ItemProcessor")
            mode = (processor.get("ProcessorConfig") or {}).get("Mode", "INLINE")
            if mode != "INLINE":
                raise DefinitionError(f"{here}: only INLINE Map is supported")
            _check_machine(processor, f"{here}.ItemProcessor")


def _iso(ts):
    return ts.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _runtime(message):
    return StatesError("States.Runtime", message)


def _matches(names, error):
    """ErrorEquals semantics: States.ALL matches all but the terminal errors;
    States.TaskFailed (on any state with Retry/Catch) all but those and States.Timeout."""
    for n in names:
        if n == error:
            return True
        if n == "States.ALL" and error not in _NOT_IN_ALL:
            return True
        if n == "States.TaskFailed" and error not in _NOT_IN_ALL | {"States.Timeout"}:
            return True
    return False


class StateMachineRunner:
    """One execution of a state machine.

    functions: {function name: handler(event) -> result} for Lambda Task states.
    invoke_resource: optional fallback `fn(resource, parameters) -> result`
        for other Task resources (raise StatesError to fail the state).
    sleep: called with seconds for Wait states and Retry intervals.
    error_style: "aws" (default) or "ministack", see `lambda_error`.
    execution_name / execution_arn / state_machine_arn / role_arn: context object values.
    """

    def __init__(self, definition, *, functions=None, invoke_resource=None, sleep=time.sleep,
                 execution_name=None, execution_arn=None, state_machine_arn=None,
                 role_arn=None, rng=None, error_style="aws"):
        if isinstance(definition, str):
            definition = json.loads(definition)
        check_definition(definition)
        self.definition = definition
        self.functions = dict(functions or {})
        self.invoke_resource = invoke_resource
        self._sleep_fn = sleep
        if error_style not in ("aws", "ministack"):
            raise ValueError(f"error_style must be 'aws' or 'ministack', not {error_style!r}")
        self.error_style = error_style
        self._rng = rng or random.Random()
        self.execution_name = execution_name or str(uuid.uuid4())
        self.state_machine_arn = state_machine_arn or "arn:aws:states:us-east-1:000000000000:stateMachine:local"
        sm_name = self.state_machine_arn.rsplit(":", 1)[-1]
        self.execution_arn = execution_arn or self.state_machine_arn.replace(
            ":stateMachine:", ":execution:") + ":" + self.execution_name
        self.role_arn = role_arn or "arn:aws:iam::000000000000:role/local-states"
        self.state_machine_name = sm_name
        self.history = []
        self._lock = threading.Lock()
        self._skipped = 0.0  # requested sleep not really slept: the machine's clock includes it

    # --- clock -------------------------------------------------------------

    def _elapsed(self):
        return time.monotonic() - self._t0 + self._skipped

    def now(self):
        return self._start + timedelta(seconds=self._elapsed())

    def _sleep(self, seconds):
        seconds = max(0.0, float(seconds))
        t = time.monotonic()
        self._sleep_fn(seconds)
        with self._lock:
            self._skipped += max(0.0, seconds - (time.monotonic() - t))

    def _event(self, kind, **details):
        with self._lock:
            self.history.append({"type": kind, **details})

    # --- execution ---------------------------------------------------------

    def run(self, input):
        self._t0, self._start = time.monotonic(), datetime.now(timezone.utc)
        self._timeout = self.definition.get("TimeoutSeconds")
        self._input = json.loads(json.dumps(input))
        self._event("ExecutionStarted", input=self._input)
        try:
            output = self._run_machine(self.definition, self._input)
        except StatesError as e:
            timed_out = getattr(e, "execution_timeout", False)
            self._event("ExecutionTimedOut" if timed_out else "ExecutionFailed", error=e.error, cause=e.cause)
            return ExecutionResult("TIMED_OUT" if timed_out else "FAILED", None, e.error, e.cause, self.history)
        except Exception as e:  # a bug or an unsupported construct: fail, do not raise into the caller
            log.exception("local execution %s: unexpected error", self.execution_arn)
            cause = f"{type(e).__name__}: {e}"
            self._event("ExecutionFailed", error="States.Runtime", cause=cause)
            return ExecutionResult("FAILED", None, "States.Runtime", cause, self.history)
        self._event("ExecutionSucceeded", output=output)
        return ExecutionResult("SUCCEEDED", output, None, None, self.history)

    def _context(self, state_name, entered, retry_count=0):
        return {
            "Execution": {"Id": self.execution_arn, "Input": self._input, "Name": self.execution_name,
                          "RoleArn": self.role_arn, "StartTime": _iso(self._start), "RedriveCount": 0},
            "State": {"EnteredTime": entered, "Name": state_name, "RetryCount": retry_count},
            "StateMachine": {"Id": self.state_machine_arn, "Name": self.state_machine_name},
        }

    def _check_timeout(self):
        if self._timeout is not None and self._elapsed() > self._timeout:
            err = StatesError("States.Timeout", f"execution exceeded TimeoutSeconds={self._timeout}")
            err.execution_timeout = True
            raise err

    def _run_machine(self, machine, data):
        states, name = machine["States"], machine["StartAt"]
        while True:
            self._check_timeout()
            state = states[name]
            self._event("StateEntered", name=name, input=data)
            data, next_name = self._run_state(name, state, data)
            self._event("StateExited", name=name, output=data)
            if next_name is None:
                return data
            name = next_name

    def _run_state(self, name, state, raw):
        kind = state["Type"]
        ctx = self._context(name, _iso(self.now()))
        if kind == "Pass":
            return self._pass(state, raw, ctx), state.get("Next")
        if kind == "Choice":
            return self._choice(state, raw, ctx)
        if kind == "Wait":
            return self._wait(state, raw, ctx), state.get("Next")
        if kind == "Succeed":
            return self._output(state, self._input_path(state, raw)), None
        if kind == "Fail":
            self._fail(state, raw, ctx)
        body = {"Task": self._task, "Parallel": self._parallel, "Map": self._map}[kind]
        return self._with_retry_and_catch(name, state, raw, ctx, body)

    # --- input and output processing --------------------------------------

    def _input_path(self, state, raw):
        try:
            return select_reference(state.get("InputPath", "$"), raw)
        except PathError as e:
            raise _runtime(f"InputPath: {e}") from None

    def _template(self, template, data, ctx, field_name):
        try:
            return apply_template(template, data, ctx)
        except PathError as e:
            raise _runtime(f"An error occurred while executing the state '{ctx['State']['Name']}'. "
                           f"{field_name}: {e}") from None
        except IntrinsicError as e:
            raise StatesError("States.IntrinsicFailure", f"{field_name}: {e}") from None

    def _effective_input(self, state, raw, ctx):
        data = self._input_path(state, raw)
        if "Parameters" in state:
            data = self._template(state["Parameters"], data, ctx, "Parameters")
        return data

    def _result(self, state, raw, result, ctx):
        """ResultSelector, ResultPath, OutputPath."""
        if "ResultSelector" in state:
            result = self._template(state["ResultSelector"], result, ctx, "ResultSelector")
        try:
            merged = set_reference(state.get("ResultPath", "$"), raw, result)
        except PathError as e:
            raise StatesError("States.ResultPathMatchFailure", str(e)) from None
        return self._output(state, merged)

    def _output(self, state, data):
        try:
            out = select_reference(state.get("OutputPath", "$"), data)
        except PathError as e:
            raise _runtime(f"OutputPath: {e}") from None
        if len(json.dumps(out, separators=(",", ":")).encode()) > MAX_PAYLOAD_BYTES:
            raise StatesError("States.DataLimitExceeded",
                              f"the state output is larger than {MAX_PAYLOAD_BYTES} bytes")
        return out

    # --- state types ------------------------------------------------------

    def _pass(self, state, raw, ctx):
        data = self._effective_input(state, raw, ctx)
        result = state["Result"] if "Result" in state else data
        return self._result(state, raw, result, ctx)

    def _choice(self, state, raw, ctx):
        data = self._input_path(state, raw)
        try:
            for rule in state.get("Choices", []):
                if evaluate_rule(rule, data, ctx):
                    return self._output(state, data), rule["Next"]
        except ChoiceRuntimeError as e:
            raise _runtime(str(e)) from None
        if "Default" in state:
            return self._output(state, data), state["Default"]
        raise StatesError("States.NoChoiceMatched", f"no Choice rule matched and no Default: {data}")

    def _wait(self, state, raw, ctx):
        data = self._input_path(state, raw)
        try:
            if "Seconds" in state:
                seconds = state["Seconds"]
            elif "SecondsPath" in state:
                seconds = resolve_dynamic(state["SecondsPath"], data, ctx)
            else:
                stamp = state.get("Timestamp")
                if stamp is None:
                    stamp = resolve_dynamic(state["TimestampPath"], data, ctx)
                when = parse_timestamp(stamp)
                if when is None:
                    raise _runtime(f"Wait: {stamp!r} is not an RFC 3339 timestamp")
                seconds = max(0.0, (when - self.now()).total_seconds())
        except (PathError, IntrinsicError, KeyError) as e:
            raise _runtime(f"Wait: {e}") from None
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
            raise _runtime(f"Wait: seconds must be a non-negative number, got {seconds!r}")
        self._sleep(seconds)
        return self._output(state, data)

    def _fail(self, state, raw, ctx):
        def field_value(name):
            if name in state:
                return state[name]
            if name + "Path" in state:
                try:
                    return resolve_dynamic(state[name + "Path"], raw, ctx)
                except PathError as e:
                    raise _runtime(f"Fail {name}Path: {e}") from None
                except IntrinsicError as e:
                    raise StatesError("States.IntrinsicFailure", f"Fail {name}Path: {e}") from None
            return None
        raise StatesError(field_value("Error"), field_value("Cause"))

    def _task(self, state, raw, ctx):
        params = self._effective_input(state, raw, ctx)
        timeout = state.get("TimeoutSeconds")
        if timeout is None and "TimeoutSecondsPath" in state:
            try:
                timeout = resolve_dynamic(state["TimeoutSecondsPath"], self._input_path(state, raw), ctx)
            except (PathError, IntrinsicError) as e:
                raise _runtime(f"TimeoutSecondsPath: {e}") from None
        result = self._call_with_timeout(lambda: self._invoke(state["Resource"], params), timeout)
        return self._result(state, raw, result, ctx)

    def _parallel(self, state, raw, ctx):
        data = self._effective_input(state, raw, ctx)
        results = [self._run_machine(branch, data) for branch in state["Branches"]]
        return self._result(state, raw, results, ctx)

    def _map(self, state, raw, ctx):
        data = self._input_path(state, raw)
        try:
            items = select_reference(state.get("ItemsPath", "$"), data)
        except PathError as e:
            raise _runtime(f"ItemsPath: {e}") from None
        if not isinstance(items, list):
            raise _runtime(f"Map: ItemsPath {state.get('ItemsPath', '$')!r} does not select an array")
        processor = state.get("ItemProcessor") or state["Iterator"]
        selector = state.get("ItemSelector", state.get("Parameters"))
        inputs = []
        for index, item in enumerate(items):
            if selector is not None:
                item_ctx = dict(ctx, Map={"Item": {"Index": index, "Value": item}})
                item = self._template(selector, data, item_ctx, "ItemSelector")
            inputs.append(item)
        limit = state.get("MaxConcurrency")
        if limit is None and "MaxConcurrencyPath" in state:
            try:
                limit = resolve_dynamic(state["MaxConcurrencyPath"], data, ctx)
            except (PathError, IntrinsicError) as e:
                raise _runtime(f"MaxConcurrencyPath: {e}") from None
        if not limit or limit <= 1 or len(inputs) <= 1:
            results = [self._run_machine(processor, item) for item in inputs]
        else:   # iterations at once, in threads that keep the caller's context variables
            with ThreadPoolExecutor(max_workers=min(int(limit), len(inputs)), thread_name_prefix="asl-map") as pool:
                futures = [pool.submit(contextvars.copy_context().run, self._run_machine, processor, item)
                           for item in inputs]
                results = [f.result() for f in futures]
        return self._result(state, raw, results, ctx)

    # --- errors -------------------------------------------------------------

    def _with_retry_and_catch(self, name, state, raw, ctx, body):
        retriers = state.get("Retry", [])
        attempts = [0] * len(retriers)
        retry_count = 0
        while True:
            try:
                return body(state, raw, self._context(name, ctx["State"]["EnteredTime"], retry_count)), \
                    state.get("Next")
            except StatesError as err:
                if err.error in _UNCATCHABLE or getattr(err, "execution_timeout", False):
                    raise
                self._event("StateFailed", name=name, error=err.error, cause=err.cause)
                index = next((i for i, r in enumerate(retriers)
                              if _matches(r.get("ErrorEquals", []), err.error)), None)
                if index is not None and attempts[index] < retriers[index].get("MaxAttempts", 3):
                    self._sleep(self._retry_delay(retriers[index], attempts[index]))
                    attempts[index] += 1
                    retry_count += 1
                    self._event("RetryScheduled", name=name, attempt=retry_count)
                    continue
                for catcher in state.get("Catch", []):
                    if _matches(catcher.get("ErrorEquals", []), err.error):
                        self._event("Caught", name=name, error=err.error, next=catcher["Next"])
                        error_output = {"Error": err.error, "Cause": err.cause}
                        try:
                            out = set_reference(catcher.get("ResultPath", "$"), raw, error_output)
                        except PathError as e:
                            raise StatesError("States.ResultPathMatchFailure", str(e)) from None
                        return out, catcher["Next"]
                raise

    def _retry_delay(self, retrier, attempt):
        delay = retrier.get("IntervalSeconds", 1) * retrier.get("BackoffRate", 2.0) ** attempt
        if "MaxDelaySeconds" in retrier:
            delay = min(delay, retrier["MaxDelaySeconds"])
        if retrier.get("JitterStrategy") == "FULL":
            delay = self._rng.uniform(0, delay)
        return delay

    # --- tasks ----------------------------------------------------------------

    def _call_with_timeout(self, call, timeout):
        if timeout is None:
            return call()
        box = {}

        def target():
            try:
                box["result"] = call()
            except BaseException as e:  # handed back to the state machine's thread
                box["error"] = e

        # the call keeps the caller's context variables (loggers, request ids)
        worker = threading.Thread(target=contextvars.copy_context().run, args=(target,),
                                  daemon=True, name="asl-task")
        worker.start()
        worker.join(timeout)
        if worker.is_alive():
            raise StatesError("States.Timeout", f"the task did not finish within {timeout} seconds")
        if "error" in box:
            raise box["error"]
        return box["result"]

    def _invoke(self, resource, params):
        if _LAMBDA_ARN.match(resource):
            return self._call_lambda(resource, params)
        if resource == _LAMBDA_INVOKE:
            if not isinstance(params, dict) or "FunctionName" not in params:
                raise _runtime("lambda:invoke needs Parameters.FunctionName")
            request_id = str(uuid.uuid4())
            payload = self._call_lambda(params["FunctionName"], params.get("Payload"), request_id)
            return {"ExecutedVersion": "$LATEST", "Payload": payload,
                    "SdkHttpMetadata": {"HttpHeaders": {"X-Amz-Executed-Version": "$LATEST",
                                                        "x-amzn-RequestId": request_id},
                                        "HttpStatusCode": 200},
                    "SdkResponseMetadata": {"RequestId": request_id}, "StatusCode": 200}
        if self.invoke_resource is not None:
            return self.invoke_resource(resource, params)
        raise _runtime(f"resource {resource!r} is not available in the local runner")

    def _call_lambda(self, ref, payload, request_id=None):
        name = function_name(ref)
        handler = self.functions.get(name)
        if handler is None:
            raise StatesError("Lambda.ResourceNotFoundException", f"Function not found: {ref}")
        event = json.loads(json.dumps(payload))  # what the function would receive
        request_id = request_id or str(uuid.uuid4())
        try:
            result = handler(event)
        except Exception as e:
            raise StatesError(*lambda_error(e, request_id, self.error_style)) from None
        try:
            text = json.dumps(result)
        except (TypeError, ValueError) as e:
            cause = {"errorMessage": f"Unable to marshal response: {e}", "errorType": "Runtime.MarshalError",
                     "requestId": request_id, "stackTrace": []}
            raise StatesError("Runtime.MarshalError", json.dumps(cause, separators=(",", ":"))) from None
        if len(text.encode()) > MAX_PAYLOAD_BYTES:
            raise StatesError("States.DataLimitExceeded",
                              f"the task result is larger than {MAX_PAYLOAD_BYTES} bytes")
        return json.loads(text)


__all__ = ["run_state_machine", "StateMachineRunner", "ExecutionResult", "StatesError",
           "DefinitionError", "check_definition", "lambda_error", "function_name"]
