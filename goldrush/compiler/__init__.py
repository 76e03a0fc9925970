"""The compiler: three-valued logic, reduction, generated predicates, operators, key groups.

`CompiledSet(patterns)` is built once per pattern set; the engine consults only its
per-event-name plans. Clause kinds that are not built in compile themselves through
the public `CompiledSet.add_spec` / `CompiledSet.add_metric` API.
"""
