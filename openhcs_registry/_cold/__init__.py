"""The engine's cold path: everything here runs only when a registry is discovered.

A warm read (a registry or enum replayed from its cache document) never imports this package;
the modules at the top of ``openhcs_registry`` are the warm path and follow its import rule
(no ``typing``, ``logging``, pluggy or importlib.metadata at run time).  The code here is
normal Python: discovery (``_discovery``: list, load, call, judge, merge, record), the import
recorder (``_inputs``), the per-plugin records (``_records``), the document writer
(``_document``), incremental reuse (``_reuse``), the entry-point reader (``_entrypoints``),
pluggy's plugin manager (``_plugin_manager``), ``explain()``'s evidence (``_explain``), what
start-up ran (``_startup``) and the default location's folders per environment (``_folders``).
``tests/test_layers.py`` checks that a warm read imports nothing from here.
"""
