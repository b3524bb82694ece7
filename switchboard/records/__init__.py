"""Records of every call and message: ids, the record and its table keys, the status lifecycle and callbacks
(pure), the Table Storage store (adapter) and erasure."""
