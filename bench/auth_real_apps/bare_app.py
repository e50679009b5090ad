"""Bare FastAPI: the same three endpoints with no auth and no database (the ceiling)."""

from __future__ import annotations

from fastapi import FastAPI, status

from auth_real_apps.note_schemas import NoteIn, NoteOut

app = FastAPI()


ROWS = [NoteOut(id=n, title=f"note {n}", body="a bench note body") for n in range(20)]


@app.get("/me")
async def me() -> dict[str, object]:
    return {"id": 1, "email": "user0@bench.example"}


@app.get("/notes")
async def list_notes() -> list[NoteOut]:
    return ROWS


@app.post("/notes", status_code=status.HTTP_201_CREATED)
async def create_note(payload: NoteIn) -> NoteOut:
    return NoteOut(id=1, title=payload.title, body=payload.body)
