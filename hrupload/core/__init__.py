"""The pure core: scenarios, field rules, the report, CSV, the validation engines.

No Azure, no HTTP, no CLI libraries (import-linter checks it in ``make test``).
"""
