"""The starter app: FastAPI, whatever riso features are installed, and a few endpoints."""

from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Path, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

import riso
import riso_tasks
from riso_auth import CurrentUser
from riso_db import DbSession
from starter.models import Note
from starter.profiles import router as profile_router
from starter.tasks import add

app = FastAPI(title="riso starter")
riso.include(app)
app.include_router(profile_router)

NoteId = Annotated[int, Path(ge=1, le=2**31 - 1)]


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=200)
    body: str = Field(default="", max_length=10_000)


class NoteOut(BaseModel):
    id: int
    title: str
    body: str


@app.get("/hello")
async def hello(name: Annotated[str, Field(max_length=100)] = "world") -> dict[str, str]:
    """The app's own endpoint, next to everything the features contribute."""
    return {"message": f"Hello, {name}!"}


@app.post("/notes", status_code=status.HTTP_201_CREATED)
async def create_note(payload: NoteIn, user: CurrentUser, session: DbSession) -> NoteOut:
    note = Note(owner_id=user.id, title=payload.title, body=payload.body)
    session.add(note)
    await session.commit()
    return NoteOut(id=note.id, title=note.title, body=note.body)


@app.get("/notes")
async def list_notes(user: CurrentUser, session: DbSession) -> list[NoteOut]:
    rows = await session.scalars(
        select(Note).where(Note.owner_id == user.id).order_by(Note.id).limit(100)
    )
    return [NoteOut(id=n.id, title=n.title, body=n.body) for n in rows]


@app.get("/notes/{note_id}", responses={404: {"description": "No such note"}})
async def get_note(note_id: NoteId, user: CurrentUser, session: DbSession) -> NoteOut:
    note = await session.get(Note, note_id)
    if note is None or note.owner_id != user.id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "note not found")
    return NoteOut(id=note.id, title=note.title, body=note.body)


@app.delete(
    "/notes/{note_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={404: {"description": "No such note"}},
)
async def delete_note(note_id: NoteId, user: CurrentUser, session: DbSession) -> None:
    note = await session.get(Note, note_id)
    if note is None or note.owner_id != user.id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "note not found")
    await session.delete(note)
    await session.commit()


@app.post("/tasks/add", status_code=status.HTTP_202_ACCEPTED)
async def enqueue_add(
    x: Annotated[int, Field(ge=-(10**9), le=10**9)], y: Annotated[int, Field(ge=-(10**9), le=10**9)]
) -> dict[str, str]:
    """Enqueue a real background task; poll its status at /tasks/{task_id}."""
    result = await riso_tasks.enqueue(add, x, y)
    return {"task_id": result.id}


@app.get("/tasks/{task_id}")
async def task_status(task_id: Annotated[str, Path(max_length=64)]) -> dict[str, Any]:
    result = riso_tasks.celery_app(app).AsyncResult(task_id)
    state = result.state  # read once: it changes under us
    if state == "SUCCESS":
        return {"state": state, "result": result.result}
    if state == "FAILURE":
        return {"state": state, "error": type(result.result).__name__}
    return {"state": state}
