"""The exceptions of the sigprop client: one per gRPC status a caller can act on."""

from typing import Any

import grpc


class SigpropError(Exception):
    """A call to the sigprop service failed. `code` is the gRPC status code (None if local)."""

    def __init__(self, message: str, code: Any = None) -> None:
        super().__init__(message)
        self.code = code


class AuthenticationError(SigpropError):
    """UNAUTHENTICATED: no token, or one the server's --tokens file does not list."""


class PermissionDeniedError(SigpropError):
    """PERMISSION_DENIED: the sweep belongs to another user."""


class InvalidSpecError(SigpropError, ValueError):
    """The spec does not parse, or the server refused it (INVALID_ARGUMENT names the field)."""


class NotFoundError(SigpropError, LookupError):
    """NOT_FOUND: no sweep with that id."""


class ResourceExhaustedError(SigpropError):
    """RESOURCE_EXHAUSTED: the sweep is over one of the server's limits."""


class UnavailableError(SigpropError, ConnectionError):
    """UNAVAILABLE: the server cannot be reached, or is shutting down."""


class SweepTimeoutError(SigpropError, TimeoutError):
    """A wait with a timeout ended before the sweep did."""


class SweepFailedError(SigpropError):
    """The sweep ended FAILED; the message is the server's reason."""


_BY_CODE = {
    grpc.StatusCode.UNAUTHENTICATED: AuthenticationError,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDeniedError,
    grpc.StatusCode.INVALID_ARGUMENT: InvalidSpecError,
    grpc.StatusCode.NOT_FOUND: NotFoundError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhaustedError,
    grpc.StatusCode.UNAVAILABLE: UnavailableError,
}

_HINTS = {
    grpc.StatusCode.UNAUTHENTICATED:
        " — pass Client(target, token=...) with a token listed in the server's --tokens file",
    grpc.StatusCode.UNAVAILABLE: " — is sigprop-server running there?",
}


def from_rpc(error: Any, what: str, target: str) -> "SigpropError":
    """The SigpropError for a grpc.RpcError raised by `what` (e.g. 'Submit') against `target`."""
    code = error.code()
    cls = _BY_CODE.get(code, SigpropError)
    message = f"{what} on {target}: {error.details()} ({code.name}){_HINTS.get(code, '')}"
    return cls(message, code)
