"""Storage: the only boto3 users for data (DynamoDB records, S3 objects, EventBridge rules).

Clients are created lazily, once per process, with `boto3.client(name)` and
no endpoint in code (boto3 reads `AWS_ENDPOINT_URL` itself). Tests that swap
moto mocks call `reset_clients()`.
"""
from chalicelib.storage.clients import client, reset_clients  # noqa: F401
