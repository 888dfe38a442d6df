"""Whether traces are on, and where they go: routes.yaml's ``tracing:`` over the standard
OpenTelemetry variables (``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``, ``OTEL_EXPORTER_OTLP_ENDPOINT``,
``OTEL_SDK_DISABLED``, ``OTEL_TRACES_EXPORTER=none``, ``OTEL_SERVICE_NAME``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["TracingSettings"]

_DEFAULT_SERVICE = "claude-gateway"


@dataclass(frozen=True, slots=True)
class TracingSettings:
    enabled: bool = False
    #: The traces URL routes.yaml names; None: the exporter reads the OTEL_ variables itself.
    endpoint: str | None = None
    service_name: str = _DEFAULT_SERVICE

    @classmethod
    def from_config(
        cls, raw: Mapping[str, Any], environ: Mapping[str, str] = os.environ
    ) -> TracingSettings:
        endpoint = raw.get("endpoint") or None
        from_env = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get(
            "OTEL_EXPORTER_OTLP_ENDPOINT"
        )
        switched_off = (
            raw.get("enabled") is False
            or environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"
            or environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none"
        )
        service = raw.get("service_name") or environ.get("OTEL_SERVICE_NAME") or _DEFAULT_SERVICE
        return cls(
            enabled=bool(endpoint or from_env) and not switched_off,
            endpoint=endpoint,
            service_name=service,
        )

    @property
    def destination(self) -> str:
        """Where spans go, for the log: the URL, or which variable names it."""
        if self.endpoint:
            return self.endpoint
        traces = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        return traces or (os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "") + "/v1/traces")
