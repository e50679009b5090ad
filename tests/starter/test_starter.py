from fastapi.testclient import TestClient

from starter.main import app


def test_own_endpoint_answers_through_the_composed_app() -> None:
    with TestClient(app) as client:
        response = client.get("/hello", params={"name": "riso"})
    assert response.status_code == 200
    assert response.json() == {"message": "Hello, riso!"}


def test_starter_is_composed_by_riso() -> None:
    import riso

    assert riso.registry(app).phase in {"included", "stopped"}
