"""``riso tasks worker`` and ``riso tasks beat``."""

from __future__ import annotations

import sys
from typing import Any

import click
from fastapi import FastAPI

import riso
from riso_tasks._app import beat_schedule, celery_app, settings_of


def _require_broker(app: FastAPI) -> None:
    settings = settings_of(celery_app(app))
    if settings.embedded:
        raise click.UsageError(
            "no broker is configured, so tasks run inside the app process (embedded worker); "
            "set RISO_TASKS_BROKER_URL (or CELERY_BROKER_URL) to run separate workers"
        )


@click.group(name="tasks")
def cli() -> None:
    """Background tasks: run Celery workers and the beat scheduler for the app."""


@cli.command()
@click.option(
    "-Q", "--queues", help="Comma-separated queues to consume (default: the default queue)."
)
@click.option("-c", "--concurrency", type=click.IntRange(min=1), help="Worker processes/threads.")
@click.option(
    "-P",
    "--pool",
    type=click.Choice(["prefork", "threads", "solo"]),
    default="prefork",
    show_default=True,
)
@click.option("-l", "--loglevel", default="INFO", show_default=True)
@click.option("-n", "--hostname", help="Node name, e.g. worker1@%h.")
@riso.pass_app
def worker(
    app: FastAPI,
    queues: str | None,
    concurrency: int | None,
    pool: str,
    loglevel: str,
    hostname: str | None,
) -> None:
    """Run a Celery worker for the app."""
    _require_broker(app)
    capp = celery_app(app)
    # riso-obs owns logging when active (its handler writes to sys.stderr, so
    # Celery must not redirect that into logging); otherwise Celery's, with request ids.
    obs_active = "obs" in riso.registry(app)
    capp.conf.worker_hijack_root_logger = not obs_active
    capp.conf.worker_redirect_stdouts = not obs_active
    options: dict[str, Any] = {"pool_cls": pool, "loglevel": loglevel.upper()}
    if queues:
        options["queues"] = [q.strip() for q in queues.split(",") if q.strip()]
    if concurrency:
        options["concurrency"] = concurrency
    if hostname:
        options["hostname"] = hostname
    process = capp.Worker(**options)
    process.start()
    sys.exit(process.exitcode or 0)


@cli.command()
@click.option("-l", "--loglevel", default="INFO", show_default=True)
@click.option(
    "-s",
    "--schedule",
    "schedule_file",
    default="celerybeat-schedule",
    show_default=True,
    help="File where beat keeps the last run times.",
)
@riso.pass_app
def beat(app: FastAPI, loglevel: str, schedule_file: str) -> None:
    """Run the beat scheduler: periodic tasks from settings and @task(schedule=...)."""
    _require_broker(app)
    capp = celery_app(app)
    # task modules imported since the app was built may have declared schedules
    capp.conf.beat_schedule = {**beat_schedule(settings_of(capp)), **capp.conf.beat_schedule}
    if not capp.conf.beat_schedule:
        raise click.UsageError(
            "no periodic task is declared: set RISO_TASKS_BEAT_SCHEDULE or use "
            "@riso_tasks.task(schedule=...)"
        )
    capp.Beat(loglevel=loglevel.upper(), schedule=schedule_file).run()
