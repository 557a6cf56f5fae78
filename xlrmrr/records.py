"""Immutable records: frozen dataclasses that cost little to define at start-up.

Python 3.11's dataclasses compiles every generated method of every class with its own exec():
__init__, __repr__, __eq__ and __hash__, __setattr__ and __delattr__ for a frozen class, four
more with order=True. About 40 stage results, contracts and records lie on the path of `xlrmrr
create`, which runs before every `xl create`: defining them cost 25 of its 85 ms. `record` lets
dataclasses generate __init__ alone and gives every class the same hand-written methods, which
behave as the generated ones do: the same repr; equality, hash and ordering over the fields that
compare, as tuples; FrozenInstanceError for any assignment or deletion once __init__ has set a
field. fields(), replace() and asdict() work as for any dataclass.
"""

from __future__ import annotations

from dataclasses import FrozenInstanceError, dataclass, fields
from operator import attrgetter


def record(cls=None, /, *, eq: bool = True, order: bool = False, hot: bool = False):
    """@dataclass(frozen=True, eq=eq, order=order), with shared methods instead of generated
    ones. eq=False keeps identity equality and hashing, as it does for a dataclass.

    hot: instances are made by the thousand (an RMRR, a finding, a page run): dataclasses then
    generates the frozen __init__, __setattr__ and __delattr__ as usual, whose __init__ stores
    fields without a Python call each (the shared __setattr__ made the 10,000-RMRR plan 45%
    slower), at about 0.2 ms more start-up per class."""

    def wrap(cls):
        cls = dataclass(cls, repr=False, eq=False, frozen=hot)
        fs = fields(cls)
        cls.__record_fields__ = frozenset(f.name for f in fs)
        cls.__record_repr__ = tuple(f.name for f in fs if f.repr)
        if not hot:
            cls.__setattr__ = _setattr
            cls.__delattr__ = _delattr
        cls.__repr__ = _repr
        if eq or order:
            names = [f.name for f in fs if f.compare]
            cls.__record_key__ = _getter(names)
        if eq:
            cls.__eq__ = _eq
            hashed = [f.name for f in fs if (f.compare if f.hash is None else f.hash)]
            cls.__record_hash__ = _getter(hashed)
            cls.__hash__ = _hash
        if order:
            cls.__lt__, cls.__le__, cls.__gt__, cls.__ge__ = _lt, _le, _gt, _ge
        return cls

    return wrap if cls is None else wrap(cls)


def _getter(names):
    if len(names) == 1:
        one = attrgetter(names[0])
        return lambda obj: (one(obj),)
    return attrgetter(*names) if names else (lambda obj: ())


def _setattr(self, name, value):
    # __init__ assigns each field once; after that, and for any other name, the record is frozen.
    if name in self.__dict__ or name not in self.__record_fields__:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")
    object.__setattr__(self, name, value)


def _delattr(self, name):
    raise FrozenInstanceError(f"cannot delete field {name!r}")


def _repr(self):
    cls = self.__class__
    return cls.__qualname__ + "(" + ", ".join(
        f"{name}={getattr(self, name)!r}" for name in cls.__record_repr__) + ")"


def _eq(self, other):
    if other.__class__ is self.__class__:
        return self.__class__.__record_key__(self) == self.__class__.__record_key__(other)
    return NotImplemented


def _hash(self):
    return hash(self.__class__.__record_hash__(self))


def _lt(self, other):
    if other.__class__ is self.__class__:
        return self.__class__.__record_key__(self) < self.__class__.__record_key__(other)
    return NotImplemented


def _le(self, other):
    if other.__class__ is self.__class__:
        return self.__class__.__record_key__(self) <= self.__class__.__record_key__(other)
    return NotImplemented


def _gt(self, other):
    if other.__class__ is self.__class__:
        return self.__class__.__record_key__(self) > self.__class__.__record_key__(other)
    return NotImplemented


def _ge(self, other):
    if other.__class__ is self.__class__:
        return self.__class__.__record_key__(self) >= self.__class__.__record_key__(other)
    return NotImplemented
