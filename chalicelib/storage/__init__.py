"""Storage: the only boto3 users for data (DynamoDB records, S3 objects, EventBridge rules).

Clients are created lazily, once per process, with `boto3.client(name)` and
no endpoint in code (boto3 reads `AWS_ENDPOINT_URL` itself). Tests that swap
moto mocks call `reset_clients()`.
"""
from chalicelib.storage.clients import client  # noqa: F401
from chalicelib.storage import clients as _clients


def reset_clients():
    """Forget the cached clients: a new moto mock starts from nothing."""
    _clients.reset_clients()
