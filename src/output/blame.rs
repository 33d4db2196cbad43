//! Writers for `blame` (text, porcelain, json).
