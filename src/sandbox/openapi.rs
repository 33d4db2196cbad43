//! OpenAPI v3 documents, enough for kubectl's field-validation support checks.

use serde_json::Value;

use super::kinds::KindInfo;

/// `/openapi/v3`: one entry per served group-version.
pub fn v3_root(_kinds: &[KindInfo]) -> Value {
    todo!("sandbox openapi")
}

/// `/openapi/v3/api/v1` or `/openapi/v3/apis/<group>/<version>`; `None` when not served.
pub fn v3_group_version(_kinds: &[KindInfo], _group: &str, _version: &str) -> Option<Value> {
    todo!("sandbox openapi")
}
