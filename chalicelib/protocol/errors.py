"""Typed service errors (seed: API Reference, "Errors" of each operation).

Business code raises these; the protocol layer turns them into the wire form
(`{"__type": code, "message": ...}` and, for rest-json, `x-amzn-ErrorType`).
"""


class ServiceError(Exception):
    """An error the client sees. `code` is the seed's error name."""

    code = "InternalFailure"
    status = 500

    def __init__(self, message):
        super().__init__(message)
        self.message = message


class InvalidInputException(ServiceError):
    code, status = "InvalidInputException", 400


class InvalidNextTokenException(ServiceError):
    code, status = "InvalidNextTokenException", 400


class LimitExceededException(ServiceError):
    code, status = "LimitExceededException", 400


class ResourceAlreadyExistsException(ServiceError):
    code, status = "ResourceAlreadyExistsException", 400


class ResourceInUseException(ServiceError):
    code, status = "ResourceInUseException", 400


class ResourceNotFoundException(ServiceError):
    code, status = "ResourceNotFoundException", 400

    @classmethod
    def for_arn(cls, arn):
        """The service's own wording for an ARN that names nothing (today's API answers
        every unknown resource this way, whatever its type)."""
        return cls(f"Resource Arn {arn} does not exist.")


class TooManyTagsException(ServiceError):
    """Today's API: more tags than a resource may carry (50)."""

    code, status = "TooManyTagsException", 400


class TooManyTagKeysException(ServiceError):
    """Today's API: an UntagResource request naming more keys than a resource may carry."""

    code, status = "TooManyTagKeysException", 400


class UnknownOperationException(ServiceError):
    """An X-Amz-Target or route that names no operation we serve."""

    code, status = "UnknownOperationException", 400


class OperationNotServedException(ServiceError):
    """An operation of today's API (it is in the shipped models) that no handler
    of this deployment serves yet; the README's "API coverage" table lists them.
    Distinct from UnknownOperationException, which names no operation at all."""

    code, status = "OperationNotServedException", 400

    @classmethod
    def for_operation(cls, name):
        return cls(f"{name} is not served by this deployment yet")


class SerializationException(ServiceError):
    """A body that is not JSON, or not a JSON object."""

    code, status = "SerializationException", 400


class UnsupportedMediaTypeException(ServiceError):
    code, status = "UnsupportedMediaTypeException", 400

