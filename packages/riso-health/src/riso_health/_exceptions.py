"""Every error riso-health raises derives from one root, ``HealthError``.

The tree::

    riso.RisoError
    └── HealthError                 root of riso-health's errors
        ├── CheckFailedError        a built-in check (http_check, disk_space_check) found
        │                           its dependency unhealthy; the message is safe to show
        └── CheckRegistrationError  an application check cannot be registered (bad name,
                                    duplicate name, not callable)

A failing check may raise anything: riso-health catches every ``Exception`` a
check raises, turns it into a sanitised one-line ``output`` and never shows
its type's repr or traceback.
"""

from __future__ import annotations

from riso import RisoError


class HealthError(RisoError):
    """Root of every riso-health error."""


class CheckFailedError(HealthError):
    """A built-in check found its dependency unhealthy."""


class CheckRegistrationError(HealthError):
    """An application health check cannot be registered."""
