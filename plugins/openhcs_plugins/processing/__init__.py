"""OpenHCS's own processing functions: pure Python on 2-D images given as lists of rows.

Small and dependency-free on purpose: they are always available, so the ``openhcs`` function
library is never empty, and they show how a package exposes functions to the catalogues
(public functions of a scanned module, one doc line each, annotated parameters).
"""
