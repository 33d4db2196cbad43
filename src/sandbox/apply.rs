//! Server-side apply and managedFields bookkeeping, as structured-merge-diff does it.

use serde_json::Value;

use super::schema::TypeSchema;

/// Who writes, how, and when: the context of one managedFields entry.
#[derive(Debug, Clone)]
pub struct FieldManagerContext<'a> {
    /// Field manager name (`fieldManager` query parameter, else from the User-Agent).
    pub manager: &'a str,
    /// `apiVersion` of the request, recorded in the managedFields entry.
    pub api_version: &'a str,
    /// RFC 3339 time recorded in the managedFields entry.
    pub now: &'a str,
    /// `Some("status")` or `Some("scale")` for subresource writes.
    pub subresource: Option<&'a str>,
    /// Merge schema of the object's kind.
    pub schema: &'a TypeSchema,
}

/// One conflicting field of an apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// Manager owning the field now.
    pub manager: String,
    /// Field path as the API server prints it, e.g. `.spec.replicas`.
    pub field: String,
}

/// Why an apply was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// Fields owned by other managers would change value; retry with force.
    #[error("Apply failed with {} conflict(s)", .0.len())]
    Conflicts(Vec<Conflict>),
    /// The applied configuration is not a valid object (e.g. duplicate list keys).
    #[error("{0}")]
    Invalid(String),
}

/// Server-side apply of `applied` over `live` (None: create). Returns the merged object with
/// updated `metadata.managedFields`, before defaulting and validation.
pub fn server_side_apply(
    _live: Option<&Value>,
    _applied: &Value,
    _force: bool,
    _ctx: &FieldManagerContext<'_>,
) -> Result<Value, ApplyError> {
    todo!("sandbox apply")
}

/// managedFields for an Update operation (POST, PUT, non-apply PATCH): the fields that changed
/// between `old` (None on create) and `new` become `ctx.manager`'s and leave other managers.
pub fn record_update(_old: Option<&Value>, _new: &mut Value, _ctx: &FieldManagerContext<'_>) {
    todo!("sandbox apply")
}
