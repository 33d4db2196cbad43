//! What the controllers would make of a workload: the status it converges to.

use serde_json::Value;

use super::kinds::KindInfo;

/// The status `obj` converges to once its controller has caught up, or `None` when the kind has
/// no controller in the sandbox (or never becomes healthy, e.g. an image on a `.invalid` host).
pub fn converged_status(_kind: &KindInfo, _obj: &Value) -> Option<Value> {
    todo!("sandbox controller")
}
