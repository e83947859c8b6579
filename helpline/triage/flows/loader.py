"""Load flow files into a registry that keeps every version, and reload them safely."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from pathlib import Path

import yaml
from pydantic import ValidationError

from helpline.triage.flows.check import Problem, lint, validation_problems
from helpline.triage.flows.models import Flow

log = logging.getLogger(__name__)

ARCHIVE = "archive"
"""Sub-directory for old versions still needed after a restart; never the latest version."""


class FlowError(Exception):
    """One or more flow files are invalid; ``problems`` lists them all."""

    def __init__(self, problems: list[Problem] | list[str]) -> None:
        """Keep every problem and show one per line."""
        self.problems = [str(p) for p in problems]
        super().__init__("\n".join(self.problems))


class _Loader(yaml.SafeLoader):
    """YAML without the surprises: ``no``, ``yes``, ``on`` and ``off`` stay text."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


def load_yaml(text: str) -> object:
    """Parse YAML where ``yes``/``no``/``on``/``off`` stay text; only true/false are booleans."""
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


def display_name(path: Path) -> str:
    """Return ``path`` as the author knows it: relative to the working directory if inside."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def read_flow(path: Path) -> tuple[Flow | None, list[Problem]]:
    """Read and check one flow file; the flow is None when it has errors."""
    name = display_name(path)
    try:
        data = load_yaml(path.read_text(encoding="utf-8"))
    except OSError as exc:
        return None, [Problem(name, f"cannot be read ({exc.strerror})")]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        what = getattr(exc, "problem", None) or "is not valid YAML"
        if "mapping values" in what:
            what += ' (put a text containing ": " in double quotes)'
        return None, [Problem(name, f"{where}{what}")]
    if not isinstance(data, dict):
        return None, [Problem(name, "must be a mapping with id, version, nodes, ...")]
    try:
        flow = Flow.model_validate(data)
    except ValidationError as exc:
        return None, validation_problems(name, exc)
    problems = lint(flow, name)
    if any(p.severity == "error" for p in problems):
        return None, problems
    return flow, problems


def _digest(flow: Flow) -> str:
    return hashlib.sha256(flow.model_dump_json().encode()).hexdigest()


def _version_order(version: int | str) -> tuple[int, int, str]:
    text = str(version)
    return (0, int(text), "") if text.isdigit() else (1, 0, text)


class FlowRegistry:
    """Every flow version loaded so far, by (id, version); the newest one starts conversations."""

    def __init__(self, directory: Path) -> None:
        """Start empty; use :meth:`load` to read a directory."""
        self.directory = Path(directory)
        self._flows: dict[tuple[str, str], Flow] = {}
        self._digests: dict[tuple[str, str], str] = {}
        self._latest: dict[str, str] = {}
        self._seen: dict[Path, str] = {}  # file -> digest of its last good content
        self.read_mtimes: dict[Path, int] = {}  # modification times at the last (re)load

    @classmethod
    def load(cls, directory: Path) -> FlowRegistry:
        """Load every ``*.yaml`` in ``directory``; raise FlowError listing every error."""
        registry = cls(directory)
        errors, warnings = registry._read_all(first=True)
        for warning in warnings:
            log.warning("flow warning: %s", warning)
        if errors:
            raise FlowError(errors)
        log.info("loaded %d flow versions from %s", len(registry._flows), directory)
        return registry

    def files(self) -> list[Path]:
        """Return the flow files: the directory's, then older versions kept in ``archive/``."""
        archive = self.directory / ARCHIVE
        return sorted(self.directory.glob("*.yaml")) + sorted(archive.glob("*.yaml"))

    def _read_all(self, *, first: bool) -> tuple[list[Problem], list[Problem]]:
        errors: list[Problem] = []
        warnings: list[Problem] = []
        loaded: list[tuple[Path, Flow]] = []
        self.read_mtimes = self.mtimes()
        for path in self.files():
            flow, problems = read_flow(path)
            errors.extend(p for p in problems if p.severity == "error")
            warnings.extend(p for p in problems if p.severity == "warning")
            if flow is not None:
                loaded.append((path, flow))
        if first:  # several files may hold versions of one flow: the highest is the latest
            loaded.sort(key=lambda item: _version_order(item[1].version))
        for path, flow in loaded:
            problem = self._add(path, flow)
            if problem is not None:
                errors.append(problem)
        return errors, warnings

    def _add(self, path: Path, flow: Flow) -> Problem | None:
        key = (flow.id, str(flow.version))
        digest = _digest(flow)
        if self._seen.get(path) == digest:
            return None
        known = self._digests.get(key)
        if known is not None and known != digest:
            return Problem(
                display_name(path),
                f'version {flow.version} of flow "{flow.id}" is already loaded with different '
                "content: raise `version` so conversations in flight keep the old one",
                None,
                "version",
            )
        self._flows[key] = flow
        self._digests[key] = digest
        if path.parent.name != ARCHIVE or flow.id not in self._latest:
            self._latest[flow.id] = key[1]
        self._seen[path] = digest
        return None

    def get(self, flow_id: str, version: int | str | None = None) -> Flow:
        """Return one version of a flow (None: the latest); raise FlowError if unknown."""
        key = (flow_id, self._latest.get(flow_id, "") if version is None else str(version))
        try:
            return self._flows[key]
        except KeyError:
            raise FlowError([f'no flow "{flow_id}" version {version or "(latest)"}']) from None

    def ids(self) -> list[str]:
        """Return the ids of every flow loaded."""
        return sorted(self._latest)

    def versions(self, flow_id: str) -> list[str]:
        """Return every loaded version of a flow, oldest first."""
        return sorted((v for i, v in self._flows if i == flow_id), key=_version_order)

    def reload(self) -> list[str]:
        """Re-read the directory; invalid files keep their last good version. Return problems."""
        errors, warnings = self._read_all(first=False)
        for problem in errors:
            log.error("flow reload kept the last good version: %s", problem)
        for problem in warnings:
            log.warning("flow warning: %s", problem)
        return [str(p) for p in errors]

    def mtimes(self) -> dict[Path, int]:
        """Return each flow file's modification time (for :func:`watch`)."""
        out: dict[Path, float] = {}
        for path in self.files():
            try:
                out[path] = path.stat().st_mtime_ns
            except OSError:
                continue
        return out


async def watch(registry: FlowRegistry, *, interval: float = 2.0) -> None:
    """Reload the registry whenever a flow file changes; runs until cancelled."""
    while True:
        await asyncio.sleep(interval)
        if registry.mtimes() != registry.read_mtimes:  # also catches reloads done elsewhere
            log.info("flow files changed; reloading")
            try:
                registry.reload()
            except Exception:  # a watcher that dies silently is worse than a loud one
                log.exception("flow reload failed; the last good versions stay in use")
