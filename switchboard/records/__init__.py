"""Records of every call and message: the status lifecycle and record shape (pure) and Table Storage (adapter)."""
