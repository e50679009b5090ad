"""Reading the ``riso.features`` entry points of the installed distributions."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points

from riso._exceptions import DiscoveryError, DuplicateFeatureError
from riso._feature import Feature

GROUP = "riso.features"


@dataclass(frozen=True, slots=True)
class Candidate:
    """An installed feature, known by its entry point; loaded on demand."""

    name: str
    distribution: str | None
    version: str | None
    entry_point: EntryPoint | None = None
    feature: Feature[object] | None = None  # type: ignore[type-var]

    @property
    def label(self) -> str:
        return self.distribution or f"feature '{self.name}'"

    def load(self) -> Feature:  # type: ignore[type-arg]
        if self.feature is not None:
            return self.feature
        assert self.entry_point is not None
        where = f"entry point {self.entry_point.value!r} of {self.label}"
        try:
            obj = self.entry_point.load()
        except Exception as exc:  # any import-time failure of a third-party module
            raise DiscoveryError(
                f"cannot load feature '{self.name}' ({where}): {type(exc).__name__}: {exc}"
            ) from exc
        if not isinstance(obj, Feature):
            raise DiscoveryError(
                f"{where} is a {type(obj).__name__}, not a riso.Feature; "
                "point the entry point at the module-level Feature object"
            )
        if obj.name != self.name:
            raise DiscoveryError(
                f"{where} declares a feature named {obj.name!r} under the entry name "
                f"{self.name!r}; make them match"
            )
        return obj


def discover() -> list[Candidate]:
    """Every installed feature, read from package metadata once, sorted by name.

    The same distribution seen twice (a path listed twice) counts once; the same
    name from two distributions is an error that names both.
    """
    found: dict[str, Candidate] = {}
    for ep in entry_points(group=GROUP):
        dist = ep.dist
        candidate = Candidate(
            name=ep.name,
            distribution=dist.name if dist is not None else None,
            version=dist.version if dist is not None else None,
            entry_point=ep,
        )
        seen = found.get(ep.name)
        if seen is None:
            found[ep.name] = candidate
        elif seen.distribution != candidate.distribution:
            raise DuplicateFeatureError(
                f"feature '{ep.name}' is provided by both {_describe(seen)} and "
                f"{_describe(candidate)}: uninstall one of them"
            )
    return [found[name] for name in sorted(found)]


def explicit(features: Collection[Feature]) -> list[Candidate]:  # type: ignore[type-arg]
    """Candidates for features passed to include() directly (tests, embedded use)."""
    by_name: dict[str, Candidate] = {}
    for feature in features:
        if feature.name in by_name and by_name[feature.name].feature is not feature:
            raise DuplicateFeatureError(f"two different features are named '{feature.name}'")
        by_name[feature.name] = Candidate(feature.name, None, None, feature=feature)
    return [by_name[name] for name in sorted(by_name)]


def _describe(candidate: Candidate) -> str:
    if candidate.distribution is None:
        return "an unknown distribution"
    return f"{candidate.distribution} {candidate.version}"
