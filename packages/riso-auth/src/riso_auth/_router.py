"""The HTTP endpoints under ``/auth``."""

from __future__ import annotations

import dataclasses
import logging
import re
import secrets
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import (
    APIRouter,
    BackgroundTasks,
    Depends,
    Form,
    HTTPException,
    Request,
    Response,
    status,
)
from fastapi.routing import APIRoute
from pydantic import AfterValidator, BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

import riso
from riso_auth._deps import CurrentUser, check_csrf, runtime_of, unauthorized
from riso_auth._exceptions import InvalidTokenError
from riso_auth._mail import MAIL_TASK_NAME, MailMessage, deliver
from riso_auth._models import User
from riso_auth._ratelimit import account_key, client_address
from riso_auth._runtime import AuthRuntime, Principal, TokenPair, normalize_email

#: characters; longer passwords are a 422 before anything else happens
MAX_PASSWORD_CHARS = 4096
MAX_TOKEN_CHARS = 65536
logger = logging.getLogger("riso.auth")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")


def _valid_email(value: str) -> str:
    value = normalize_email(value)
    if len(value) > 320 or not _EMAIL.match(value):
        raise ValueError("not a valid email address")
    return value


#: the schema documents what the validator accepts (format and pattern are not
#: enforced by pydantic: the validator is), so generated clients and fuzzers
#: send valid addresses
Email = Annotated[
    str,
    Field(
        max_length=320,
        json_schema_extra={"format": "email", "pattern": r"^[^@\s]+@[^@\s]+\.[^@\s.]+$"},
    ),
    AfterValidator(_valid_email),
]
Password = Annotated[str, Field(min_length=1, max_length=MAX_PASSWORD_CHARS)]


class RegisterIn(BaseModel):
    email: Email
    password: Password


class UserOut(BaseModel):
    id: int
    email: str
    is_active: bool
    is_verified: bool
    is_superuser: bool
    scopes: list[str]

    @classmethod
    def of(cls, user: User | Principal, scopes: list[str] | None = None) -> UserOut:
        return cls(
            id=user.id,
            email=user.email,
            is_active=user.is_active,
            is_verified=user.is_verified,
            is_superuser=user.is_superuser,
            scopes=scopes
            if scopes is not None
            else sorted(user.scopes.split())
            if isinstance(user, User)
            else sorted(user.scopes),
        )


class TokenOut(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int


class RefreshIn(BaseModel):
    refresh_token: Annotated[str | None, Field(max_length=MAX_TOKEN_CHARS)] = None


class PasswordChangeIn(BaseModel):
    current_password: Password
    new_password: Password


class EmailIn(BaseModel):
    email: Email


class ResetIn(BaseModel):
    token: Annotated[str, Field(max_length=MAX_TOKEN_CHARS)]
    password: Password


class TokenIn(BaseModel):
    token: Annotated[str, Field(max_length=MAX_TOKEN_CHARS)]


class Message(BaseModel):
    detail: str


class ValidationMessage(BaseModel):
    """A 422: FastAPI's list of validation errors, or one message (password policy)."""

    detail: str | list[dict[str, Any]]


class PasswordForm:
    """OAuth2's password grant form (``username`` is the email), with size limits."""

    def __init__(
        self,
        username: Annotated[str, Form(max_length=320)],
        password: Annotated[str, Form(max_length=MAX_PASSWORD_CHARS)],
        grant_type: Annotated[str | None, Form(pattern="^password$")] = None,
        scope: Annotated[str, Form(max_length=2048)] = "",
        client_id: Annotated[str | None, Form(max_length=256)] = None,
        client_secret: Annotated[str | None, Form(max_length=256)] = None,
    ) -> None:
        self.username = username
        self.password = password
        self.grant_type = grant_type
        self.scopes = scope.split()
        self.client_id = client_id
        self.client_secret = client_secret


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
    settings = runtime.settings
    if settings.cookie_transport:
        common: dict[str, Any] = {
            "secure": True,
            "path": "/",
            "samesite": settings.cookie_samesite,
        }
        response.set_cookie(
            settings.cookie_name,
            pair.access_token,
            max_age=pair.expires_in,
            httponly=True,
            **common,
        )
        response.set_cookie(
            settings.refresh_cookie_name,
            pair.refresh_token,
            max_age=settings.refresh_token_lifetime,
            httponly=True,
            **common,
        )
        response.set_cookie(
            settings.csrf_cookie_name,
            secrets.token_urlsafe(32),
            max_age=settings.refresh_token_lifetime,
            httponly=False,  # the page's script reads it to send it back as a header
            **common,
        )
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
async def register(body: RegisterIn, request: Request) -> UserOut:
    """Create an account from an email and a password."""
    runtime = runtime_of(request.app)
    if not runtime.settings.allow_registration:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="Registration is closed")
    address = client_address(request, runtime.settings)
    await runtime.limit(f"register:addr:{address}", "register_address")
    user = await runtime.create_user(body.email, body.password)
    return UserOut.of(user)


@router.post(
    "/token",
    response_model=TokenOut,
    responses={401: {"model": Message}, 429: {"model": Message}},
)
async def token(
    form: Annotated[PasswordForm, Depends()], request: Request, response: Response
) -> TokenOut:
    """Log in (OAuth2 password grant; ``username`` is the email): a new token pair.

    An unknown email and a wrong password get the same answer and cost the
    same single password verification.
    """
    runtime = runtime_of(request.app)
    address = client_address(request, runtime.settings)
    email = normalize_email(form.username)
    await runtime.check_login_allowed(email, address)
    user = await runtime.authenticate(email, form.password)
    if user is None or not user.is_active:
        await runtime.record_login_failure(email, address)
        raise unauthorized(BAD_CREDENTIALS)
    if runtime.settings.require_verified and not user.is_verified:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="Email address not verified")
    pair = await runtime.login(user, form.scopes)
    return _pair_response(runtime, pair, response)


@router.post(
    "/refresh",
    response_model=TokenOut,
    responses={401: {"model": Message}, 429: {"model": Message}},
)
async def refresh(request: Request, response: Response, body: RefreshIn | None = None) -> TokenOut:
    """Exchange a refresh token for a new pair; the one presented is spent.

    Presenting a spent refresh token again revokes its whole chain.
    """
    runtime = runtime_of(request.app)
    settings = runtime.settings
    address = client_address(request, settings)
    await runtime.limit(f"refresh:addr:{address}", "refresh_address")
    presented = body.refresh_token if body is not None else None
    if not presented and settings.cookie_transport:
        presented = request.cookies.get(settings.refresh_cookie_name)
        if presented:
            check_csrf(request, runtime)
    if not presented:
        raise unauthorized("No refresh token")
    try:
        pair = await runtime.refresh(presented)
    except InvalidTokenError:
        raise unauthorized("Invalid or expired refresh token") from None
    return _pair_response(runtime, pair, response)


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={401: {"model": Message}},
)
async def logout(user: CurrentUser, request: Request, response: Response) -> None:
    """Revoke this session's refresh chain and its access token, on every instance."""
    runtime = runtime_of(request.app)
    await runtime.logout(user)
    _clear_cookies(runtime, response)


def _clear_cookies(runtime: AuthRuntime, response: Response) -> None:
    settings = runtime.settings
    if settings.cookie_transport:
        for name in (settings.cookie_name, settings.refresh_cookie_name, settings.csrf_cookie_name):
            response.delete_cookie(
                name, path="/", secure=True, httponly=True, samesite=settings.cookie_samesite
            )


@router.get("/me", response_model=UserOut, responses={401: {"model": Message}})
async def me(user: CurrentUser) -> UserOut:
    """The account behind the access token."""
    return UserOut.of(user)


@router.post(
    "/password",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={400: {"model": Message}, 401: {"model": Message}, 422: {"model": ValidationMessage}},
)
async def change_password(
    body: PasswordChangeIn, user: CurrentUser, request: Request, response: Response
) -> None:
    """Change the password (the current one is required); every session is revoked."""
    runtime = runtime_of(request.app)
    address = client_address(request, runtime.settings)
    await runtime.check_login_allowed(user.email, address)
    if await runtime.authenticate(user.email, body.current_password) is None:
        await runtime.record_login_failure(user.email, address)
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail="Current password is wrong")
    await runtime.set_password(user.id, body.new_password, user.email)
    _clear_cookies(runtime, response)


async def _mail_request(
    runtime: AuthRuntime, request: Request, email: str, kind: str, background: BackgroundTasks
) -> Message:
    address = client_address(request, runtime.settings)
    await runtime.limit(f"{kind}:addr:{address}", "forgot_address")
    await runtime.limit(f"{kind}:acct:{account_key(email)}", "forgot_account")
    message = await runtime.request_token_mail(email, kind)
    if message is not None and not await _enqueue_mail(runtime, request, message):
        background.add_task(deliver, runtime.mail, message)
    return Message(detail=SENT)


async def _enqueue_mail(runtime: AuthRuntime, request: Request, message: MailMessage) -> bool:
    """Hand the mail to the task queue when one is active and the sender comes from settings.

    The mail task is registered by ``riso_auth._tasks`` (``riso-auth[tasks]``).
    """
    enqueue = riso.registry(request.app).lookup(riso.TASK_ENQUEUER)
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
async def forgot_password(body: EmailIn, request: Request, background: BackgroundTasks) -> Message:
    """Mail a single-use reset link; the answer is the same whether the account exists or not."""
    return await _mail_request(runtime_of(request.app), request, body.email, "reset", background)


@router.post(
    "/reset-password",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={400: {"model": Message}, 422: {"model": ValidationMessage}},
)
async def reset_password(body: ResetIn, request: Request) -> None:
    """Set a new password with a reset token; every session is revoked."""
    runtime = runtime_of(request.app)
    runtime.passwords.check_policy(body.password)
    try:
        user = await runtime.consume_token(body.token, "reset")
    except InvalidTokenError:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, detail="Invalid or expired reset token"
        ) from None
    await runtime.set_password(user.id, body.password, user.email)


@router.post(
    "/request-verify",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Message,
    responses={429: {"model": Message}},
)
async def request_verify(body: EmailIn, request: Request, background: BackgroundTasks) -> Message:
    """Mail a verification link; the answer is the same whether the account exists or not."""
    return await _mail_request(runtime_of(request.app), request, body.email, "verify", background)


@router.post(
    "/verify",
    response_model=UserOut,
    responses={400: {"model": Message}},
)
async def verify(body: TokenIn, request: Request) -> UserOut:
    """Mark the email address verified with a verification token."""
    runtime = runtime_of(request.app)
    try:
        user = await runtime.consume_token(body.token, "verify")
    except InvalidTokenError:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, detail="Invalid or expired verification token"
        ) from None
    await runtime.mark_verified(user.id)
    user.is_verified = True
    return UserOut.of(user)
