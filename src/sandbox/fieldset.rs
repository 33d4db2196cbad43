//! Field sets as managedFields stores them (`fieldsV1`: `f:`, `k:`, `v:`, `i:` and `.` keys).
