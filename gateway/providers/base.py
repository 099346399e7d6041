"""The adapter boundary between the pipeline and a provider's wire format.

An adapter turns a parsed client request into one upstream HTTP call, and the
upstream's answer (whole or streamed) back into the client's format plus the
token usage to charge. It does no I/O: `gateway.upstream` performs the calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from gateway.specs import EndpointSpec, ParsedRequest
from governance.snapshot import RouteTarget


class UpstreamGarbage(Exception):
    """The provider answered something that is not its documented format."""


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True, slots=True)
class UpstreamCall:
    url: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class Reply:
    body: bytes  # for the client
    usage: Usage | None  # as the provider reported it
    output_bytes: int  # generated text, to estimate tokens when usage is missing


class StreamDecoder(Protocol):
    usage: Usage | None
    output_bytes: int  # generated text streamed so far
    complete: bool  # the provider's end-of-stream marker arrived

    def feed(self, chunk: bytes) -> bytes:
        """Bytes for the client: every complete event in the data so far (raises
        UpstreamGarbage on an unreadable event)."""
        ...

    def finish(self) -> bytes:
        """The end of the upstream body: whatever is left, as client bytes."""
        ...

    def error_event(self, *, code: str, message: str, request_id: str) -> bytes:
        """An in-stream error for the client after the response has started."""
        ...


class ProviderAdapter(Protocol):
    """One provider wire format. `spec.client_format` says which format the client
    speaks: its own (relayed natively) or another (translated, gateway/translate)."""

    kinds: tuple[str, ...]

    def supports(self, spec: EndpointSpec) -> bool:
        """Whether this provider kind can serve the endpoint (routing skips it if not)."""
        ...

    def build_call(
        self, target: RouteTarget, spec: EndpointSpec, request: ParsedRequest
    ) -> UpstreamCall: ...

    def parse_reply(self, spec: EndpointSpec, raw: bytes) -> Reply: ...

    def stream_decoder(self, spec: EndpointSpec, request: ParsedRequest) -> StreamDecoder: ...

    def error_from(self, status: int, raw: bytes) -> tuple[str, str]:
        """(code, message) of an upstream error answer, for the client."""
        ...
