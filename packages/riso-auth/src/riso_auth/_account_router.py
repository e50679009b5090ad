"""Self-service endpoints: ``PATCH``/``DELETE /auth/me``, the email-change confirmation, API keys.

A change that could lock the owner out (a new email, deletion) needs the
current password, or for an account without one (provider sign-in) a sign-in
at most ``RISO_AUTH_RECENT_SIGN_IN_SECONDS`` ago. None of these accept an API
key as the caller: a leaked key must not be able to mint keys or take the
account.
"""

from __future__ import annotations

from fastapi import APIRouter, BackgroundTasks, FastAPI, HTTPException, Request, Response, status

from riso_auth._account_schemas import (
    ApiKeyIn,
    ApiKeyOut,
    ConfirmIn,
    EmailChangeTokenIn,
    MeUpdateIn,
    NewApiKeyOut,
)
from riso_auth._deps import CurrentUser, Runtime
from riso_auth._exceptions import InvalidTokenError
from riso_auth._mail import MailMessage, deliver, email_change_mail, email_changed_notice
from riso_auth._models import User
from riso_auth._passwords import has_usable_password
from riso_auth._principals import Principal
from riso_auth._ratelimit import client_address
from riso_auth._runtime import AuthRuntime
from riso_auth._schemas import Message, UserOut

router = APIRouter(prefix="/auth", tags=["auth"])

BAD_CHANGE_TOKEN = "Invalid or expired email-change token"  # noqa: S105 - a message
CONFIRM_SENT = "A confirmation was sent to the new address; the change takes effect once confirmed."


def _no_api_key(user: Principal) -> None:
    if user.via_api_key:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, detail="Not allowed with an API key; sign in instead"
        )


async def _confirm_identity(
    runtime: AuthRuntime, request: Request, user: Principal, current_password: str | None
) -> None:
    """The current password, or a recent sign-in for an account that has none."""
    _no_api_key(user)
    async with runtime.database.sessionmaker() as session:
        row = await session.get(User, user.id)
    if row is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="Invalid or expired token")
    if has_usable_password(row.hashed_password):
        if current_password is None:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, detail="current_password is required")
        address = client_address(request, runtime.settings)
        await runtime.limits.check_login_allowed(user.email, address)
        if await runtime.accounts.authenticate(user.email, current_password) is None:
            await runtime.limits.record_login_failure(user.email, address)
            raise HTTPException(status.HTTP_400_BAD_REQUEST, detail="Current password is wrong")
        return
    recent = runtime.settings.recent_sign_in_seconds
    if not await runtime.email_changes.signed_in_since(user.session_id, recent):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, detail="Sign in again to confirm this change"
        )


async def _send(runtime: AuthRuntime, app: FastAPI, message: MailMessage) -> None:
    from riso_auth._router import _enqueue_mail

    if not await _enqueue_mail(runtime, app, message):
        await deliver(runtime.mail, message)


@router.patch(
    "/me",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Message,
    responses={400: {"model": Message}, 401: {"model": Message}, 403: {"model": Message}},
)
async def update_me(
    body: MeUpdateIn,
    user: CurrentUser,
    request: Request,
    background: BackgroundTasks,
    runtime: Runtime,
) -> Message:
    """Change the email: a confirmation goes to the new address, the old one works until then."""
    await _confirm_identity(runtime, request, user, body.current_password)
    if body.email is None or body.email == user.email:
        return Message(detail="Nothing to change")
    # each request mails an address the caller chose: the reset mails' per-account rate
    await runtime.limits.limit(f"email_change:acct:{user.id}", "forgot_account")
    change = await runtime.email_changes.request(user.id, body.email)
    background.add_task(_send, runtime, request.app, email_change_mail(body.email, change.link))
    return Message(detail=CONFIRM_SENT)


@router.post(
    "/verify-email-change",
    response_model=UserOut,
    responses={400: {"model": Message}},
)
async def verify_email_change(
    body: EmailChangeTokenIn, request: Request, background: BackgroundTasks, runtime: Runtime
) -> UserOut:
    """Confirm a new email address with the token mailed to it; the old address gets a notice."""
    try:
        change = await runtime.email_changes.confirm(body.token)
    except InvalidTokenError:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=BAD_CHANGE_TOKEN) from None
    background.add_task(
        _send, runtime, request.app, email_changed_notice(change.old_email, change.new_email)
    )
    await runtime.emit(
        "user_email_changed", change.user_id, change.new_email, old_email=change.old_email
    )
    view = await runtime.admin.get(change.user_id)
    if view is None:  # deleted in between
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=BAD_CHANGE_TOKEN)
    return UserOut.of(view.user)


@router.delete(
    "/me",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={400: {"model": Message}, 401: {"model": Message}, 409: {"model": Message}},
)
async def delete_me(
    user: CurrentUser,
    request: Request,
    response: Response,
    runtime: Runtime,
    body: ConfirmIn | None = None,
) -> None:
    """Delete the account: every session and API key ends at once."""
    await _confirm_identity(runtime, request, user, body.current_password if body else None)
    deleted = await runtime.admin.delete(user.id)
    if deleted is not None:
        await runtime.emit("user_deleted", user.id, user.email, by="self")
    from riso_auth._transport import clear_cookies

    clear_cookies(response, runtime.settings)


@router.post(
    "/api-keys",
    status_code=status.HTTP_201_CREATED,
    response_model=NewApiKeyOut,
    responses={401: {"model": Message}, 403: {"model": Message}},
)
async def create_api_key(
    body: ApiKeyIn, user: CurrentUser, response: Response, runtime: Runtime
) -> NewApiKeyOut:
    """A new key with scopes the account holds; the answer is the only time it is shown."""
    _no_api_key(user)
    new = await runtime.api_keys.create(user.id, body.name, body.scopes, body.expires_in_days)
    response.headers["Cache-Control"] = "no-store"
    return NewApiKeyOut(**ApiKeyOut.of(new.row).model_dump(), key=new.key)


@router.get("/api-keys", response_model=list[ApiKeyOut], responses={401: {"model": Message}})
async def list_api_keys(user: CurrentUser, runtime: Runtime) -> list[ApiKeyOut]:
    """The caller's keys that are not revoked (never their secrets)."""
    return [ApiKeyOut.of(row) for row in await runtime.api_keys.list(user.id)]


@router.delete(
    "/api-keys/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={401: {"model": Message}, 404: {"model": Message}},
)
async def revoke_api_key(key_id: str, user: CurrentUser, runtime: Runtime) -> None:
    """Revoke one of the caller's keys: refused at once here, within the cache time elsewhere."""
    if len(key_id) > 32 or not await runtime.api_keys.revoke(user.id, key_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="No such API key")
    runtime.principal_cache.forget_key(key_id)
