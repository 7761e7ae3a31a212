"""The errors AWS answers for authentication and authorization failures (403 unless noted).

Codes and messages as the AWS JSON services send them, so a boto3 user sees the same
`ClientError` codes as against AWS."""
from chalicelib.protocol.errors import ServiceError


class MissingAuthenticationTokenException(ServiceError):
    code, status = "MissingAuthenticationTokenException", 403

    def __init__(self, message="Request is missing Authentication Token"):
        super().__init__(message)


class UnrecognizedClientException(ServiceError):
    code, status = "UnrecognizedClientException", 403

    def __init__(self, message="The security token included in the request is invalid."):
        super().__init__(message)


class InvalidSignatureException(ServiceError):
    code, status = "InvalidSignatureException", 403


class IncompleteSignatureException(ServiceError):
    """A malformed Authorization header (AWS: 400, IncompleteSignature)."""

    code, status = "IncompleteSignatureException", 400


class AccessDeniedException(ServiceError):
    code, status = "AccessDeniedException", 403
