"""EventBridge port for scheduled workflows (scheduled imports, retraining).

Seed, CreateDatasetImportJob "Scheduling": a new run is started at the
frequency of `importJobSchedule`. On a deployment a rule with that schedule
expression targets the workflow's state machine (ARN from
`chalicelib.config.state_machine_arn`), assuming the role in env
`EVENTS_ROLE_ARN`.
"""
import hashlib
import json
import os
import re

from chalicelib import config
from chalicelib.storage.clients import client

def rule_name(kind, resource_arn):
    """A rule name (<= 64 chars of [A-Za-z0-9._-]) unique to the resource."""
    tail = re.sub(r"[^A-Za-z0-9._-]", "-", resource_arn.rsplit("/", 1)[-1])[:36]
    digest = hashlib.sha256(resource_arn.encode()).hexdigest()[:10]
    return f"personalize-{kind}-{tail}-{digest}"[:64]


def put_schedule(name, schedule_expression, workflow, workflow_input):
    """Create or replace rule `name` starting `workflow` with `workflow_input`."""
    events = client("events")
    events.put_rule(Name=name, ScheduleExpression=schedule_expression, State="ENABLED",
                    Description=f"Amazon Personalize scheduled {workflow}")
    target = {"Id": "workflow", "Arn": config.state_machine_arn(workflow),
              "Input": json.dumps(workflow_input)}
    role = os.environ.get("EVENTS_ROLE_ARN")
    if role:
        target["RoleArn"] = role
    events.put_targets(Rule=name, Targets=[target])
    return name


def remove_schedule(name):
    """Remove rule `name` and its target; a missing rule is not an error."""
    events = client("events")
    try:
        events.remove_targets(Rule=name, Ids=["workflow"])
        events.delete_rule(Name=name)
    except events.exceptions.ResourceNotFoundException:
        pass


def get_schedule(name):
    """The schedule expression of rule `name`, or None."""
    events = client("events")
    try:
        return events.describe_rule(Name=name).get("ScheduleExpression")
    except events.exceptions.ResourceNotFoundException:
        return None
