//! Patches: JSON merge patch (RFC 7386), strategic merge patch, JSON patch (RFC 6902).

use serde_json::Value;

use super::schema::TypeSchema;

/// A patch that cannot be applied; the message is what the API server would say.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PatchError(pub String);

/// RFC 7386 JSON merge patch.
pub fn json_merge_patch(_target: &Value, _patch: &Value) -> Result<Value, PatchError> {
    todo!("sandbox patch")
}

/// Kubernetes strategic merge patch, with `$patch`, `$setElementOrder`, `$retainKeys` and
/// `$deleteFromPrimitiveList` directives.
pub fn strategic_merge_patch(
    _target: &Value,
    _patch: &Value,
    _schema: &TypeSchema,
) -> Result<Value, PatchError> {
    todo!("sandbox patch")
}

/// RFC 6902 JSON patch.
pub fn json_patch(_target: &Value, _ops: &Value) -> Result<Value, PatchError> {
    todo!("sandbox patch")
}
