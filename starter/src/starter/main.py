"""The starter app: FastAPI plus whatever riso features are installed."""

import riso
from fastapi import FastAPI

app = FastAPI(title="riso starter")
riso.include(app)


@app.get("/hello")
async def hello(name: str = "world") -> dict[str, str]:
    """The app's own endpoint, next to everything the features contribute."""
    return {"message": f"Hello, {name}!"}
