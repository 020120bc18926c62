"""The catalogue's call check (:mod:`openhcs_hookspecs._function_catalogue`, ``check_arguments``)
agrees with :meth:`inspect.Signature.bind`, on hand-picked and on random signatures.
"""

from __future__ import annotations

import inspect
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from openhcs_hookspecs import functions as fn


def test_call_checks_agree_with_signature_bind() -> None:
    """``check`` (catalogue records, no import) against ``inspect.Signature.bind``."""
    cat = fn.catalogue("openhcs")
    shapes: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
        ((), {}),
        ((1,), {}),
        ((1, 2), {}),
        ((1, 2, 3), {}),
        ((1, 2, 3, 4), {}),
        ((), {"image": 1}),
        ((1,), {"image": 1}),
        ((1,), {"low": 0}),
        ((1,), {"low": 0, "high": 1}),
        ((1,), {"level": 3}),
        ((1,), {"mask": None}),
        ((1,), {"nope": 1}),
    ]
    compared = 0
    for key in cat:
        real = inspect.signature(cat[key])
        for args, kwargs in shapes:
            try:
                real.bind(*args, **kwargs)
                expected = True
            except TypeError:
                expected = False
            try:
                cat.check(key, *args, **kwargs)
                got = True
            except fn.CallCheckError:
                got = False
            assert got == expected, (key, args, kwargs)
            compared += 1
    assert compared == len(cat) * len(shapes) and len(cat) == 10


def _accepts(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    """Whether calling *func* (whose body does nothing) with these arguments binds.

    A real call, not ``Signature.bind``: Python 3.11's ``bind`` rejects a positional-only
    name given as a keyword that ``**kwargs`` would take, which a call accepts.
    """
    try:
        func(*args, **kwargs)
    except TypeError:
        return False
    return True


def test_check_arguments_kinds() -> None:
    def sample(a, /, b, *args, c, d=1, **kw):  # type: ignore[no-untyped-def]
        pass

    params = [
        [p.name, p.kind.name, None if p.default is p.empty else repr(p.default), None]
        for p in inspect.signature(sample).parameters.values()
    ]
    for args, kwargs in [
        ((1, 2), {"c": 1}),
        ((1, 2, 3, 4), {"c": 1, "zz": 2}),
        ((1,), {"b": 2, "c": 3}),
        ((), {"a": 1, "b": 2, "c": 3}),
        ((1, 2), {}),
        ((1, 2), {"b": 1, "c": 1}),
        ((1, 2), {"a": 1, "c": 1}),  # a positional-only name as a keyword lands in **kw
        ((1,), {"d": 1}),
        ((1, 2, 3), {"c": 1, "d": 2, "b": 3}),
    ]:
        ok = _accepts(sample, args, kwargs)
        try:
            fn.check_arguments(params, len(args), kwargs)
            ours = True
        except fn.CallCheckError:
            ours = False
        assert ours == ok, (args, kwargs)


def test_check_arguments_without_var_keyword() -> None:
    def plain(a, /, b=2, *, c):  # type: ignore[no-untyped-def]
        pass

    params = [
        [p.name, p.kind.name, None if p.default is p.empty else repr(p.default), None]
        for p in inspect.signature(plain).parameters.values()
    ]
    for args, kwargs in [
        ((1,), {"c": 1}),
        ((1, 2), {"c": 1}),
        ((1, 2, 3), {"c": 1}),
        ((), {"a": 1, "c": 1}),
        ((1,), {"a": 1, "c": 1}),
        ((1,), {"b": 1}),
        ((1,), {"b": 1, "c": 2}),
    ]:
        ok = _accepts(plain, args, kwargs)
        try:
            fn.check_arguments(params, len(args), kwargs)
            ours = True
        except fn.CallCheckError:
            ours = False
        assert ours == ok, (args, kwargs)


@st.composite
def signatures(draw: Any) -> inspect.Signature:
    """Random valid signatures: every kind, defaults where Python allows them."""
    P = inspect.Parameter
    params = []
    names = iter(f"p{i}" for i in range(20))
    defaulted = False
    for kind in (P.POSITIONAL_ONLY, P.POSITIONAL_OR_KEYWORD):
        for _ in range(draw(st.integers(0, 3))):
            defaulted = defaulted or draw(st.booleans())
            params.append(P(next(names), kind, default=1 if defaulted else P.empty))
    if draw(st.booleans()):
        params.append(P("args", P.VAR_POSITIONAL))
    for _ in range(draw(st.integers(0, 3))):
        params.append(P(next(names), P.KEYWORD_ONLY, default=draw(st.sampled_from([P.empty, 0]))))
    if draw(st.booleans()):
        params.append(P("kw", P.VAR_KEYWORD))
    return inspect.Signature(params)


@given(
    sig=signatures(),
    positional=st.integers(0, 6),
    names=st.sets(st.sampled_from(["p0", "p1", "p2", "p3", "p4", "p5", "args", "kw", "zz"])),
)
@settings(max_examples=400, deadline=None)
def test_check_arguments_agrees_with_bind_on_random_signatures(
    sig: inspect.Signature, positional: int, names: set[str]
) -> None:
    params = [
        [p.name, p.kind.name, None if p.default is p.empty else repr(p.default), None]
        for p in sig.parameters.values()
    ]
    kwargs = dict.fromkeys(names, 0)
    namespace: dict[str, Any] = {}
    exec(f"def f{sig}:\n    pass", namespace)  # the oracle is a real call, not Signature.bind
    ok = _accepts(namespace["f"], tuple(range(positional)), kwargs)
    try:
        fn.check_arguments(params, positional, kwargs)
        ours = True
    except fn.CallCheckError:
        ours = False
    assert ours == ok
