"""EventBridge rules as the tests see them (moto's EventBridge holds what the
application's `chalicelib.storage.schedules` put there), and `fire`, which does
what EventBridge does when a rule's schedule comes round."""
import json
import uuid

import boto3

from tests.support import stepfunctions


def rule(name):
    """{"schedule", "arn", "input"} of rule `name`, or None when there is none."""
    events = boto3.client("events", region_name="us-east-1")
    try:
        found = events.describe_rule(Name=name)
    except events.exceptions.ResourceNotFoundException:
        return None
    target = events.list_targets_by_rule(Rule=name)["Targets"][0]
    return {"schedule": found.get("ScheduleExpression"), "arn": target["Arn"],
            "input": json.loads(target["Input"])}


def rules():
    """Every rule by name."""
    events = boto3.client("events", region_name="us-east-1")
    return {r["Name"]: rule(r["Name"]) for r in events.list_rules()["Rules"]}


def fire(name):
    """Start the rule's target execution with the rule's input; returns the execution ARN."""
    found = rule(name)
    return stepfunctions.CLIENT.start_execution(
        stateMachineArn=found["arn"], name=f"rule-{uuid.uuid4().hex}", input=json.dumps(found["input"]))["executionArn"]
