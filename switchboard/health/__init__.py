"""The checks behind GET /api/health."""
