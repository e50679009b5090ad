"""The HTTP endpoints under ``/auth``."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import (
    APIRouter,
    BackgroundTasks,
    Depends,
    FastAPI,
    HTTPException,
    Request,
    Response,
    status,
)
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

import riso
from riso_auth._deps import CurrentUser, Runtime, unauthorized
from riso_auth._emails import normalize_email
from riso_auth._exceptions import InvalidEmailError, InvalidTokenError
from riso_auth._mail import MAIL_TASK_NAME, MailMessage, deliver
from riso_auth._ratelimit import account_key, client_address
from riso_auth._runtime import AuthRuntime
from riso_auth._schemas import (
    EmailIn,
    Message,
    PasswordChangeIn,
    PasswordForm,
    RefreshIn,
    RegisterIn,
    ResetIn,
    TokenIn,
    TokenOut,
    UserOut,
    ValidationMessage,
)
from riso_auth._sessions import TokenPair
from riso_auth._transport import check_csrf, clear_cookies, set_token_cookies

logger = logging.getLogger("riso.auth")

BAD_CREDENTIALS = "Incorrect email or password"
SENT = "If an account with that email exists, a message is on its way."


class _AuthRoute(APIRoute):
    """Starlette refuses a form field over 1 MB with a 400; for these endpoints an
    oversized field is a validation error like any other: 422."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except StarletteHTTPException as exc:
                if exc.status_code == 400 and "maximum size" in str(exc.detail):
                    raise HTTPException(
                        status.HTTP_422_UNPROCESSABLE_CONTENT, detail="A field is too large"
                    ) from None
                raise

        return route_handler


router = APIRouter(prefix="/auth", tags=["auth"], route_class=_AuthRoute)


def _pair_response(runtime: AuthRuntime, pair: TokenPair, response: Response) -> TokenOut:
    set_token_cookies(response, pair, runtime.settings)
    response.headers["Cache-Control"] = "no-store"
    return TokenOut(
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        expires_in=pair.expires_in,
    )


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    response_model=UserOut,
    responses={400: {"model": Message}, 422: {"model": ValidationMessage}, 429: {"model": Message}},
)
async def register(body: RegisterIn, request: Request, runtime: Runtime) -> UserOut:
    """Create an account from an email and a password."""
    if not runtime.settings.allow_registration:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="Registration is closed")
    address = client_address(request, runtime.settings)
    await runtime.limits.limit(f"register:addr:{address}", "register_address")
    user = await runtime.accounts.create_user(body.email, body.password)
    await runtime.emit("user_registered", user.id, user.email)
    return UserOut.of(user)


@router.post(
    "/token",
    response_model=TokenOut,
    responses={401: {"model": Message}, 422: {"model": ValidationMessage}, 429: {"model": Message}},
)
async def token(
    form: Annotated[PasswordForm, Depends()],
    request: Request,
    response: Response,
    runtime: Runtime,
) -> TokenOut:
    """Log in (OAuth2 password grant; ``username`` is the email): a new token pair.

    An unknown email and a wrong password get the same answer and cost the
    same single password verification.
    """
    address = client_address(request, runtime.settings)
    try:
        email = normalize_email(form.username)
    except InvalidEmailError as exc:  # no account can have it: say what is wrong
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, detail=f"username (the email) {exc}"
        ) from None
    await runtime.limits.check_login_allowed(email, address)
    user = await runtime.accounts.authenticate(email, form.password)
    if user is None or not user.is_active:
        await runtime.limits.record_login_failure(email, address)
        raise unauthorized(BAD_CREDENTIALS)
    if runtime.settings.require_verified and not user.is_verified:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="Email address not verified")
    pair = await runtime.sessions.login(user, form.scopes)
    await runtime.emit("user_signed_in", user.id, user.email, method="password")
    return _pair_response(runtime, pair, response)


@router.post(
    "/refresh",
    response_model=TokenOut,
    responses={401: {"model": Message}, 429: {"model": Message}},
)
async def refresh(
    request: Request, response: Response, runtime: Runtime, body: RefreshIn | None = None
) -> TokenOut:
    """Exchange a refresh token for a new pair; the one presented is spent.

    Presenting a spent refresh token again revokes its whole chain.
    """
    settings = runtime.settings
    address = client_address(request, settings)
    await runtime.limits.limit(f"refresh:addr:{address}", "refresh_address")
    presented = body.refresh_token if body is not None else None
    if not presented and settings.cookie_transport:
        presented = request.cookies.get(settings.refresh_cookie_name)
        if presented:
            check_csrf(request, settings)
    if not presented:
        raise unauthorized("No refresh token")
    try:
        pair = await runtime.sessions.refresh(presented)
    except InvalidTokenError:
        raise unauthorized("Invalid or expired refresh token") from None
    return _pair_response(runtime, pair, response)


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={401: {"model": Message}},
)
async def logout(user: CurrentUser, response: Response, runtime: Runtime) -> None:
    """Revoke this session's refresh chain and its access token, on every instance."""
    if user.via_api_key:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            detail="An API key has no session; revoke it with DELETE /auth/api-keys/{id}",
        )
    await runtime.sessions.logout(user)
    clear_cookies(response, runtime.settings)


@router.get("/me", response_model=UserOut, responses={401: {"model": Message}})
async def me(user: CurrentUser, runtime: Runtime) -> UserOut:
    """The account behind the access token, with the providers linked to it."""
    out = UserOut.of(user)
    if runtime.oidc_providers:  # without providers the list is empty and costs no query
        out.providers = await runtime.identities.providers_of(user.id)
    return out


@router.post(
    "/password",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={400: {"model": Message}, 401: {"model": Message}, 422: {"model": ValidationMessage}},
)
async def change_password(
    body: PasswordChangeIn,
    user: CurrentUser,
    request: Request,
    response: Response,
    runtime: Runtime,
) -> None:
    """Change the password (the current one is required); every session is revoked."""
    address = client_address(request, runtime.settings)
    await runtime.limits.check_login_allowed(user.email, address)
    if await runtime.accounts.authenticate(user.email, body.current_password) is None:
        await runtime.limits.record_login_failure(user.email, address)
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail="Current password is wrong")
    await runtime.accounts.set_password(user.id, body.new_password, user.email)
    clear_cookies(response, runtime.settings)


async def _mail_request(
    runtime: AuthRuntime, request: Request, email: str, kind: str, background: BackgroundTasks
) -> Message:
    """Count the request, answer, and only then look the account up and mail it.

    Before the answer both branches (account or not) do the same work, the
    rate limits; the lookup, the one-time token and the mail come after it, so
    the answer's timing says nothing about the account.
    """
    address = client_address(request, runtime.settings)
    await runtime.limits.limit(f"{kind}:addr:{address}", "forgot_address")
    await runtime.limits.limit(f"{kind}:acct:{account_key(email)}", "forgot_account")
    background.add_task(_send_token_mail, runtime, request.app, email, kind)
    return Message(detail=SENT)


async def _send_token_mail(runtime: AuthRuntime, app: FastAPI, email: str, kind: str) -> None:
    """After the answer: issue and store the token, then queue or send its mail."""
    try:
        message = await runtime.request_token_mail(email, kind)
    except Exception:  # the client has its answer already: log, never raise
        logger.exception("preparing the %s mail failed", kind)
        return
    if message is not None and not await _enqueue_mail(runtime, app, message):
        await deliver(runtime.mail, message)


async def _enqueue_mail(runtime: AuthRuntime, app: FastAPI, message: MailMessage) -> bool:
    """Hand the mail to the task queue when one is active and the sender comes from settings.

    The mail task is registered by ``riso_auth._tasks`` (``riso-auth[tasks]``).
    """
    enqueue = riso.registry(app).lookup(riso.TASK_ENQUEUER)
    if not runtime.mail_from_settings or enqueue is None:
        return False
    try:
        await enqueue(MAIL_TASK_NAME, dataclasses.asdict(message))
    except Exception:  # the broker is down: send from here instead
        logger.warning("could not enqueue the %s mail; sending it in-process", message.kind)
        return False
    return True


@router.post(
    "/forgot-password",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Message,
    responses={429: {"model": Message}},
)
async def forgot_password(
    body: EmailIn, request: Request, background: BackgroundTasks, runtime: Runtime
) -> Message:
    """Mail a single-use reset link; the answer is the same whether the account exists or not."""
    return await _mail_request(runtime, request, body.email, "reset", background)


@router.post(
    "/reset-password",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={400: {"model": Message}, 422: {"model": ValidationMessage}},
)
async def reset_password(body: ResetIn, runtime: Runtime) -> None:
    """Set a new password with a reset token; every session is revoked."""
    runtime.passwords.check_policy(body.password)
    try:
        user = await runtime.one_time.consume(body.token, "reset")
    except InvalidTokenError:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, detail="Invalid or expired reset token"
        ) from None
    await runtime.accounts.set_password(user.id, body.password, user.email)


@router.post(
    "/request-verify",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Message,
    responses={429: {"model": Message}},
)
async def request_verify(
    body: EmailIn, request: Request, background: BackgroundTasks, runtime: Runtime
) -> Message:
    """Mail a verification link; the answer is the same whether the account exists or not."""
    return await _mail_request(runtime, request, body.email, "verify", background)


@router.post(
    "/verify",
    response_model=UserOut,
    responses={400: {"model": Message}},
)
async def verify(body: TokenIn, runtime: Runtime) -> UserOut:
    """Mark the email address verified with a verification token."""
    try:
        user = await runtime.one_time.consume(body.token, "verify")
    except InvalidTokenError:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, detail="Invalid or expired verification token"
        ) from None
    await runtime.accounts.mark_verified(user.id)
    user.is_verified = True
    await runtime.emit("user_verified", user.id, user.email, by="self")
    return UserOut.of(user)
