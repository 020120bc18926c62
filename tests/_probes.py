"""The LISTING probe: what a new process sees of a world's registry, for differential tests.

A warm listing (cache enabled) and a fresh one (``OPENHCS_DISABLE_REGISTRY_CACHE=1``) must agree
on keys, the ``module:qualname`` of every resolved value, secondaries and failures
(tests/test_never_stale.py); an incremental start must also equal a full discovery and import
only the plugin modules a change touched (tests/test_incremental.py).  One template serves
both; the incremental flavour adds which of the world's plugin modules the start imported
(before any value is resolved) and resolves every secondary value too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from support import World, run_python

_TEMPLATE = """
import json<<SYS>>
from {spec} import REGISTRY, PARTNERS
keys = sorted(REGISTRY)
source = REGISTRY.source
<<IMPORTED>>vals = {{}}
for key in keys:
    try:
        value = REGISTRY[key]
        vals[key] = value.__module__ + ":" + value.__qualname__
    except KeyError:
        vals[key] = None
print(json.dumps({{
    "keys": keys,
    "source": source,
<<IMPORTED_FIELD>>    "vals": vals,
    "parts": <<PARTS>>,
    "fails": sorted([f.plugin, f.kind, f.key or ""] for f in REGISTRY.failures),
}}))
"""


def listing_template(*, imported: bool = False) -> str:
    """The probe's code, to ``.format(spec=..., prefix=...)``.

    With *imported*, it also reports the modules starting with ``{prefix}`` that the start
    imported before any value was resolved, and the ``module:qualname`` of every secondary
    value (plain: the secondary's keys).
    """
    parts = (
        '{{k: PARTNERS[k].__module__ + ":" + PARTNERS[k].__qualname__ for k in sorted(PARTNERS)}}'
        if imported
        else "sorted(PARTNERS)"
    )
    return (
        _TEMPLATE.replace("<<SYS>>", ", sys" if imported else "")
        .replace(
            "<<IMPORTED>>",
            'imported = sorted(m for m in sys.modules if m.startswith("{prefix}"))\n'
            if imported
            else "",
        )
        .replace("<<IMPORTED_FIELD>>", '    "imported": imported,\n' if imported else "")
        .replace("<<PARTS>>", parts)
    )


#: Keys, source, values, secondary keys and failures (warm vs fresh).
LISTING = listing_template()
#: The same, plus the world's plugin modules imported and every secondary value (incremental).
LISTING_IMPORTS = listing_template(imported=True)


def observe(world: World, cwd: Path | None = None, **env: str) -> dict[str, Any]:
    """:data:`LISTING` of *world*'s registry in a new process (in *cwd*, with *env* added)."""
    code = LISTING.format(spec=world.spec)
    result: dict[str, Any] = run_python(code, world.env(**env), cwd=cwd or world.root)
    return result


def observe_imports(world: World, cwd: Path | None = None, **env: str) -> dict[str, Any]:
    """:data:`LISTING_IMPORTS` of *world*'s registry; its plugin modules are ``p<tag>_*``."""
    code = LISTING_IMPORTS.format(spec=world.spec, prefix=f"p{world.tag}_")
    result: dict[str, Any] = run_python(code, world.env(**env), cwd=cwd or world.root)
    return result
