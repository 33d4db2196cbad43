//! Writers for `history` (text, json, yaml).
