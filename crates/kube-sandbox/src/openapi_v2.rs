//! `/openapi/v2` as kubectl 1.28 reads it: a gnostic `openapi.v2.Document` in protobuf.
//!
//! kubectl 1.28 decides whether the server validates fields (`fieldValidation`) from the PATCH
//! operations of this document, and fails `apply` when it cannot download it. Only what that
//! check reads is served: one path per kind with its PATCH operation, the operation's query
//! parameters and its `x-kubernetes-group-version-kind` extension. No schema definitions.

use super::kinds::KindInfo;

/// Content-Type of `/openapi/v2` answers (kubectl asks for `…spec.v2@v1.0+protobuf`).
pub const PROTOBUF_CONTENT_TYPE: &str =
    "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

/// Appends a length-delimited field (wire type 2).
fn put_bytes(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    put_varint(out, u64::from(field << 3 | 2));
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// `QueryParameterSubSchema` wrapped as `ParametersItem{parameter{non_body_parameter{…}}}`.
fn query_parameter(name: &str) -> Vec<u8> {
    let mut sub = Vec::new();
    put_bytes(&mut sub, 2, b"query"); // in
    put_bytes(&mut sub, 4, name.as_bytes()); // name
    put_bytes(&mut sub, 6, b"string"); // type
    let mut non_body = Vec::new();
    put_bytes(&mut non_body, 3, &sub); // query_parameter_sub_schema
    let mut parameter = Vec::new();
    put_bytes(&mut parameter, 2, &non_body); // non_body_parameter
    let mut item = Vec::new();
    put_bytes(&mut item, 1, &parameter); // parameter
    item
}

/// `NamedAny{name: x-kubernetes-group-version-kind, value: Any{yaml}}`.
fn gvk_extension(kind: &KindInfo) -> Vec<u8> {
    let yaml = format!(
        "group: \"{}\"\nkind: {}\nversion: {}\n",
        kind.group, kind.kind, kind.version
    );
    let mut any = Vec::new();
    put_bytes(&mut any, 2, yaml.as_bytes()); // yaml
    let mut named = Vec::new();
    put_bytes(&mut named, 1, b"x-kubernetes-group-version-kind");
    put_bytes(&mut named, 2, &any);
    named
}

fn object_path(kind: &KindInfo) -> String {
    let root = if kind.group.is_empty() {
        format!("/api/{}", kind.version)
    } else {
        format!("/apis/{}/{}", kind.group, kind.version)
    };
    if kind.namespaced {
        format!("{root}/namespaces/{{namespace}}/{}/{{name}}", kind.plural)
    } else {
        format!("{root}/{}/{{name}}", kind.plural)
    }
}

/// The protobuf document for the served kinds.
pub fn document(kinds: &[KindInfo]) -> Vec<u8> {
    let mut paths = Vec::new();
    for kind in kinds {
        let mut op = Vec::new();
        put_bytes(
            &mut op,
            5,
            format!("patch{}{}", kind.kind, kind.version).as_bytes(),
        ); // operation_id
        for p in ["dryRun", "fieldManager", "fieldValidation", "force"] {
            put_bytes(&mut op, 8, &query_parameter(p)); // parameters
        }
        put_bytes(&mut op, 13, &gvk_extension(kind)); // vendor_extension
        let mut item = Vec::new();
        put_bytes(&mut item, 8, &op); // patch
        let mut named = Vec::new();
        put_bytes(&mut named, 1, object_path(kind).as_bytes());
        put_bytes(&mut named, 2, &item);
        put_bytes(&mut paths, 2, &named); // Paths.path
    }
    let mut info = Vec::new();
    put_bytes(&mut info, 1, b"Kubernetes");
    put_bytes(&mut info, 2, b"v1.33.0");
    let mut doc = Vec::new();
    put_bytes(&mut doc, 1, b"2.0"); // swagger
    put_bytes(&mut doc, 2, &info); // info
    put_bytes(&mut doc, 8, &paths); // paths
    doc
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::builtin_kinds;

    #[test]
    fn varints_encode_like_protobuf() {
        let mut out = Vec::new();
        put_varint(&mut out, 300);
        assert_eq!(out, [0xac, 0x02]);
        let mut out = Vec::new();
        put_bytes(&mut out, 1, b"2.0");
        assert_eq!(out, [0x0a, 3, b'2', b'.', b'0']);
    }

    #[test]
    fn document_names_every_kind_and_the_field_validation_parameter() {
        let kinds = builtin_kinds();
        let doc = document(&kinds);
        let text = String::from_utf8_lossy(&doc);
        assert!(text.contains("/apis/apps/v1/namespaces/{namespace}/deployments/{name}"));
        assert!(text.contains("/api/v1/namespaces/{name}"));
        assert!(text.contains("fieldValidation"));
        assert!(text.contains("kind: Deployment"));
        assert!(doc.starts_with(&[0x0a, 3, b'2', b'.', b'0']));
    }
}
