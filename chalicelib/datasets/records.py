"""What the data path reads from the resource store: datasets, their schemas,
and which data version is current.

One module, so the record members the importer and the training view rely
on are named in one place. The dataset record's current-version member is
written only by `chalicelib.service.dataset_import_jobs` (a conditional
write when a run succeeds); here it is only read.
"""
from __future__ import annotations

from typing import Optional

from chalicelib.datasets import schema as dataset_schema
from chalicelib.domain import arns
from chalicelib.storage.resources import store

# Dataset record member holding the id of its current data version
# (see chalicelib.datasets.versions for the layout a version id points at).
CURRENT_VERSION = "dataVersion"
DATASET_TYPES = (dataset_schema.INTERACTIONS, dataset_schema.USERS, dataset_schema.ITEMS)


def dataset(dataset_arn: str) -> Optional[dict]:
    return store().get(dataset_arn, arns.DATASET)


def dataset_of_group(dataset_group_arn: str, dataset_type: str) -> Optional[dict]:
    """The group's dataset of one type (one per type per group, by its ARN)."""
    return dataset(arns.dataset(dataset_group_arn, dataset_type))


def current_version(record: Optional[dict]) -> Optional[str]:
    return (record or {}).get(CURRENT_VERSION) or None


def dataset_schema_of(record: dict) -> dataset_schema.DatasetSchema:
    """The dataset's schema, parsed for its dataset type (SchemaError if it cannot be read)."""
    schema_record = store().get(record.get("schemaArn"), arns.SCHEMA)
    if schema_record is None:
        raise dataset_schema.SchemaError(f"schema {record.get('schemaArn')} of dataset "
                                         f"{record.get('datasetArn') or record.get('arn')} "
                                         "no longer exists")
    return dataset_schema.parse(schema_record["schema"], record["datasetType"])
