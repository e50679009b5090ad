"""Helpers the workspace's own tests share (private: users get ``riso.testing``).

``tests/support`` is on ``sys.path`` through pytest's ``pythonpath`` option in
the root ``pyproject.toml``, so every test folder imports these as normal
modules (``from riso_test_support.asgi import serving``); fixtures that many
folders need live in the root ``conftest.py``.

- ``asgi``: a client of an app with its lifespan running; driving a lifespan by hand.
- ``network``: a listener that never answers, a refused port, ``SELECT 1`` over the wire.
- ``processes``: a subprocess whose output is read line by line (``riso tasks worker``).
- ``auth``: apps with riso-db + riso-auth, registering and logging in through them.
- ``forgery``: forged and malformed tokens.
- ``tasks``: riso-tasks' test app under an environment, and its worker processes.
- ``stack``: the starter run as users do (migrations, uvicorn, a worker).
- ``install``: fresh virtual environments holding only the built wheels.
"""
