"""Administration endpoints: ``/auth/users`` and ``/auth/roles``, for superusers or ``auth:admin``.

Only a superuser may grant or take the superuser flag (``auth:admin`` alone
cannot promote itself). A role change takes effect on the account's next
token; ``POST /auth/users/{id}/logout`` forces it by ending every session.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, status

from riso_auth._account_admin import AccountView, UserChange, UserFilter
from riso_auth._account_schemas import (
    AdminUserOut,
    AdminUserPatch,
    RoleIn,
    RoleOut,
    RolePatch,
    UserPage,
)
from riso_auth._deps import CurrentUser, Runtime
from riso_auth._passwords import has_usable_password
from riso_auth._principals import Principal
from riso_auth._schemas import Message

#: the scope that grants the administration endpoints to a non-superuser
ADMIN_SCOPE = "auth:admin"

router = APIRouter(prefix="/auth", tags=["auth admin"])

_REFUSALS: dict[int | str, dict[str, object]] = {
    401: {"model": Message},
    403: {"model": Message},
}


async def _admin(user: CurrentUser) -> Principal:
    if not (user.is_superuser or ADMIN_SCOPE in user.scopes):
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="Not enough privileges")
    return user


Admin = Annotated[Principal, Depends(_admin)]
_NOT_FOUND = "No such account"


def _out(view: AccountView) -> AdminUserOut:
    user = view.user
    return AdminUserOut(
        id=user.id,
        email=user.email,
        is_active=user.is_active,
        is_verified=user.is_verified,
        is_superuser=user.is_superuser,
        scopes=sorted(user.scope_list),
        roles=view.roles,
        has_password=has_usable_password(user.hashed_password),
        created_at=user.created_at,
    )


@router.get("/users", response_model=UserPage, responses=_REFUSALS)
async def list_users(
    admin: Admin,
    runtime: Runtime,
    cursor: Annotated[str | None, Query(max_length=20, pattern=r"^\d+$")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    email: Annotated[str | None, Query(max_length=320, description="email prefix")] = None,
    is_active: bool | None = None,
    is_verified: bool | None = None,
    is_superuser: bool | None = None,
    role: Annotated[str | None, Query(max_length=64)] = None,
) -> UserPage:
    """Accounts by id, a page at a time (``next_cursor`` is the next page's ``cursor``)."""
    filters = UserFilter(email, is_active, is_verified, is_superuser, role)
    views, following = await runtime.admin.list(filters, int(cursor) if cursor else None, limit)
    return UserPage(
        items=[_out(v) for v in views],
        next_cursor=str(following) if following is not None else None,
    )


@router.get(
    "/users/{user_id}",
    response_model=AdminUserOut,
    responses={**_REFUSALS, 404: {"model": Message}},
)
async def get_user(user_id: int, admin: Admin, runtime: Runtime) -> AdminUserOut:
    view = await runtime.admin.get(user_id)
    if view is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=_NOT_FOUND)
    return _out(view)


@router.patch(
    "/users/{user_id}",
    response_model=AdminUserOut,
    responses={
        **_REFUSALS,
        400: {"model": Message},
        404: {"model": Message},
        409: {"model": Message},
    },
)
async def update_user(
    user_id: int, body: AdminUserPatch, admin: Admin, runtime: Runtime
) -> AdminUserOut:
    """(De)activate, verify, promote or demote, set roles or scopes; deactivation ends sessions."""
    if body.is_superuser is not None and not admin.is_superuser:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, detail="Only a superuser may change is_superuser"
        )
    before = await runtime.admin.get(user_id)
    if before is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=_NOT_FOUND)
    change = UserChange(
        body.is_active, body.is_verified, body.is_superuser, body.roles, body.scopes
    )
    view = await runtime.admin.update(user_id, change)
    if view is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=_NOT_FOUND)
    if body.is_verified and not before.user.is_verified:
        await runtime.emit("user_verified", user_id, view.user.email, by="admin")
    return _out(view)


@router.delete(
    "/users/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**_REFUSALS, 404: {"model": Message}, 409: {"model": Message}},
)
async def delete_user(user_id: int, admin: Admin, runtime: Runtime) -> None:
    """Delete the account; its sessions and API keys end at once."""
    deleted = await runtime.admin.delete(user_id)
    if deleted is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=_NOT_FOUND)
    await runtime.emit("user_deleted", user_id, deleted.email, by="admin")


@router.post(
    "/users/{user_id}/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**_REFUSALS, 404: {"model": Message}},
)
async def logout_user(user_id: int, admin: Admin, runtime: Runtime) -> None:
    """End every session and revoke every API key of the account (forces new role scopes)."""
    if not await runtime.admin.logout(user_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=_NOT_FOUND)


@router.get("/roles", response_model=list[RoleOut], responses=_REFUSALS)
async def list_roles(admin: Admin, runtime: Runtime) -> list[RoleOut]:
    return [RoleOut.of(r) for r in await runtime.roles.list()]


@router.post(
    "/roles",
    status_code=status.HTTP_201_CREATED,
    response_model=RoleOut,
    responses={**_REFUSALS, 400: {"model": Message}},
)
async def create_role(body: RoleIn, admin: Admin, runtime: Runtime) -> RoleOut:
    return RoleOut.of(await runtime.roles.create(body.name, body.scopes, body.description))


@router.patch(
    "/roles/{name}",
    response_model=RoleOut,
    responses={**_REFUSALS, 400: {"model": Message}, 404: {"model": Message}},
)
async def update_role(name: str, body: RolePatch, admin: Admin, runtime: Runtime) -> RoleOut:
    """Change a role's scopes or description (accounts get them on their next token)."""
    role = await runtime.roles.update(name, scopes=body.scopes, description=body.description)
    return RoleOut.of(role)


@router.delete(
    "/roles/{name}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**_REFUSALS, 404: {"model": Message}},
)
async def delete_role(name: str, admin: Admin, runtime: Runtime) -> None:
    await runtime.roles.delete(name)
