//! Normalization before comparing (SPEC §4): server bookkeeping, kubectl's and this tool's own
//! tracking keys are dropped, and a Secret's `stringData` is folded into `data`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};

/// `metadata` fields the API server maintains; never part of the desired state.
const SERVER_METADATA: &[&str] = &[
    "managedFields",
    "resourceVersion",
    "uid",
    "generation",
    "creationTimestamp",
    "selfLink",
];

/// Annotations written by kubectl, controllers or this tool's sync, not by the user.
pub const IGNORED_ANNOTATIONS: &[&str] = &[
    LAST_APPLIED_ANNOTATION,
    "deployment.kubernetes.io/revision",
    REVISION_ANNOTATION,
    SOURCE_ANNOTATION,
];

/// Labels written by this tool's sync (ApplySet membership).
pub const IGNORED_LABELS: &[&str] = &[PART_OF_LABEL];

/// kubectl's client-side apply record; holds a full copy of the object, Secrets included.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";
/// The commit a member was last synced from (SPEC §6).
pub const REVISION_ANNOTATION: &str = "kubectl-gitops.io/revision";
/// The file and document a member was last synced from (SPEC §6).
pub const SOURCE_ANNOTATION: &str = "kubectl-gitops.io/source";
/// ApplySet membership label (SPEC §6).
pub const PART_OF_LABEL: &str = "applyset.kubernetes.io/part-of";

/// Whether a JSON object is a core/v1 Secret.
pub fn is_secret(object: &Value) -> bool {
    object.get("kind").and_then(Value::as_str) == Some("Secret")
        && object.get("apiVersion").and_then(Value::as_str) == Some("v1")
}

/// Returns the normalized copy of an object (desired, live or dry-run result).
///
/// What normalization drops (`status`, the server's `metadata` fields: managedFields can be as
/// large as the object) is not copied first: equal to a clone then [`normalize`], which stays the
/// plain way.
pub fn normalized(object: &Value) -> Value {
    let Value::Object(map) = object else {
        return object.clone();
    };
    let mut copy = Map::with_capacity(map.len());
    for (key, value) in map {
        match (key.as_str(), value) {
            ("status", _) => {}
            ("metadata", Value::Object(metadata)) => {
                let kept = metadata
                    .iter()
                    .filter(|(field, _)| !SERVER_METADATA.contains(&field.as_str()))
                    .map(|(field, value)| (field.clone(), value.clone()))
                    .collect();
                copy.insert(key.clone(), Value::Object(kept));
            }
            _ => {
                copy.insert(key.clone(), value.clone());
            }
        }
    }
    let mut copy = Value::Object(copy);
    normalize(&mut copy);
    copy
}

/// Normalizes an object in place; anything that is not a JSON object is left alone.
pub fn normalize(object: &mut Value) {
    let secret = is_secret(object);
    let Some(map) = object.as_object_mut() else {
        return;
    };
    // `shift_remove`: the fields that stay keep the server's order.
    map.shift_remove("status");
    type_meta_first(map);
    if let Some(Value::Object(metadata)) = map.get_mut("metadata") {
        for field in SERVER_METADATA {
            metadata.shift_remove(*field);
        }
        strip_keys(metadata, "annotations", IGNORED_ANNOTATIONS);
        strip_keys(metadata, "labels", IGNORED_LABELS);
    }
    if secret {
        fold_string_data(map);
    }
}

/// Puts `apiVersion` then `kind` first. The API server writes `kind` first in GET and PATCH
/// answers, a LIST's items carry neither, and manifests start with `apiVersion`: the order of
/// these two keys says nothing about an object, so it must not show as a difference.
fn type_meta_first(map: &mut Map<String, Value>) {
    let mut at = 0;
    for key in ["apiVersion", "kind"] {
        if let Some(value) = map.shift_remove(key) {
            map.shift_insert(at, key.to_owned(), value);
            at += 1;
        }
    }
}

/// Removes `keys` from `metadata[field]`, and the map itself when it ends up empty (or was).
fn strip_keys(metadata: &mut Map<String, Value>, field: &str, keys: &[&str]) {
    let now_empty = match metadata.get_mut(field) {
        Some(Value::Object(entries)) => {
            for key in keys {
                entries.remove(*key);
            }
            entries.is_empty()
        }
        Some(Value::Null) => true,
        _ => false,
    };
    if now_empty {
        metadata.remove(field);
    }
}

/// Folds `stringData` into `data` as the API server does (stringData wins), and re-encodes
/// `data` in canonical base64 so that line-wrapped or unpadded input compares equal.
fn fold_string_data(secret: &mut Map<String, Value>) {
    let string_data = match secret.remove("stringData") {
        Some(Value::Object(entries)) => entries,
        _ => Map::new(),
    };
    let mut data = match secret.remove("data") {
        Some(Value::Object(entries)) => entries,
        _ => Map::new(),
    };
    for value in data.values_mut() {
        if let Value::String(encoded) = value {
            let compact: String = encoded.split_whitespace().collect();
            if let Ok(bytes) = STANDARD.decode(compact.as_bytes()) {
                *encoded = STANDARD.encode(bytes);
            }
        }
    }
    for (key, value) in string_data {
        let text = match value {
            Value::String(text) => text,
            Value::Null => continue,
            other => other.to_string(),
        };
        data.insert(key, Value::String(STANDARD.encode(text.as_bytes())));
    }
    if !data.is_empty() {
        secret.insert("data".to_owned(), Value::Object(data));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The copy that skips dropped fields equals a whole clone normalized in place.
    #[test]
    fn normalized_equals_a_normalized_clone() {
        let objects = [
            json!({"kind": "ConfigMap", "apiVersion": "v1",
                "metadata": {"name": "a", "uid": "u", "resourceVersion": "7",
                    "managedFields": [{"manager": "m", "fieldsV1": {"f:data": {}}}],
                    "annotations": {LAST_APPLIED_ANNOTATION: "{}", "keep": "x"},
                    "labels": {"app": "a"}},
                "data": {"k": "v"}, "status": {"phase": "x"}}),
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
                "stringData": {"k": "v"}, "data": {"j": "dg=="}}),
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": "not an object",
                "status": {}}),
            json!(["not", "an", "object"]),
            json!({}),
        ];
        for object in objects {
            let mut plain = object.clone();
            normalize(&mut plain);
            let copied = normalized(&object);
            assert_eq!(copied, plain);
            assert_eq!(
                serde_json::to_string(&copied).unwrap(),
                serde_json::to_string(&plain).unwrap(),
                "key order"
            );
        }
    }

    #[test]
    fn type_meta_comes_first_whatever_the_servers_order() {
        let from_get = json!({"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "a"}});
        let from_list = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}});
        let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(
            keys(&normalized(&from_get)),
            ["apiVersion", "kind", "metadata"]
        );
        assert_eq!(
            keys(&normalized(&from_list)),
            ["apiVersion", "kind", "metadata"]
        );
        let no_version = json!({"metadata": {}, "kind": "X"});
        assert_eq!(keys(&normalized(&no_version)), ["kind", "metadata"]);
    }

    #[test]
    fn normalization_table() {
        let cases = [
            (
                "server bookkeeping and status dropped",
                json!({"apiVersion": "v1", "kind": "ConfigMap",
                  "metadata": {"name": "a", "namespace": "d", "uid": "u", "resourceVersion": "7",
                    "generation": 2, "creationTimestamp": "2026-01-01T00:00:00Z",
                    "selfLink": "/x", "managedFields": [{"manager": "m"}]},
                  "data": {"k": "v"}, "status": {"x": 1}}),
                json!({"apiVersion": "v1", "kind": "ConfigMap",
                  "metadata": {"name": "a", "namespace": "d"}, "data": {"k": "v"}}),
            ),
            (
                "tracking keys dropped, empty maps left behind removed",
                json!({"apiVersion": "apps/v1", "kind": "Deployment",
                  "metadata": {"name": "web",
                    "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}",
                      "deployment.kubernetes.io/revision": "3",
                      "kubectl-gitops.io/revision": "abc",
                      "kubectl-gitops.io/source": "web.yaml#0"},
                    "labels": {"applyset.kubernetes.io/part-of": "applyset-x"}}}),
                json!({"apiVersion": "apps/v1", "kind": "Deployment",
                  "metadata": {"name": "web"}}),
            ),
            (
                "user annotations and labels kept",
                json!({"kind": "Service", "apiVersion": "v1",
                  "metadata": {"name": "s", "annotations": {"example.com/x": "1",
                    "kubectl-gitops.io/revision": "abc"}, "labels": {"app": "s"}}}),
                json!({"kind": "Service", "apiVersion": "v1",
                  "metadata": {"name": "s", "annotations": {"example.com/x": "1"},
                    "labels": {"app": "s"}}}),
            ),
            (
                "secret stringData folded into data, stringData wins",
                json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
                  "data": {"a": "b2xk", "b": "Ymli\nYmk="},
                  "stringData": {"a": "new", "c": "x"}}),
                json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
                  "data": {"a": "bmV3", "b": "YmliYmk=", "c": "eA=="}}),
            ),
            (
                "stringData of a non-Secret untouched",
                json!({"apiVersion": "v1", "kind": "ConfigMap", "stringData": {"a": "b"}}),
                json!({"apiVersion": "v1", "kind": "ConfigMap", "stringData": {"a": "b"}}),
            ),
        ];
        for (name, input, expected) in cases {
            assert_eq!(normalized(&input), expected, "{name}");
            // Normalizing twice changes nothing more.
            assert_eq!(
                normalized(&normalized(&input)),
                expected,
                "{name} (idempotent)"
            );
        }
    }
}
