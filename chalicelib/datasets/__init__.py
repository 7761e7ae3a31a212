"""Data in: dataset files, data versions, the training view.

Seed: "Preparing and Importing Data". Modules:

- `schema`        a dataset's Avro schema as the importer reads it (types, required fields)
- `csv_stream`    S3 bytes in chunks -> CSV rows in batches (BOM, CRLF, quoting), bounded memory
- `cells`         typed conversion and validation of a column of cells
- `columnar`      the importer's fast path: blocks of plain lines -> typed columns in numpy
- `importer`      dataLocation -> validated rows -> a new data version, or a failureReason
- `ranges`        large sources in byte ranges (the import workflow's Map), merged into one version
- `versions`      immutable columnar data versions (.npz parts + dictionaries + manifest)
- `objects`       the S3 reads the importer needs, over the storage port
- `records`       dataset / schema records and the current data version, read-only
- `training_view` `load_training_data(dataset_group_arn, event_type, event_value_threshold)`
- `sample`        a seeded sample dataset with schemas (`python -m chalicelib.datasets.sample DIR`)
"""
