"""JSON Schemas shipped with the package (config, result, verdict)."""
