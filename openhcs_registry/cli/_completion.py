"""Shell completion through argcomplete (the optional ``completion`` extra).

Runs only when a shell asks for completions (argcomplete sets ``_ARGCOMPLETE``); an ordinary
run never imports argcomplete.  Registry arguments complete to the registry names, ``KEY``
arguments to the keys of the registry already typed (read warm from the cache when there is
one), other arguments as argcomplete does by default (files for ``validate PATH``).
Activate with ``eval "$(register-python-argcomplete openhcs-registry)"`` (bash, zsh; see
docs/plugin-authors.md for fish).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any


def _modules(parsed_args: Any) -> list[str]:
    return [
        *(getattr(parsed_args, "module", None) or []),
        *(getattr(parsed_args, "sub_module", None) or []),
    ]


def registry_names(prefix: str, parsed_args: Any, **_: Any) -> list[str]:
    """The registry names (primary and secondary) starting with *prefix*."""
    from ._common import load_registries

    regs = load_registries(_modules(parsed_args))
    names = list(regs) + [s.name for r in regs.values() for s in r.config.secondary_registries]
    return sorted(n for n in names if n.startswith(prefix))


def registry_keys(prefix: str, parsed_args: Any, **_: Any) -> list[str]:
    """The keys of the registry named earlier on the command line."""
    from ._common import load_registries, pick, view_of

    regs = load_registries(_modules(parsed_args))
    reg, secondary = pick(regs, parsed_args.registry)
    return sorted(k for k in view_of(reg, secondary) if k.startswith(prefix))


def _attach(parser: argparse.ArgumentParser) -> None:
    """Give every ``registry``/``key`` positional of every (sub-)command its completer."""
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _attach(sub)
        elif action.dest == "registry" and not action.option_strings:
            action.completer = registry_names  # type: ignore[attr-defined]
        elif action.dest == "key" and not action.option_strings:
            action.completer = registry_keys  # type: ignore[attr-defined]
        elif action.dest == "registry":  # new-plugin --registry R
            action.completer = registry_names  # type: ignore[attr-defined]


def autocomplete(parser: argparse.ArgumentParser) -> None:
    """Answer the shell's completion request and exit; without argcomplete, do nothing."""
    try:
        import argcomplete
    except ImportError:  # the completion extra is not installed: no completions
        return
    _attach(parser)
    argcomplete.autocomplete(parser)
