"""Lint the PostgreSQL SQL of every riso migration with squawk, naming revision and rule.

    python scripts/lint_migrations.py [--app-dir DIR] [-v]

The SQL is what ``riso db upgrade --sql --dialect postgresql`` prints (offline,
no database), run from an app that includes every installed riso feature; with
``--app-dir`` the app there (and its own ``migrations/``) instead. It is split
at each revision (riso runs every revision in its own transaction) and each
revision's SQL is linted on its own, so a finding names its revision.

Rules that only judge portable DDL style (``VARCHAR(n)``, ``INTEGER``,
``SERIAL``: what SQLAlchemy renders for models that also run on MySQL and
SQLite) are off; every rule about locks, rewrites and breaking the previous
release (NOT NULL without a default, dropped columns, blocking index builds,
...) is on. A justified exception is silenced in the migration file itself::

    # squawk-ignore ban-drop-column: the column was unused since 1.0 (removal in 2.0)

(one or more rules, comma-separated, and a reason after the colon; a marker
without a reason is itself an error). Exits 1 naming each revision and rule.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REVISION_MARKER = "-- riso revision: "
#: style rules about portable DDL, not about locks or rolling deploys
STYLE_RULES = ("prefer-text-field", "prefer-bigint-over-int", "prefer-identity")
#: riso runs every revision in its own short transaction; the lock and statement
#: timeouts are the deploying session's (the PostgreSQL role's settings), not a revision's
SESSION_RULES = ("require-lock-timeout", "require-statement-timeout")
EXCLUDED = (*STYLE_RULES, *SESSION_RULES)
_IGNORE = re.compile(
    r"^\s*#\s*squawk-ignore\s+(?P<rules>[a-z0-9-]+(?:\s*,\s*[a-z0-9-]+)*)\s*(?::(?P<why>.*))?$"
)
_REVISION = re.compile(r'^revision\s*(?::\s*str\s*)?=\s*["\']([^"\']+)["\']', re.MULTILINE)
APP = "from fastapi import FastAPI\n\nimport riso\n\napp = FastAPI()\nriso.include(app)\n"
PYPROJECT = '[project]\nname = "lint-app"\nversion = "0"\n\n[tool.riso]\napp = "main:app"\n'


class LintError(Exception):
    """The SQL could not be rendered, or squawk could not run (one-line message)."""


@dataclass(frozen=True)
class Finding:
    revision: str
    rule: str
    line: str
    message: str

    def __str__(self) -> str:
        return f"revision {self.revision}: {self.rule}: {self.message} ({self.line.strip()})"


def render_sql(app_dir: Path) -> str:
    """``riso db upgrade --sql --dialect postgresql`` of the app in ``app_dir``."""
    riso = Path(sys.executable).parent / "riso"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RISO_")}
    # the URL only picks the app's settings; --sql never connects
    env.update(RISO_DB_URL="sqlite:///unused.db", RISO_AUTH_SECRET_KEY="lint-" + "x" * 40)
    proc = subprocess.run(  # noqa: S603 - fixed argv
        [str(riso), "db", "upgrade", "--sql", "--dialect", "postgresql"],
        cwd=app_dir,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode:
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        raise LintError(f"riso db upgrade --sql failed: {lines[-1] if lines else proc.returncode}")
    return proc.stdout


def split_revisions(sql: str) -> dict[str, str]:
    """revision -> its SQL, in its own transaction (as riso runs it)."""
    chunks: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in sql.splitlines():
        if line.startswith(REVISION_MARKER):
            current = chunks.setdefault(line.removeprefix(REVISION_MARKER).strip(), ["BEGIN;"])
            continue
        if line.startswith(("-- Running upgrade", "-- riso tree ")):
            current = None
        if current is not None:
            current.append(line)
    out = {}
    for revision, lines in chunks.items():
        while lines and lines[-1].strip() in {"", "BEGIN;"}:
            lines.pop()
        out[revision] = "\n".join(lines) + "\n"
    return out


def revision_files(app_dir: Path | None) -> dict[str, Path]:
    """revision id -> its file, over every package's migrations and the app's."""
    folders = list((ROOT / "packages").glob("*/src/*/migrations"))
    if app_dir is not None:
        folders.append(app_dir / "migrations")
    found = {}
    for folder in folders:
        for path in folder.glob("*.py"):
            match = _REVISION.search(path.read_text(encoding="utf-8"))
            if match:
                found[match.group(1)] = path
    return found


def ignored_rules(path: Path | None) -> tuple[set[str], list[str]]:
    """The rules a migration file silences, and its markers that lack a reason."""
    if path is None:
        return set(), []
    rules: set[str] = set()
    bad = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        match = _IGNORE.match(line)
        if match is None:
            continue
        if not (match.group("why") or "").strip():
            bad.append(f"{path.name}:{number}: squawk-ignore needs a reason after a colon")
            continue
        rules |= {r.strip() for r in match.group("rules").split(",")}
    return rules, bad


def squawk() -> str:
    found = shutil.which("squawk", path=str(Path(sys.executable).parent)) or shutil.which("squawk")
    if not found:
        raise LintError("squawk not found: it is a dev dependency (squawk-cli), run `make sync`")
    return found


def lint(sql: str, files: dict[str, Path]) -> tuple[list[Finding], list[str]]:
    """squawk's findings per revision, and the problems with ignore markers."""
    revisions = split_revisions(sql)
    if not revisions:
        raise LintError("the rendered SQL has no revision in it")
    findings: list[Finding] = []
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="riso-squawk-") as tmp:
        for revision, text in revisions.items():
            ignored, bad = ignored_rules(files.get(revision))
            problems += [f"revision {revision}: {b}" for b in bad]
            path = Path(tmp) / f"{revision}.sql"
            path.write_text(text, encoding="utf-8")
            argv = [squawk(), "--reporter", "json", "--exclude", ",".join(EXCLUDED), str(path)]
            proc = subprocess.run(argv, capture_output=True, text=True, check=False)  # noqa: S603
            try:
                results = json.loads(proc.stdout or "[]")
            except json.JSONDecodeError:
                raise LintError(
                    f"squawk on {revision}: {proc.stderr.strip() or proc.stdout[:200]}"
                ) from None
            lines = text.splitlines()
            for item in results:
                if item["rule_name"] in ignored:
                    continue
                # squawk numbers lines from 0
                line = lines[item["line"]] if 0 <= item["line"] < len(lines) else ""
                findings.append(Finding(revision, item["rule_name"], line, item["message"]))
    return findings, problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--app-dir", type=Path, help="lint this app (and its migrations/)")
    parser.add_argument("-v", "--verbose", action="store_true", help="print the revisions linted")
    args = parser.parse_args(argv)
    try:
        if args.app_dir is not None:
            sql = render_sql(args.app_dir.resolve())
        else:
            with tempfile.TemporaryDirectory(prefix="riso-lint-app-") as tmp:
                (Path(tmp) / "main.py").write_text(APP, encoding="utf-8")
                (Path(tmp) / "pyproject.toml").write_text(PYPROJECT, encoding="utf-8")
                sql = render_sql(Path(tmp))
        findings, problems = lint(sql, revision_files(args.app_dir))
    except (LintError, OSError) as exc:
        print(f"lint_migrations: error: {exc}", file=sys.stderr)
        return 1
    if args.verbose:
        print("linted: " + ", ".join(split_revisions(sql)))
    for problem in [*problems, *map(str, findings)]:
        print(f"lint_migrations: {problem}", file=sys.stderr)
    if findings or problems:
        return 1
    print(f"lint_migrations: {len(split_revisions(sql))} revisions pass squawk")
    return 0


if __name__ == "__main__":
    sys.exit(main())
