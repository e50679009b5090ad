"""riso as installed: ``riso.include(app)``, ``/auth/me``, and notes via CurrentUser + DbSession.

Configured by the environment only (RISO_DB_URL, RISO_AUTH_*, RISO_DB_*);
the benchmark sets ``RISO_DISABLE=tasks`` (the embedded task worker would
share the server's core) and leaves riso-obs at its defaults.
"""

from __future__ import annotations

from fastapi import FastAPI, status
from sqlalchemy import select

import riso
from auth_real_apps.note_schemas import NoteIn, NoteOut
from auth_real_apps.notes import Note
from riso_auth import CurrentUser
from riso_db import DbSession

app = FastAPI()
riso.include(app)


@app.get("/notes")
async def list_notes(user: CurrentUser, session: DbSession) -> list[NoteOut]:
    rows = await session.scalars(
        select(Note).where(Note.owner_id == user.id).order_by(Note.id).limit(20)
    )
    return [NoteOut(id=n.id, title=n.title, body=n.body) for n in rows]


@app.post("/notes", status_code=status.HTTP_201_CREATED)
async def create_note(payload: NoteIn, user: CurrentUser, session: DbSession) -> NoteOut:
    note = Note(owner_id=user.id, title=payload.title, body=payload.body)
    session.add(note)
    await session.commit()
    return NoteOut(id=note.id, title=note.title, body=note.body)
