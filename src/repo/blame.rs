//! Line blame of a blob's line range across first-parent history, with rename tracking.
