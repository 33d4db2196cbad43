//! Secret masking (SPEC §4): no value of a Secret's `data`/`stringData`, nor its last-applied
//! annotation, is ever printed. Each distinct value gets its own mask so that changed and
//! unchanged values stay visible.

use std::collections::HashMap;
use std::fmt;

use serde_json::Value;

use super::normalize::{LAST_APPLIED_ANNOTATION, is_secret};

/// The character masks are made of.
pub const MASK_CHAR: char = '+';
/// Length of the first mask handed out; later distinct values get one character more each.
pub const FIRST_MASK_LEN: usize = 8;

/// Hands out masks: equal values share a mask, distinct values get `++++++++`, `+++++++++`, ...
/// in order of first appearance. Its `Debug` shows only how many values it has seen.
#[derive(Default)]
pub struct SecretMasker {
    masks: HashMap<String, String>,
}

impl fmt::Debug for SecretMasker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretMasker")
            .field("distinct_values", &self.masks.len())
            .finish()
    }
}

impl SecretMasker {
    /// A masker that has seen no value yet.
    pub fn new() -> SecretMasker {
        SecretMasker::default()
    }

    /// The mask for one secret value.
    pub fn mask_for(&mut self, value: &str) -> String {
        let next_len = FIRST_MASK_LEN + self.masks.len();
        self.masks
            .entry(value.to_owned())
            .or_insert_with(|| MASK_CHAR.to_string().repeat(next_len))
            .clone()
    }

    /// Masks a Secret's values in place; other objects are left alone.
    pub fn mask_object(&mut self, object: &mut Value) {
        if is_secret(object) {
            self.mask_secret(object);
        }
    }

    /// Masks `data`, `stringData` and the last-applied annotation without looking at `kind`:
    /// for callers that know from the resource identity that this is a Secret (list items from
    /// the API server come without `kind`).
    pub fn mask_secret(&mut self, object: &mut Value) {
        for field in ["data", "stringData"] {
            if let Some(Value::Object(entries)) = object.get_mut(field) {
                for value in entries.values_mut() {
                    self.mask_in_place(value);
                }
            }
        }
        if let Some(value) = object
            .pointer_mut("/metadata/annotations")
            .and_then(Value::as_object_mut)
            .and_then(|annotations| annotations.get_mut(LAST_APPLIED_ANNOTATION))
        {
            self.mask_in_place(value);
        }
    }

    fn mask_in_place(&mut self, value: &mut Value) {
        let text = match &*value {
            Value::Null => return,
            Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        *value = Value::String(self.mask_for(&text));
    }
}

/// Masks the Secrets among `objects` together, so that a value shared between them (say live
/// and desired) gets the same mask everywhere. Call it on everything that is compared, before
/// anything is printed; normalize first so that `stringData` is already folded into `data`.
pub fn mask_objects(objects: &mut [&mut Value]) {
    let mut masker = SecretMasker::new();
    for object in objects.iter_mut() {
        masker.mask_object(object);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn secret(data: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"}, "data": data})
    }

    #[test]
    fn distinct_values_get_distinct_masks_and_equal_values_share() {
        let mut desired = secret(json!({"user": "YWRtaW4=", "password": "bmV3cGFzcw=="}));
        let mut live = secret(json!({"user": "YWRtaW4=", "password": "b2xkcGFzcw==",
            "token": "YWRtaW4="}));
        mask_objects(&mut [&mut desired, &mut live]);
        let eight = "+".repeat(8);
        let nine = "+".repeat(9);
        let ten = "+".repeat(10);
        assert_eq!(desired["data"], json!({"user": eight, "password": nine}));
        assert_eq!(
            live["data"],
            json!({"user": eight, "password": ten, "token": eight})
        );
    }

    #[test]
    fn no_value_survives_in_output_or_debug() {
        let values = [
            "YWRtaW4=",
            "c3VwZXJzZWNyZXQ=",
            "plain-secret",
            "last-applied-json",
        ];
        let mut object = json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "db", "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": values[3]}},
            "data": {"a": values[0], "b": values[1]}, "stringData": {"c": values[2]}});
        let mut masker = SecretMasker::new();
        masker.mask_object(&mut object);
        let printed = format!("{object} {object:?} {masker:?}");
        for value in values {
            assert!(!printed.contains(value), "{value} leaked: {printed}");
        }
        assert!(printed.contains("distinct_values: 4"), "{printed}");
    }

    #[test]
    fn non_secrets_are_not_masked() {
        let mut config = json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "b"}});
        let before = config.clone();
        mask_objects(&mut [&mut config]);
        assert_eq!(config, before);
    }
}
