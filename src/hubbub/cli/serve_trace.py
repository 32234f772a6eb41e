"""``hubbub serve --trace``: the hub's own spans (one per admitted envelope).

The hub gets a :class:`~hubbub.network.tracing.TracingInterceptor` on the global
OpenTelemetry tracer provider. Which exporter that provider has is the
deployment's choice, the usual OpenTelemetry way:

* run under ``opentelemetry-instrument hubbub serve ... --trace`` and the
  provider it configures from the ``OTEL_*`` variables is used as it is;
* otherwise, with ``OTEL_TRACES_EXPORTER=console`` (and ``opentelemetry-sdk``
  installed) each finished span is written to stderr as one JSON line, and with
  ``OTEL_TRACES_EXPORTER=otlp`` they go to the OTLP endpoint of
  ``OTEL_EXPORTER_OTLP_ENDPOINT`` (needs ``opentelemetry-exporter-otlp-proto-http``).

The spans are flushed when the server stops.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

from hubbub.cli._errors import UsageError

__all__ = ["hub_tracing"]

_NEEDS_API = "--trace needs OpenTelemetry: pip install 'hubbub[otel]'"
_NEEDS_SDK = "OTEL_TRACES_EXPORTER={name} needs opentelemetry-sdk: pip install opentelemetry-sdk"


def hub_tracing() -> tuple[Any, Callable[[], None]]:
    """The hub's tracing interceptor and what to call when serving ends (flush).

    Raises:
        UsageError: OpenTelemetry (or the SDK or exporter the environment names)
            is not installed, or ``OTEL_TRACES_EXPORTER`` names an unknown exporter.
    """
    try:
        from opentelemetry import trace

        from hubbub.network.tracing import TracingInterceptor
    except ImportError:
        raise UsageError(_NEEDS_API) from None
    name = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if name in ("", "none"):
        return TracingInterceptor(), lambda: None  # the global provider, whatever it is
    provider = _sdk_provider(name)
    trace.set_tracer_provider(provider)
    return TracingInterceptor(tracer_provider=provider), provider.shutdown


def _sdk_provider(name: str) -> Any:
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
    except ImportError:
        raise UsageError(_NEEDS_SDK.format(name=name)) from None
    exporter: Any
    if name == "console":
        exporter = ConsoleSpanExporter(
            out=sys.stderr, formatter=lambda span: span.to_json(indent=None) + "\n"
        )
    elif name == "otlp":
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[import-not-found,unused-ignore]
                OTLPSpanExporter,
            )
        except ImportError:
            raise UsageError(
                "OTEL_TRACES_EXPORTER=otlp needs pip install opentelemetry-exporter-otlp-proto-http"
            ) from None
        exporter = OTLPSpanExporter()
    else:
        raise UsageError(f"OTEL_TRACES_EXPORTER={name!r}: hubbub serve knows console and otlp")
    service = os.environ.get("OTEL_SERVICE_NAME", "hubbub-serve")
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider
