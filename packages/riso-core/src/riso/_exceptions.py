"""Every error riso-core raises derives from one root, ``RisoError``.

The tree::

    RisoError
    ├── DiscoveryError            an entry point cannot be loaded or is not a Feature
    │   └── DuplicateFeatureError two distributions provide the same feature name
    ├── RequirementError          the requested set of features cannot be composed
    │   ├── MissingRequirementError   a required feature is not installed
    │   ├── DisabledRequirementError  a required feature is installed but disabled
    │   └── CycleError                features require each other in a loop
    ├── IncompatibleCoreError     a feature does not support the installed riso-core
    ├── SettingsError             one or more environment variables are invalid
    ├── AppStateError             include() called on an app that already started
    └── AppNotFoundError          the CLI cannot find or import the application

Messages are written for the person who has to fix the problem: each names the
feature, its distribution and what to do.
"""

from __future__ import annotations


class RisoError(Exception):
    """Root of every riso error."""


class DiscoveryError(RisoError):
    """An entry point in the ``riso.features`` group is unusable."""


class DuplicateFeatureError(DiscoveryError):
    """Two distributions declare a feature with the same name."""


class RequirementError(RisoError):
    """The features to include cannot be put together."""


class MissingRequirementError(RequirementError):
    """A feature requires another feature that is not installed."""


class DisabledRequirementError(RequirementError):
    """A feature requires another feature that is installed but disabled."""


class CycleError(RequirementError):
    """Features require each other in a loop."""


class IncompatibleCoreError(RisoError):
    """A feature does not support the installed version of riso-core."""


class SettingsError(RisoError):
    """Settings read from the environment are invalid.

    ``problems`` holds one ``(variable, feature, message)`` tuple per invalid
    variable, so callers can render them differently from the message.
    """

    def __init__(self, problems: list[tuple[str, str, str]]) -> None:
        self.problems = problems
        lines = [f"  {var} (feature '{feature}'): {msg}" for var, feature, msg in problems]
        noun = "setting" if len(problems) == 1 else "settings"
        super().__init__(f"{len(problems)} invalid {noun}:\n" + "\n".join(lines))


class AppStateError(RisoError):
    """The application is in a state where the operation is not possible."""


class AppNotFoundError(RisoError):
    """The CLI cannot find or import the application."""
