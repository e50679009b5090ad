"""The servers ``bench/auth_real.py`` measures, one module per variant, and their tables.

Each ``*_app`` module is served by uvicorn (``auth_real_apps.<name>:app``);
the ``*_models`` modules hold the tables only, so the benchmark can create and
fill them without building an app.
"""
