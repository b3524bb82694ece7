"""The imperative shell: Azure Functions blueprints, one per area. Each stays thin."""
