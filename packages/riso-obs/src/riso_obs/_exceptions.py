"""Every error riso-obs raises derives from one root, ``ObsError``.

The tree::

    RisoError                      (riso-core)
    └── ObsError                   root of riso-obs errors
        └── TracingConfigError     the OTEL_* variables ask for something unavailable
                                   (unknown exporter, OTLP extra not installed)

Messages name the variable to fix and never echo secret values.
"""

from __future__ import annotations

from riso import RisoError


class ObsError(RisoError):
    """Root of every riso-obs error."""


class TracingConfigError(ObsError):
    """The OpenTelemetry configuration read from ``OTEL_*`` variables is unusable."""
