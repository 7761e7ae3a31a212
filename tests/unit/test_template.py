"""template.yaml agrees with the code that reads it, and the packaged template lints.

- the DynamoDB tables equal chalicelib/storage/tables.py (one definition);
- every settings variable chalicelib/config.py reads is set on both functions;
- every ASL file is declared, its `${...}` placeholders are all substituted,
  and the ARN the functions are given is the machine's own;
- `chalice package --merge-template template.yaml` output passes cfn-lint
  (with the state machines inlined, so their definitions are checked too).
"""
import copy
import json
import os
import re
import subprocess
import sys

import pytest
import yaml

from chalicelib.storage import tables
from scripts import package

ROOT = package.ROOT
ASL_DIR = os.path.join(ROOT, "infrastructure", "statemachines")
PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")
FUNCTIONS = ("APIHandler", "Tasks", "Trainer")
SETTINGS = ("RESOURCES_TABLE", "EVENTS_TABLE", "DATA_BUCKET", "INTERNAL_BUCKET",
            "EVENTS_ROLE_ARN", "TRAINING_BACKEND", "PERSONALIZE_ACCOUNT_ID")


class _CfnLoader(yaml.SafeLoader):
    """Reads the CloudFormation short forms (!Ref, !GetAtt, !Sub) as chalice does."""


def _intrinsic(loader, suffix, node):
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


@pytest.fixture(scope="module")
def template():
    with open(os.path.join(ROOT, "template.yaml")) as f:
        return yaml.load(f, Loader=_CfnLoader)


def _machines(template):
    return {lid: r for lid, r in template["Resources"].items()
            if r.get("Type") == "AWS::StepFunctions::StateMachine"}


def _canonical_table(props):
    """The parts of a table definition that must agree, order-insensitively."""
    def keys(schema):
        return tuple((k["AttributeName"], k["KeyType"]) for k in schema)
    return {
        "attributes": sorted((a["AttributeName"], a["AttributeType"])
                             for a in props["AttributeDefinitions"]),
        "keys": keys(props["KeySchema"]),
        "indexes": sorted((i["IndexName"], keys(i["KeySchema"]),
                           i["Projection"]["ProjectionType"])
                          for i in props.get("GlobalSecondaryIndexes", [])),
        "lsi": sorted(i["IndexName"] for i in props.get("LocalSecondaryIndexes", [])),
        "billing": props.get("BillingMode", "PROVISIONED"),
        "ttl": props.get("TimeToLiveSpecification"),
        "stream": props.get("StreamSpecification"),
    }


def test_tables_equal_the_storage_definitions(template):
    declared = {lid: r for lid, r in template["Resources"].items()
                if r.get("Type") == "AWS::DynamoDB::Table"}
    assert sorted(declared) == sorted(tables.TABLES)
    for logical_id, kwargs in tables.TABLES.items():
        assert _canonical_table(declared[logical_id]["Properties"]) == \
            _canonical_table(kwargs), logical_id


def test_table_comparison_notices_a_difference():
    kwargs = copy.deepcopy(tables.TABLES["ResourcesTable"])
    changed = copy.deepcopy(kwargs)
    changed["GlobalSecondaryIndexes"][0]["KeySchema"][1]["AttributeName"] = "other"
    assert _canonical_table(kwargs) != _canonical_table(changed)


def test_both_functions_get_every_setting(template):
    for name in FUNCTIONS:
        env = template["Resources"][name]["Properties"]["Environment"]["Variables"]
        assert set(SETTINGS) <= set(env), name
        assert env["TRAINING_BACKEND"] == {"Ref": "TrainingBackend"}
        for machine in _machines(template).values():
            variable = package.workflow_variable(machine["Metadata"]["Workflow"])
            name_sub = machine["Properties"]["StateMachineName"]["Fn::Sub"]
            assert env[variable]["Fn::Sub"].endswith(":stateMachine:" + name_sub), variable


def test_every_asl_file_is_a_declared_state_machine(template):
    declared = {r["Properties"]["DefinitionS3Location"]: r for r in _machines(template).values()}
    for name in sorted(os.listdir(ASL_DIR)) if os.path.isdir(ASL_DIR) else []:
        if name.endswith(".asl.json"):
            assert f"infrastructure/statemachines/{name}" in declared, name
    for location, machine in declared.items():
        workflow = machine["Metadata"]["Workflow"]
        assert location == f"infrastructure/statemachines/{workflow}.asl.json"


def test_placeholders_are_all_substituted(template):
    for logical_id, machine in _machines(template).items():
        path = os.path.join(ROOT, machine["Properties"]["DefinitionS3Location"])
        if not os.path.exists(path):
            continue
        with open(path) as f:
            used = set(PLACEHOLDER.findall(f.read()))
        given = set(machine["Properties"]["DefinitionSubstitutions"])
        assert used <= given, f"{logical_id}: no substitution for {sorted(used - given)}"


def test_missing_definition_drops_the_machine_and_its_variable(tmp_path, template):
    (tmp_path / "infrastructure" / "statemachines").mkdir(parents=True)
    (tmp_path / "infrastructure" / "statemachines" / "import.asl.json").write_text(
        json.dumps({"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}))
    finished, skipped = package.finish_template(template, str(tmp_path), runtime="python3.12")
    assert "import" not in skipped and "training" in skipped
    assert finished["Resources"]["ImportStateMachine"]["Properties"]["Definition"] == \
        {"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}
    assert "TrainingStateMachine" not in finished["Resources"]
    env = finished["Resources"]["APIHandler"]["Properties"]["Environment"]["Variables"]
    assert "IMPORT_STATE_MACHINE_ARN" in env and "TRAINING_STATE_MACHINE_ARN" not in env
    assert finished["Resources"]["Tasks"]["Properties"].get("Runtime") is None  # not a SAM fn here


# --- the packaged template --------------------------------------------------

@pytest.fixture(scope="module")
def packaged(tmp_path_factory):
    source = package.snapshot(str(tmp_path_factory.mktemp("source")))
    return package.build("ministack", root=source,
                         build_dir=str(tmp_path_factory.mktemp("build")))


def _cfn_lint(path):
    exe = os.path.join(os.path.dirname(sys.executable), "cfn-lint")
    done = subprocess.run([exe, "--format", "json", path], capture_output=True, text=True)
    return json.loads(done.stdout or "[]")


def test_package_merges_chalice_and_template(packaged):
    resources = packaged.template["Resources"]
    for logical_id in ("RestAPI", "APIHandler", "Tasks", "Trainer", "ResourcesTable", "EventsTable",
                       "DataBucket", "WorkflowRole", "EventsRole", "ApplicationPolicy"):
        assert logical_id in resources, logical_id
    assert resources["Tasks"]["Properties"]["Handler"] == "app.tasks"
    assert resources["Trainer"]["Properties"]["Handler"] == "app.trainer"
    assert resources["Trainer"]["Properties"]["Timeout"] == 900  # Lambda's maximum
    for machine in _machines(packaged.template).values():
        assert "Definition" in machine["Properties"]
        assert "DefinitionS3Location" not in machine["Properties"]
        text = json.dumps(machine["Properties"]["Definition"])
        assert '"QueryLanguage": "JSONata"' not in text


def test_packaged_template_passes_cfn_lint(packaged):
    findings = _cfn_lint(packaged.template_path)
    assert findings == [], json.dumps(findings, indent=1)[:3000]


def test_cfn_lint_reports_a_broken_template(template, tmp_path):
    table = copy.deepcopy(template["Resources"]["ResourcesTable"])
    table["Properties"]["BillingMode"] = "FREE"
    broken = {"AWSTemplateFormatVersion": "2010-09-09", "Resources": {"ResourcesTable": table}}
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken))
    rules = {f["Rule"]["Id"] for f in _cfn_lint(str(path))}
    assert any(r.startswith("E") for r in rules), rules
