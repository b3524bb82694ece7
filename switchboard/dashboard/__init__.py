"""The operator page: a pure data model and HTML renderer, and a reader over the records table."""
