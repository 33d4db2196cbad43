//! Structural merge knowledge per kind: list types and merge keys (for server-side apply) and
//! patch strategies (for strategic merge patch), for built-in kinds and from CRD schemas.

use serde_json::Value;

/// How a list merges: `x-kubernetes-list-type` (and `patchStrategy`/`patchMergeKey` for SMP).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListType {
    /// Replaced whole; owned as one leaf.
    Atomic,
    /// A set of scalars; items owned one by one (`v:` keys).
    Set,
    /// A list of objects keyed by these fields (`k:` keys), e.g. containers by `name`.
    Map(Vec<String>),
}

/// The merge schema of one kind.
#[derive(Debug, Clone, Default)]
pub struct TypeSchema {
    // owned by the SSA helper: internal representation is free
}

impl TypeSchema {
    /// Schema for a kind; `crd_schema` is the served version's `schema.openAPIV3Schema` for
    /// custom resources, `None` for built-in kinds.
    pub fn for_kind(_group: &str, _kind: &str, _crd_schema: Option<&Value>) -> TypeSchema {
        todo!("sandbox schema")
    }

    /// List type at `path` (field names from the object root, list items skipped),
    /// e.g. `["spec", "template", "spec", "containers"]`. Unknown lists are atomic.
    pub fn list_type(&self, _path: &[&str]) -> ListType {
        todo!("sandbox schema")
    }
}
