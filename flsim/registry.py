"""What users add to flsim by name (models, aggregation rules), and how it reaches worker processes.

A registry maps a name to an entry; the book's own entries are built in and
cannot be replaced. A user's entries live in the process that registered them,
so :func:`flsim.sweep` ships them (pickled by value with cloudpickle, which
also carries functions defined in a notebook) to its worker processes and
Dask workers, which install them before running.
"""

from __future__ import annotations

import hashlib
import inspect

import cloudpickle


class Registry(dict):
    """name -> entry, for one kind of thing (``kind`` names it in errors)."""

    def __init__(self, kind: str, how: str):
        super().__init__()
        self.kind, self.how = kind, how  # how: the function that registers one, named in errors
        self.built_in: set[str] = set()

    def add(self, name: str, entry, built_in: bool = False) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"a {self.kind}'s name must be a non-empty string, got {name!r}")
        if name in self.built_in:
            raise ValueError(f"{self.kind} {name!r} is built in and cannot be replaced; register yours under "
                             "another name")
        self[name] = entry
        if built_in:
            self.built_in.add(name)

    def entry(self, name: str):
        """The entry ``name``; ValueError naming the registered ones if there is none."""
        try:
            return self[name]
        except KeyError:
            raise ValueError(f"{self.kind}={name!r} is not registered; choose one of {', '.join(map(repr, self))} "
                             f"or add yours with {self.how}") from None

    def user_entries(self) -> dict:
        return {name: entry for name, entry in self.items() if name not in self.built_in}


REGISTRIES: dict[str, Registry] = {}  # kind -> its registry


def new_registry(kind: str, how: str) -> Registry:
    REGISTRIES[kind] = Registry(kind, how)
    return REGISTRIES[kind]


def user_registrations() -> bytes | None:
    """The user's registrations in every registry, pickled by value; None if there are none."""
    entries = {kind: registry.user_entries() for kind, registry in REGISTRIES.items()}
    return cloudpickle.dumps(entries) if any(entries.values()) else None


def install(registrations: bytes | None) -> None:
    """In a worker: add the registrations :func:`user_registrations` pickled in the sweep's process."""
    if registrations is not None:
        for kind, entries in cloudpickle.loads(registrations).items():
            REGISTRIES[kind].update(entries)


def source_of(code) -> str | None:
    """The source text of a function or class, or None where Python cannot find it."""
    try:
        return inspect.getsource(code)
    except (OSError, TypeError):
        return None


def fingerprint(*texts: str) -> str:
    return hashlib.sha256("\0".join(texts).encode()).hexdigest()[:16]


def identity(name: str, built_in: bool, version: str | None, *code) -> str:
    """A registered entry in a cache key: a built-in one by name (flsim's source hash covers it), a user's
    by name and ``version``, or, without one, name and a hash of the source of its ``code``."""
    if built_in:
        return name
    return f"{name}@{version if version is not None else fingerprint(*(source_of(c) or '' for c in code))}"


def check_identifiable(what: str, code, version: str | None) -> None:
    """A user's code the cache must tell apart by its source (or by a version the user gives)."""
    if version is None and source_of(code) is None:
        raise ValueError(f"the source of {what} {code!r} cannot be read, so the result cache cannot tell its "
                         "versions apart: pass version='...' when registering it")
