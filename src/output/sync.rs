//! Writers for `sync` plans and results (text, json, yaml).
