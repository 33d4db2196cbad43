//! Objects, resourceVersions, the watch event log, and persistence (`--state`).
