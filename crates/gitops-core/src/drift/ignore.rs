//! Ignore rules (SPEC §4, §8): fields removed from both sides before comparing, and not sent
//! by sync.

use serde_json::Value;

use super::DriftError;
use super::fields_v1::remove_fields;
use k8s_model::fieldset::FieldSet;
use k8s_model::{IgnoreRule, ResourceId};

/// The fields the matching ignore rules exclude for one resource.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IgnoreSet {
    /// Decoded JSON pointer tokens (`/a~1b/0` → `["a/b", "0"]`).
    pointers: Vec<Vec<String>>,
    /// Field sets of the live managedFields entries of ignored managers.
    owned: Vec<FieldSet>,
}

impl IgnoreSet {
    /// Collects what the rules matching `id` exclude. `live` is the live object as the server
    /// returned it (before normalization, which drops the managedFields needed here).
    pub fn from_rules(
        rules: &[IgnoreRule],
        id: &ResourceId,
        live: Option<&Value>,
    ) -> Result<IgnoreSet, DriftError> {
        let mut set = IgnoreSet::default();
        for rule in rules.iter().filter(|rule| rule.matches(id)) {
            for pointer in &rule.json_pointers {
                set.pointers.push(decode_pointer(pointer)?);
            }
            if rule.managed_fields_managers.is_empty() {
                continue;
            }
            let entries = live
                .and_then(|object| object.pointer("/metadata/managedFields"))
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default();
            for entry in entries {
                let manager = entry.get("manager").and_then(Value::as_str);
                let ignored = manager.is_some_and(|manager| {
                    rule.managed_fields_managers.iter().any(|m| m == manager)
                });
                let Some(fields_v1) = entry.get("fieldsV1").filter(|_| ignored) else {
                    continue;
                };
                let fields =
                    FieldSet::from_fields_v1(fields_v1).map_err(|source| DriftError::FieldsV1 {
                        resource: id.to_string(),
                        manager: manager.unwrap_or_default().to_owned(),
                        source,
                    })?;
                set.owned.push(fields);
            }
        }
        Ok(set)
    }

    /// Whether no field is excluded.
    pub fn is_empty(&self) -> bool {
        self.pointers.is_empty() && self.owned.is_empty()
    }

    /// Removes the excluded fields from an object (desired, live, dry-run result, or the object
    /// sync is about to send). Maps emptied by the removal go too, so that they do not show up
    /// as differences themselves.
    pub fn strip(&self, object: &mut Value) {
        for tokens in &self.pointers {
            remove_pointer(object, tokens);
        }
        for fields in &self.owned {
            remove_fields(fields, object);
        }
    }
}

/// RFC 6901: `~1` is `/`, `~0` is `~`; the empty pointer (the whole object) is refused.
fn decode_pointer(pointer: &str) -> Result<Vec<String>, DriftError> {
    let invalid = || DriftError::InvalidPointer {
        pointer: pointer.to_owned(),
    };
    let rest = pointer.strip_prefix('/').ok_or_else(invalid)?;
    rest.split('/')
        .map(|token| {
            let mut decoded = String::with_capacity(token.len());
            let mut chars = token.chars();
            while let Some(c) = chars.next() {
                if c != '~' {
                    decoded.push(c);
                    continue;
                }
                match chars.next() {
                    Some('0') => decoded.push('~'),
                    Some('1') => decoded.push('/'),
                    _ => return Err(invalid()),
                }
            }
            Ok(decoded)
        })
        .collect()
}

/// Removes the value at `tokens`; returns whether `node` is now an empty map that was not
/// empty before, so that the caller drops it as well.
fn remove_pointer(node: &mut Value, tokens: &[String]) -> bool {
    let Some((first, rest)) = tokens.split_first() else {
        return false;
    };
    match node {
        Value::Object(map) => {
            let removed = if rest.is_empty() {
                map.remove(first).is_some()
            } else {
                let emptied = map
                    .get_mut(first)
                    .is_some_and(|child| remove_pointer(child, rest));
                if emptied {
                    map.remove(first);
                }
                emptied
            };
            removed && map.is_empty()
        }
        Value::Array(items) => {
            let Ok(position) = first.parse::<usize>() else {
                return false;
            };
            if position >= items.len() {
                return false;
            }
            if rest.is_empty() {
                items.remove(position);
            } else if let Some(child) = items.get_mut(position) {
                remove_pointer(child, rest);
            }
            false
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drift::tests::deployment_id as web;
    use serde_json::json;

    fn live() -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "annotations": {"example.com/x": "1"},
                "managedFields": [
                    {"manager": "kubectl-gitops", "operation": "Apply",
                     "fieldsV1": {"f:spec": {"f:template": {"f:spec": {"f:containers": {
                        "k:{\"name\":\"web\"}": {".": {}, "f:name": {}, "f:image": {}}}}}}}},
                    {"manager": "horizontal-pod-autoscaler", "operation": "Update",
                     "fieldsV1": {"f:spec": {"f:replicas": {}}}},
                    {"manager": "injector", "operation": "Update",
                     "fieldsV1": {"f:spec": {"f:template": {"f:spec": {"f:containers": {
                        "k:{\"name\":\"proxy\"}": {".": {}, "f:name": {}, "f:image": {}},
                        "k:{\"name\":\"web\"}": {"f:env": {}}}}}}}}
                ]},
            "spec": {"replicas": 7, "template": {"spec": {"containers": [
                {"name": "web", "image": "web:1", "env": [{"name": "A", "value": "x"}]},
                {"name": "proxy", "image": "proxy:1"}]}}}
        })
    }

    #[test]
    fn rule_forms_table() {
        let cases: [(&str, IgnoreRule, Value); 5] = [
            (
                "json pointer",
                IgnoreRule {
                    json_pointers: vec!["/spec/replicas".into()],
                    ..Default::default()
                },
                json!({"template": {"spec": {"containers": [
                    {"name": "web", "image": "web:1", "env": [{"name": "A", "value": "x"}]},
                    {"name": "proxy", "image": "proxy:1"}]}}}),
            ),
            (
                "escaped pointer, emptied map removed",
                IgnoreRule {
                    json_pointers: vec!["/metadata/annotations/example.com~1x".into()],
                    ..Default::default()
                },
                json!({"name": "web"}),
            ),
            (
                "managedFields manager owning a plain field",
                IgnoreRule {
                    managed_fields_managers: vec!["horizontal-pod-autoscaler".into()],
                    ..Default::default()
                },
                json!({"template": {"spec": {"containers": [
                    {"name": "web", "image": "web:1", "env": [{"name": "A", "value": "x"}]},
                    {"name": "proxy", "image": "proxy:1"}]}}}),
            ),
            (
                "managedFields manager owning k: items",
                IgnoreRule {
                    managed_fields_managers: vec!["injector".into()],
                    ..Default::default()
                },
                json!({"replicas": 7, "template": {"spec": {"containers": [
                    {"name": "web", "image": "web:1"}]}}}),
            ),
            (
                "rule for another kind does nothing",
                IgnoreRule {
                    kind: Some("StatefulSet".into()),
                    json_pointers: vec!["/spec/replicas".into()],
                    ..Default::default()
                },
                live()["spec"].clone(),
            ),
        ];
        for (name, rule, expected) in cases {
            let live = live();
            let set = IgnoreSet::from_rules(&[rule], &web(), Some(&live)).unwrap();
            let mut object = live.clone();
            object["metadata"]
                .as_object_mut()
                .unwrap()
                .remove("managedFields");
            set.strip(&mut object);
            let part = if name.starts_with("escaped") {
                &object["metadata"]
            } else {
                &object["spec"]
            };
            assert_eq!(part, &expected, "{name}");
        }
    }

    #[test]
    fn pointer_into_list_and_bad_pointers() {
        let rule = IgnoreRule {
            json_pointers: vec!["/spec/template/spec/containers/0/image".into()],
            ..Default::default()
        };
        let set = IgnoreSet::from_rules(&[rule], &web(), None).unwrap();
        let mut object = live();
        set.strip(&mut object);
        assert_eq!(
            object.pointer("/spec/template/spec/containers/0/image"),
            None
        );
        assert!(!set.is_empty());
        for bad in ["spec/replicas", "/a~2b", ""] {
            let rule = IgnoreRule {
                json_pointers: vec![bad.into()],
                ..Default::default()
            };
            assert!(
                matches!(
                    IgnoreSet::from_rules(&[rule], &web(), None),
                    Err(DriftError::InvalidPointer { .. })
                ),
                "{bad:?}"
            );
        }
    }
}
