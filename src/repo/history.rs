//! First-parent history walk limited to a path, and the persistent walk cache.
