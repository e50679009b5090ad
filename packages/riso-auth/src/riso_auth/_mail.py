"""Mail: the reset and verification texts, and a pluggable sender (default: the log)."""

from __future__ import annotations

import importlib
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

from riso_auth._exceptions import AuthConfigError

logger = logging.getLogger("riso.auth")

#: the riso-tasks task that sends a mail from a worker (registered by ``_tasks.py``)
MAIL_TASK_NAME = "riso_auth.send_mail"


@dataclass(frozen=True, slots=True)
class MailMessage:
    """One message to one address."""

    to: str
    subject: str
    body: str
    kind: Literal["reset", "verify", "email_change", "email_changed"]
    #: the link (with its token) the body contains ("" for a notice)
    link: str


def token_mail(kind: Literal["reset", "verify"], to: str, link: str) -> MailMessage:
    """The reset or verification mail to ``to``, carrying ``link``."""
    if kind == "reset":
        subject = "Reset your password"
        body = (
            f"Someone asked to reset the password of {to}.\n"
            f"Open {link}\nIgnore this mail if it was not you."
        )
    else:
        subject = "Verify your email address"
        body = f"Confirm that {to} is yours: open {link}"
    return MailMessage(to=to, subject=subject, body=body, kind=kind, link=link)


def email_change_mail(to: str, link: str) -> MailMessage:
    """To the new address: confirm it (the change waits for this)."""
    body = (
        f"Someone asked to move a riso account to {to}.\n"
        f"Confirm it is yours: open {link}\nIgnore this mail if it was not you."
    )
    return MailMessage(
        to=to, subject="Confirm your new email address", body=body, kind="email_change", link=link
    )


def email_changed_notice(to: str, new_email: str) -> MailMessage:
    """To the old address, once the change is done."""
    body = (
        f"The email address of your account is now {new_email}; {to} no longer signs in.\n"
        "If you did not ask for this, reset your password and contact us."
    )
    return MailMessage(
        to=to, subject="Your email address was changed", body=body, kind="email_changed", link=""
    )


@runtime_checkable
class MailSender(Protocol):
    """Anything with ``send(message)``; ``send`` may be a coroutine function."""

    def send(self, message: MailMessage) -> Awaitable[None] | None: ...


class LogMailSender:
    """Writes every message to the ``riso.auth`` log (development default).

    Under RISO_ENV=production the link, which holds a token, is left out.
    """

    def __init__(self, *, production: bool = False) -> None:
        self.production = production

    def send(self, message: MailMessage) -> None:
        if self.production:
            logger.warning(
                "no mail sender configured (RISO_AUTH_MAIL_SENDER): %s mail to %s not sent",
                message.kind,
                message.to,
            )
        else:
            logger.info("mail to %s: %s\n%s", message.to, message.subject, message.body)


class _CallableSender:
    def __init__(self, func: Callable[[MailMessage], Any]) -> None:
        self.func = func

    def send(self, message: MailMessage) -> Awaitable[None] | None:
        result: Awaitable[None] | None = self.func(message)
        return result


def as_sender(obj: object) -> MailSender:
    """Accept an object with ``send`` or a plain (async) callable."""
    if isinstance(obj, MailSender):
        return obj
    if callable(obj):
        return _CallableSender(obj)
    raise AuthConfigError(f"a mail sender needs a send(message) method, got {type(obj).__name__}")


def load_sender(path: str) -> MailSender:
    """Import ``module:attr``; a class is instantiated without arguments."""
    module_name, _, attr = path.partition(":")
    if not module_name or not attr:
        raise AuthConfigError(f"RISO_AUTH_MAIL_SENDER must be 'module:attr', not {path!r}")
    try:
        obj = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise AuthConfigError(f"RISO_AUTH_MAIL_SENDER {path!r} cannot be imported: {exc}") from None
    if inspect.isclass(obj):
        obj = obj()
    return as_sender(obj)


async def deliver(sender: MailSender, message: MailMessage) -> None:
    """Send, never letting a mail failure reach the client."""
    try:
        result = sender.send(message)
        if inspect.isawaitable(result):
            await result
    except Exception:
        logger.exception("sending the %s mail failed", message.kind)
