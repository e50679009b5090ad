"""``riso auth users ...`` and ``riso auth roles ...``: the administration API from a shell.

Each command runs the same stores as the HTTP endpoints (so the last-superuser
rule and the revocation of sessions hold here too) on an event loop of its
own, and closes the database's connections before it returns.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import click
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

import riso
from riso_auth._account_admin import AccountView, UserChange, UserFilter
from riso_auth._emails import normalize_email
from riso_auth._exceptions import AuthError
from riso_auth._models import User
from riso_auth._passwords import has_usable_password
from riso_auth._runtime import AuthRuntime

T = TypeVar("T")


def _run(app: FastAPI, work: Callable[[AuthRuntime], Awaitable[T]]) -> T:
    """Run ``work`` on the app's runtime; an error becomes a one-line message."""
    from riso_auth._deps import runtime_of

    runtime = runtime_of(app)

    async def main() -> T:
        try:
            return await work(runtime)
        finally:
            await runtime.database.dispose()

    try:
        return asyncio.run(main())
    except AuthError as exc:
        raise click.ClickException(str(exc)) from None
    except SQLAlchemyError as exc:
        raise click.ClickException(f"the database refused: {type(exc).__name__}") from None


async def _resolve(runtime: AuthRuntime, who: str) -> int:
    """An account id from an id or an email."""
    if who.isdigit():
        return int(who)
    try:
        email = normalize_email(who)
    except AuthError:
        raise click.ClickException(f"{who[:80]!r} is neither an account id nor an email") from None
    async with runtime.database.sessionmaker() as session:
        found = await session.scalar(select(User.id).where(User.email == email))
    if found is None:
        raise click.ClickException(f"no account {email}")
    return found


async def _view(runtime: AuthRuntime, who: str) -> AccountView:
    view = await runtime.admin.get(await _resolve(runtime, who))
    if view is None:
        raise click.ClickException(f"no account {who[:80]}")
    return view


def _line(view: AccountView) -> str:
    user = view.user
    flags = [
        "active" if user.is_active else "INACTIVE",
        "verified" if user.is_verified else "unverified",
    ]
    if user.is_superuser:
        flags.append("superuser")
    roles = f" roles={','.join(view.roles)}" if view.roles else ""
    return f"{user.id:>6}  {user.email}  {' '.join(flags)}{roles}"


@click.group(name="users", help="List and administer accounts.")
def users() -> None:
    """riso-auth accounts."""


@users.command("list")
@click.option("--email", "email_prefix", default=None, help="Only emails starting with this.")
@click.option("--active/--inactive", "is_active", default=None, help="Only (in)active accounts.")
@click.option("--superusers", is_flag=True, default=False, help="Only superusers.")
@click.option("--role", default=None, help="Only accounts with this role.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 10_000))
@riso.pass_app
def list_users(
    app: FastAPI,
    email_prefix: str | None,
    is_active: bool | None,
    superusers: bool,
    role: str | None,
    limit: int,
) -> None:
    """One line per account, by id."""
    filters = UserFilter(email_prefix, is_active, None, True if superusers else None, role)

    async def work(runtime: AuthRuntime) -> list[AccountView]:
        found: list[AccountView] = []
        after: int | None = None
        while len(found) < limit:
            page, after = await runtime.admin.list(filters, after, min(200, limit - len(found)))
            found += page
            if after is None:
                break
        return found

    for view in _run(app, work):
        click.echo(_line(view))


@users.command("show")
@click.argument("who")
@riso.pass_app
def show_user(app: FastAPI, who: str) -> None:
    """An account (WHO: its id or email) in full."""
    view = _run(app, lambda runtime: _view(runtime, who))
    user = view.user
    click.echo(_line(view))
    click.echo(f"scopes: {user.scopes or '-'}")
    click.echo(f"password: {'set' if has_usable_password(user.hashed_password) else 'none'}")
    click.echo(f"created: {user.created_at.isoformat() if user.created_at else '-'}")


def _change(app: FastAPI, who: str, change: UserChange, done: str) -> None:
    async def work(runtime: AuthRuntime) -> AccountView | None:
        return await runtime.admin.update(await _resolve(runtime, who), change)

    view = _run(app, work)
    if view is None:
        raise click.ClickException(f"no account {who[:80]}")
    click.echo(f"{done} {view.user.email} (id {view.user.id})")


@users.command("deactivate")
@click.argument("who")
@riso.pass_app
def deactivate(app: FastAPI, who: str) -> None:
    """Deactivate an account: every session and API key ends."""
    _change(app, who, UserChange(is_active=False), "deactivated")


@users.command("activate")
@click.argument("who")
@riso.pass_app
def activate(app: FastAPI, who: str) -> None:
    """Activate an account again (its old sessions stay ended)."""
    _change(app, who, UserChange(is_active=True), "activated")


@users.command("promote")
@click.argument("who")
@riso.pass_app
def promote(app: FastAPI, who: str) -> None:
    """Make an account a superuser."""
    _change(app, who, UserChange(is_superuser=True), "promoted")


@users.command("demote")
@click.argument("who")
@riso.pass_app
def demote(app: FastAPI, who: str) -> None:
    """Take the superuser flag away (never from the last active superuser)."""
    _change(app, who, UserChange(is_superuser=False), "demoted")


@users.command("delete")
@click.argument("who")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@riso.pass_app
def delete_user(app: FastAPI, who: str, yes: bool) -> None:
    """Delete an account, its sessions, API keys and roles (the email is free again)."""
    if not yes:
        click.confirm(f"Delete the account {who}? This cannot be undone", abort=True)

    async def work(runtime: AuthRuntime) -> User | None:
        user_id = await _resolve(runtime, who)
        deleted = await runtime.admin.delete(user_id)
        if deleted is not None:
            await runtime.emit("user_deleted", user_id, deleted.email, by="cli")
        return deleted

    deleted = _run(app, work)
    if deleted is None:
        raise click.ClickException(f"no account {who[:80]}")
    click.echo(f"deleted {deleted.email} (id {deleted.id})")


@click.group(name="roles", help="Manage roles (named sets of scopes).")
def roles() -> None:
    """riso-auth roles."""


@roles.command("list")
@riso.pass_app
def list_roles(app: FastAPI) -> None:
    """One line per role: its name and scopes."""
    for role in _run(app, lambda runtime: runtime.roles.list()):
        click.echo(f"{role.name}  {role.scopes or '-'}  {role.description}".rstrip())


@roles.command("create")
@click.argument("name")
@click.option("--scopes", default="", help="Space-separated scopes the role grants.")
@click.option("--description", default="", help="What the role is for.")
@riso.pass_app
def create_role(app: FastAPI, name: str, scopes: str, description: str) -> None:
    """Create a role."""
    role = _run(app, lambda runtime: runtime.roles.create(name, scopes.split(), description))
    click.echo(f"created role {role.name} ({role.scopes or 'no scopes'})")


@roles.command("set-scopes")
@click.argument("name")
@click.argument("scopes", nargs=-1)
@riso.pass_app
def set_scopes(app: FastAPI, name: str, scopes: tuple[str, ...]) -> None:
    """Replace the role's scopes (holders get them on their next token)."""
    role = _run(app, lambda runtime: runtime.roles.update(name, scopes=list(scopes)))
    click.echo(f"role {role.name}: {role.scopes or 'no scopes'}")


@roles.command("delete")
@click.argument("name")
@riso.pass_app
def delete_role(app: FastAPI, name: str) -> None:
    """Delete a role; its holders lose it on their next token."""
    _run(app, lambda runtime: runtime.roles.delete(name))
    click.echo(f"deleted role {name}")


@roles.command("grant")
@click.argument("name")
@click.argument("who")
@riso.pass_app
def grant(app: FastAPI, name: str, who: str) -> None:
    """Give the role NAME to an account (WHO: its id or email)."""

    async def work(runtime: AuthRuntime) -> None:
        await runtime.roles.grant(name, await _resolve(runtime, who))

    _run(app, work)
    click.echo(f"granted {name} to {who}")


@roles.command("revoke")
@click.argument("name")
@click.argument("who")
@riso.pass_app
def revoke(app: FastAPI, name: str, who: str) -> None:
    """Take the role NAME from an account."""

    async def work(runtime: AuthRuntime) -> None:
        await runtime.roles.revoke(name, await _resolve(runtime, who))

    _run(app, work)
    click.echo(f"revoked {name} from {who}")
