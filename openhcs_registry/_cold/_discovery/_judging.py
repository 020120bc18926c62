"""Judging one plugin's values on their own: :func:`._rules.admit`, then derivation.

No other plugin is looked at (conflicts are the merge's business): what a plugin returned
is judged into :class:`~.._records.Offer` objects (:func:`judge_answer` returns them, the
calling step keeps them in the plugin's record), which is what lets an unchanged plugin's
record be reused by incremental rediscovery.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping

from ..._diagnostics import FailureKind, PluginFailure, exception_location
from ..._refs import parse, reference_of
from ..._rules import Unavailable, admit, derive
from .. import _inputs
from .._records import Offer, PluginRecord
from ._context import Context

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class Answer:
    """One hook's answer, judged: its offers, or its failure (not a list or dict).

    (A plain class with ``__slots__``: a ``NamedTuple`` is made by generated code at
    import, which every changed start would pay.)
    """

    __slots__ = ("failure", "offers", "volatile")

    def __init__(
        self,
        offers: list[Offer],
        failure: PluginFailure | None = None,
        volatile: str | None = None,
    ) -> None:
        self.offers = offers
        self.failure = failure
        #: why the plugin's part cannot be cached (an offer with no address), else None
        self.volatile = volatile


def _encodable(key: str | None) -> bool:
    try:
        (key or "").encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _findable(module: str) -> bool:
    """Whether *module* is imported or can be found on the path (nothing imported)."""
    from .._explain import locate

    if module in sys.modules:
        return True
    file, folders = locate(module)
    return file is not None or bool(folders)


# -- judging one plugin's values (on their own: no other plugin is looked at) ------------
def judge_answer(ctx: Context, record: PluginRecord, returned: Any) -> Answer:
    """What *record*'s hook *returned*, judged value by value."""
    cfg = ctx.config
    if returned is None:
        return Answer([])
    pairs: list[tuple[Any, Any]]
    if isinstance(returned, Mapping):
        pairs = list(returned.items())
    elif isinstance(returned, Iterable) and not isinstance(returned, (str, bytes)):
        pairs = [(None, v) for v in returned]
    else:
        failure = ctx.failure(
            record.name,
            FailureKind.BAD_RETURN,
            f"{cfg.hook_name}() returned {type(returned).__name__}, expected a list or dict",
            module=record.module,
            distribution=record.distribution,
        )
        return Answer([], failure)
    assert record.inputs is not None
    with _inputs.recording(record.inputs):  # requires_modules look-ups are inputs too
        offers = [judge(ctx, record, given_key, value) for given_key, value in pairs]
    return Answer(offers, None, _volatile(offers))


def _volatile(offers: list[Offer]) -> str | None:
    """Why these offers cannot be cached (the last such offer's reason), or None."""
    reason = None
    for offer in offers:
        if offer.failure is not None:
            continue
        if offer.ref is None:
            reason = f"{offer.key!r} has no module:qualname address"
        elif not _encodable(offer.key):
            reason = f"key {offer.key!r} cannot be stored (not valid Unicode)"
        elif any(
            not isinstance(d, (str, PluginFailure)) and d is not None
            for d in offer.secondaries.values()
        ):
            reason = f"a secondary value of {offer.key!r} has no address"
    return reason


def judge(ctx: Context, record: PluginRecord, given_key: Any, value: Any) -> Offer:
    """Whether *value* may enter the registry, as an :class:`Offer` (no side effects)."""
    ref = reference_of(value) if not isinstance(value, Unavailable) else None
    failure = _refusal(ctx, record, given_key, value)
    if record.inputs is not None:  # requirements imported already are inputs too
        _inputs.note_found(record.inputs, getattr(value, "requires_modules", ()))
    if failure is not None:
        key = failure.key
        return Offer(key, ref, given_key is not None, failure, value, live=True)
    key = given_key if given_key is not None else ctx.config.key_of(value)
    offer = Offer(key, ref, given_key is not None, None, value, live=True)
    _derive(ctx, record, offer)
    return offer


def _refusal(
    ctx: Context, record: PluginRecord, given_key: Any, value: Any
) -> PluginFailure | None:
    """:func:`._rules.admit`'s verdict as this plugin's failure (logged once, here)."""
    refusal = admit(ctx.config, value, given_key)
    if refusal is None:
        return None
    return ctx.failure(
        record.name,
        refusal.kind,
        refusal.message,
        module=record.module,
        distribution=record.distribution,
        key=refusal.key,
        missing_module=refusal.missing_module,
    )


def _derive(ctx: Context, record: PluginRecord, offer: Offer) -> None:
    """The secondary entries of an accepted value (used only if it wins its key)."""
    assert offer.key is not None
    for sec in ctx.config.secondary_registries:
        try:
            value = derive(sec, offer.key, offer.value)  # the one rule
        except Exception as exc:
            offer.secondaries[sec.name] = PluginFailure(
                ctx.config.name,
                record.name,
                FailureKind.DERIVE_ERROR,
                f"cannot derive {sec.name} entry: {exc!r}",
                module=getattr(offer.value, "__module__", record.module),
                key=offer.key,
                exception=type(exc).__name__,
                location=exception_location(exc),
            )
            continue
        if value is None:
            continue
        if isinstance(value, str):
            try:
                parse(value)
            except ValueError:
                offer.secondaries[sec.name] = PluginFailure(
                    ctx.config.name,
                    record.name,
                    FailureKind.DERIVE_ERROR,
                    f"{sec.name}: {value!r} is not a module:qualname reference",
                    module=getattr(offer.value, "__module__", record.module),
                    key=offer.key,
                )
                continue
            if not _findable(value.split(":")[0]):
                # a typo here would make every warm start find its cache "corrupt"
                offer.secondaries[sec.name] = PluginFailure(
                    ctx.config.name,
                    record.name,
                    FailureKind.DERIVE_ERROR,
                    f"{sec.name}: {value!r} points into module "
                    f"{value.split(':')[0]!r}, which cannot be found",
                    module=getattr(offer.value, "__module__", record.module),
                    key=offer.key,
                )
                continue
            offer.secondaries[sec.name] = value
        else:
            offer.secondaries[sec.name] = reference_of(value) or value
