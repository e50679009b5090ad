"""``riso auth ...`` commands."""

from __future__ import annotations

import click
from fastapi import FastAPI
from sqlalchemy.exc import IntegrityError

import riso
from riso_auth._accounts import new_account
from riso_auth._cli_accounts import roles, users
from riso_auth._exceptions import PasswordPolicyError
from riso_auth._passwords import normalize


@click.group(name="auth", help="Manage riso-auth accounts.")
def cli() -> None:
    """riso-auth commands."""


@cli.command("create-user")
@click.argument("email")
@click.option("--superuser", is_flag=True, help="Give the account every privilege.")
@click.option(
    "--verified/--unverified",
    default=True,
    show_default=True,
    help="Mark the email address verified.",
)
@click.option("--scopes", default="", help="Space-separated scopes to grant.")
@click.password_option(
    "--password",
    prompt="Password",
    hide_input=True,
    confirmation_prompt=True,
    help="Asked without echo when not given (prefer the prompt: options end up in shell history).",
)
@riso.pass_app
def create_user(
    app: FastAPI, email: str, superuser: bool, verified: bool, scopes: str, password: str
) -> None:
    """Create an account for EMAIL; the password is asked without echo."""
    from riso_auth._deps import runtime_of
    from riso_auth._schemas import _valid_email

    try:
        email = _valid_email(email)
    except ValueError as exc:
        raise click.ClickException(f"{email!r} is {exc}") from None
    runtime = runtime_of(app)
    try:
        runtime.passwords.check_policy(password, email=email)
    except PasswordPolicyError as exc:
        raise click.ClickException(str(exc)) from None
    # synchronous on purpose: a command has no event loop to keep free
    hashed = runtime.passwords.context.hash(normalize(password))
    user = new_account(email, hashed, is_superuser=superuser, is_verified=verified, scopes=scopes)
    db = runtime.database
    try:
        with db.sync_sessionmaker() as session:
            session.add(user)
            session.commit()
            user_id = user.id
    except IntegrityError:
        raise click.ClickException(f"an account with the email {email} already exists") from None
    finally:
        db.dispose_sync()
    kind = "superuser" if superuser else "user"
    click.echo(f"created {kind} {email} (id {user_id})")


cli.add_command(users)
cli.add_command(roles)
