"""One shape for every "choose a part by name" registry of the plugin: speech front ends, the
recipe's feature kinds, voice-activity detectors, adapters and alignment objectives.

``register(name)`` adds a builder (a class, or any callable that builds the part), ``build(name,
...)`` builds the part (by calling the builder, or as the registry's ``construct`` says, e.g. a
classmethod), ``get(name)`` returns the builder itself, ``choices`` lists the names for an
option's help and choices, and an unknown name is an error of the registry's own type that names
the option and the choices. A new part is
one file that registers itself; nothing that builds parts changes.
"""
from __future__ import annotations

from typing import Callable, Dict, Generic, Iterator, Optional, Tuple, Type, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, what: str, option: str, error: Type[Exception] = ValueError,
                 construct: Optional[Callable[..., T]] = None):
        self.what, self.option, self.error = what, option, error
        self._construct = construct  # (builder, *args, **options) -> part; None: builder(...)
        self._builders: Dict[str, Callable[..., T]] = {}

    def register(self, name: str, builder: Callable[..., T] = None):
        """``register(name, builder)``, or ``@register(name)`` on a class or function."""
        def add(obj):
            if name in self._builders:
                raise ValueError(f"{self.what} {name!r} is already registered")
            self._builders[name] = obj
            return obj

        return add if builder is None else add(builder)

    def get(self, name: str) -> Callable[..., T]:
        """The builder registered as ``name``."""
        if name not in self._builders:
            raise self.error(f"{self.option} {name!r}: unknown {self.what}; choose one of "
                             f"{', '.join(self._builders)}")
        return self._builders[name]

    def build(self, name: str, *args, **options) -> T:
        """The part called ``name``, built with ``args`` and ``options``."""
        builder = self.get(name)
        if self._construct is not None:
            return self._construct(builder, *args, **options)
        return builder(*args, **options)

    @property
    def choices(self) -> Tuple[str, ...]:
        return tuple(self._builders)

    def items(self):
        return self._builders.items()

    def values(self):
        return self._builders.values()

    def unregister(self, name: str) -> None:
        """Remove ``name`` (a test's temporary part)."""
        del self._builders[name]

    def __contains__(self, name: object) -> bool:
        return name in self._builders

    def __iter__(self) -> Iterator[str]:
        return iter(self._builders)

    def __getitem__(self, name: str) -> Callable[..., T]:
        return self.get(name)

    def __len__(self) -> int:
        return len(self._builders)
