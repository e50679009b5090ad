"""Sending mail through riso-tasks when the feature "tasks" is active.

Imported only when riso-tasks is installed (by ``riso.include`` and by the
worker, which includes the app too), so riso-auth does not depend on it.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import riso
import riso_tasks
from riso_auth._mail import MAIL_TASK_NAME, LogMailSender, MailMessage, MailSender, load_sender
from riso_auth._settings import AuthSettings


def sender_from_settings() -> MailSender:
    settings = AuthSettings()
    if settings.mail_sender:
        return load_sender(settings.mail_sender)
    return LogMailSender(production=riso.CoreSettings().is_production)


@riso_tasks.task(name=MAIL_TASK_NAME, max_retries=3, default_retry_delay=30, sensitive_args=True)
def send_mail(message: dict[str, Any]) -> None:
    """Send one reset or verification mail with the sender the settings name."""
    result = sender_from_settings().send(MailMessage(**message))
    if inspect.isawaitable(result):
        asyncio.run(_wait(result))


async def _wait(awaitable: Any) -> None:
    await awaitable
