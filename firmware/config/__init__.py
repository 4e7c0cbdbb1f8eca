"""The office configuration: schema, validation, numbered revisions, the generated reference.

- `schema`: the frozen dataclasses, each setting declared once with unit, bounds and meaning.
- `validate`: YAML or dict → `Config`, refusing bad documents with `ConfigError` (every
  problem, with its path and line).
- `store`: numbered revisions in the data directory, the active one, change listeners.
- `defaults`: the default office generated at the first start.
- `reference`: docs/CONFIGURATION.md, generated from the schema.
"""
