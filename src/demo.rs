//! The demo environment (SPEC §10): a sample repo with history and drift on an in-process sandbox.
