"""System checks: plain callables that inspect a configured app.

A check takes a ``CheckContext`` and returns (or yields) ``CheckMessage``
objects. The level is part of the id: ``auth.E001`` is an error,
``auth.W001`` a warning, ``auth.I001`` information.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from riso._settings import CoreSettings

_ID = re.compile(r"^[a-z][a-z0-9_]*\.([IWE])\d{3}$")


class Level(IntEnum):
    INFO = 10
    WARNING = 30
    ERROR = 40


_LEVELS = {"I": Level.INFO, "W": Level.WARNING, "E": Level.ERROR}


@dataclass(frozen=True, slots=True)
class CheckMessage:
    id: str
    message: str
    hint: str | None = None

    def __post_init__(self) -> None:
        if not _ID.match(self.id):
            raise ValueError(
                f"check id {self.id!r} must look like 'feature.E001' (E, W or I, three digits)"
            )

    @property
    def level(self) -> Level:
        return _LEVELS[self.id.split(".")[1][0]]

    def __str__(self) -> str:
        text = f"{self.id}: {self.message}"
        return f"{text}\n\tHINT: {self.hint}" if self.hint else text


@dataclass(frozen=True, slots=True)
class CheckContext:
    """What a system check may look at."""

    app: Any
    #: validated settings of every active feature, by feature name
    settings: Mapping[str, Any]
    core: CoreSettings
    #: True under ``riso check --deploy``: report production hazards too
    deploy: bool


SystemCheck = Callable[[CheckContext], Iterable[CheckMessage]]


def core_checks(ctx: CheckContext) -> Iterable[CheckMessage]:
    """riso-core's own checks."""
    if not ctx.deploy:
        return
    if not ctx.core.is_production:
        yield CheckMessage(
            "core.E001",
            f"RISO_ENV is {ctx.core.env!r}, so development conveniences stay on.",
            hint="set RISO_ENV=production in the deployed environment",
        )
    if getattr(ctx.app, "debug", False):
        yield CheckMessage(
            "core.E002",
            "the app runs with debug=True, which shows tracebacks to clients.",
            hint="create the app with FastAPI(debug=False) in production",
        )


#: (check id, core setting, what is unbounded when it is 0)
_LIMITS = (
    ("core.W001", "max_body_size", "request bodies of any size are read"),
    ("core.W002", "limit_concurrency", "connections and requests in progress are unbounded"),
    ("core.W003", "max_head_size", "request heads of any size are read"),
    ("core.W004", "max_header_count", "requests may carry any number of headers"),
    ("core.W005", "head_timeout", "a client may take forever to send a request head"),
    ("core.W006", "body_timeout", "a request body may stall forever"),
)


def limit_checks(ctx: CheckContext) -> Iterable[CheckMessage]:
    """Production limits that are off (0) in the core settings (``--deploy`` only)."""
    if not ctx.deploy:
        return
    for check_id, field, consequence in _LIMITS:
        if not getattr(ctx.core, field):
            yield CheckMessage(
                check_id,
                f"RISO_{field.upper()} is 0: {consequence}.",
                hint=f"unset RISO_{field.upper()} (the default bounds it) or set a limit",
            )


def run_checks(checks: Iterable[SystemCheck], ctx: CheckContext) -> list[CheckMessage]:
    """Run every check; drop the ids silenced by RISO_SILENCED_CHECKS."""
    silenced = set(ctx.core.silenced_checks_list)
    messages: list[CheckMessage] = []
    for check in checks:
        messages.extend(m for m in check(ctx) if m.id not in silenced)
    return messages
