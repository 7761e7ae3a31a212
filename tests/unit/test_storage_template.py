"""template.yaml declares the DynamoDB tables exactly as `chalicelib.storage.tables`
defines them (keys, attribute types, indexes, billing), so a deployment and the
tests/emulator use one table layout."""
import os

import pytest
import yaml

from chalicelib.storage.tables import TABLES

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TEMPLATE = os.path.join(ROOT, "template.yaml")


class _CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation short forms (!GetAtt, !Sub, ...) as plain values."""


def _any_tag(loader, tag_suffix, node):
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_mapping(node)


_CfnLoader.add_multi_constructor("!", _any_tag)


def _normalized(spec):
    return {
        "AttributeDefinitions": sorted((a["AttributeName"], a["AttributeType"])
                                       for a in spec["AttributeDefinitions"]),
        "KeySchema": [(k["AttributeName"], k["KeyType"]) for k in spec["KeySchema"]],
        "GlobalSecondaryIndexes": sorted(
            (i["IndexName"], tuple((k["AttributeName"], k["KeyType"]) for k in i["KeySchema"]),
             i["Projection"]["ProjectionType"]) for i in spec.get("GlobalSecondaryIndexes", [])),
        "BillingMode": spec.get("BillingMode"),
    }


@pytest.mark.parametrize("logical_id", sorted(TABLES))
def test_template_tables_match_the_definition(logical_id):
    with open(TEMPLATE) as f:
        template = yaml.load(f, Loader=_CfnLoader)
    resource = template["Resources"].get(logical_id)
    assert resource is not None, f"template.yaml has no {logical_id}"
    assert resource["Type"] == "AWS::DynamoDB::Table"
    assert _normalized(resource["Properties"]) == _normalized(TABLES[logical_id])
