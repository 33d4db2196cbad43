//! A small reader for managedFields' `fieldsV1` sets, and removal of the fields a set names.
//!
//! Branch `sandbox-ssa` has a fuller parser in `src/sandbox/fieldset.rs`; the drift engine may
//! not depend on the sandbox (layering), so this one only reads and removes.

use serde_json::{Map, Value};

use super::merge_key::{ItemKey, item_key, keys_equal};

/// One step of a `fieldsV1` set.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldStep {
    /// `f:<name>`: a map field.
    Field(String),
    /// `k:{json}`: the list item whose key fields have these values.
    Key(ItemKey),
    /// `v:<json>`: the set-list item equal to this value.
    SetValue(Value),
    /// `i:<n>`: the list item at this position.
    Index(usize),
}

/// A parsed `fieldsV1` tree: the fields below a node, and whether the node itself is owned
/// (`.`: its existence, e.g. a list item or a map, is owned apart from its fields).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldSet {
    /// The `.` marker.
    pub owns_self: bool,
    /// Owned children, in the order they were written.
    pub children: Vec<(FieldStep, FieldSet)>,
}

/// A `fieldsV1` document that does not follow the format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed fieldsV1 entry {entry:?}: {reason}")]
pub struct FieldsV1Error {
    /// The key that could not be read.
    pub entry: String,
    /// What is wrong with it.
    pub reason: String,
}

impl FieldSet {
    /// Reads a `fieldsV1` JSON object.
    pub fn parse(fields_v1: &Value) -> Result<FieldSet, FieldsV1Error> {
        let Value::Object(entries) = fields_v1 else {
            return Err(FieldsV1Error {
                entry: fields_v1.to_string(),
                reason: "expected a JSON object".into(),
            });
        };
        let mut set = FieldSet::default();
        for (entry, child) in entries {
            if entry == "." {
                set.owns_self = true;
                continue;
            }
            let error = |reason: &str| FieldsV1Error {
                entry: entry.clone(),
                reason: reason.to_owned(),
            };
            let step = match entry.split_once(':') {
                Some(("f", name)) => FieldStep::Field(name.to_owned()),
                Some(("k", json)) => match serde_json::from_str::<Value>(json) {
                    Ok(Value::Object(fields)) => FieldStep::Key(fields.into_iter().collect()),
                    _ => return Err(error("k: wants a JSON object of key fields")),
                },
                Some(("v", json)) => FieldStep::SetValue(
                    serde_json::from_str(json).map_err(|_| error("v: wants a JSON value"))?,
                ),
                Some(("i", index)) => FieldStep::Index(
                    index
                        .parse()
                        .map_err(|_| error("i: wants a list position"))?,
                ),
                _ => return Err(error("unknown prefix (want f:, k:, v:, i: or .)")),
            };
            set.children.push((step, FieldSet::parse(child)?));
        }
        Ok(set)
    }

    /// A node without children owns its whole value (a scalar, or an atomic map or list).
    fn is_leaf(&self) -> bool {
        self.children.is_empty()
    }

    /// Removes the fields this set names from `object` (the value this set describes).
    pub fn remove_from(&self, object: &mut Value) {
        self.remove_below(object, &[]);
    }

    /// `protected`: key fields of the list item being visited; they identify the item, so they
    /// stay as long as the item stays.
    fn remove_below(&self, node: &mut Value, protected: &[String]) {
        match node {
            Value::Object(map) => self.remove_from_map(map, protected),
            Value::Array(items) => self.remove_from_list(items),
            _ => {}
        }
    }

    fn remove_from_map(&self, map: &mut Map<String, Value>, protected: &[String]) {
        for (step, child) in &self.children {
            let FieldStep::Field(name) = step else {
                continue;
            };
            if protected.contains(name) {
                continue;
            }
            let remove = match map.get_mut(name) {
                None => false,
                Some(_) if child.is_leaf() => true,
                Some(value) => {
                    child.remove_below(value, &[]);
                    child.owns_self && is_empty_container(value)
                }
            };
            if remove {
                map.remove(name);
            }
        }
    }

    fn remove_from_list(&self, items: &mut Vec<Value>) {
        let mut doomed = vec![false; items.len()];
        for (step, child) in &self.children {
            match step {
                FieldStep::Key(key) => {
                    let names: Vec<String> = key.iter().map(|(name, _)| name.clone()).collect();
                    let field_names: Vec<&str> = names.iter().map(String::as_str).collect();
                    for (position, item) in items.iter_mut().enumerate() {
                        let matches = item_key(item, &field_names)
                            .is_some_and(|item_key| keys_equal(&item_key, key));
                        if !matches {
                            continue;
                        }
                        if child.is_leaf() {
                            doomed[position] = true;
                            continue;
                        }
                        child.remove_below(item, &names);
                        let only_keys_left = item
                            .as_object()
                            .is_some_and(|fields| fields.keys().all(|k| names.contains(k)));
                        if child.owns_self && only_keys_left {
                            doomed[position] = true;
                        }
                    }
                }
                FieldStep::SetValue(value) => {
                    for (position, item) in items.iter().enumerate() {
                        if item == value {
                            doomed[position] = true;
                        }
                    }
                }
                FieldStep::Index(position) => {
                    let Some(item) = items.get_mut(*position) else {
                        continue;
                    };
                    if child.is_leaf() {
                        doomed[*position] = true;
                    } else {
                        child.remove_below(item, &[]);
                        if child.owns_self && is_empty_container(item) {
                            doomed[*position] = true;
                        }
                    }
                }
                FieldStep::Field(_) => {}
            }
        }
        let mut position = 0;
        items.retain(|_| {
            let keep = !doomed[position];
            position += 1;
            keep
        });
    }
}

fn is_empty_container(value: &Value) -> bool {
    match value {
        Value::Object(map) => map.is_empty(),
        Value::Array(items) => items.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn removal_table() {
        let deployment = json!({
            "metadata": {"name": "web", "annotations": {"a": "1", "b": "2"},
                "finalizers": ["x/keep", "y/drop"]},
            "spec": {"replicas": 5, "template": {"spec": {"containers": [
                {"name": "web", "image": "web:2", "resources": {"limits": {"cpu": "1"}}},
                {"name": "sidecar", "image": "proxy:1"}
            ]}}, "strategy": {"type": "RollingUpdate"}}
        });
        let cases = [
            (
                "leaf field",
                json!({"f:spec": {"f:replicas": {}}}),
                vec!["/spec/replicas"],
                vec![],
            ),
            (
                "map with dot keeps what others own",
                json!({"f:metadata": {"f:annotations": {".": {}, "f:a": {}}}}),
                vec!["/metadata/annotations/a"],
                vec!["/metadata/annotations/b"],
            ),
            (
                "k: item with dot removed whole",
                json!({"f:spec": {"f:template": {"f:spec": {"f:containers": {
                    "k:{\"name\":\"sidecar\"}": {".": {}, "f:name": {}, "f:image": {}}}}}}}),
                vec!["/spec/template/spec/containers/1"],
                vec!["/spec/template/spec/containers/0/image"],
            ),
            (
                "k: item fields, item and its key stay",
                json!({"f:spec": {"f:template": {"f:spec": {"f:containers": {
                    "k:{\"name\":\"web\"}": {"f:resources": {"f:limits": {"f:cpu": {}}}}}}}}}),
                vec!["/spec/template/spec/containers/0/resources/limits/cpu"],
                vec![
                    "/spec/template/spec/containers/0/name",
                    "/spec/template/spec/containers/0/image",
                ],
            ),
            (
                "v: set value",
                json!({"f:metadata": {"f:finalizers": {"v:\"y/drop\"": {}}}}),
                vec!["/metadata/finalizers/1"],
                vec!["/metadata/finalizers/0"],
            ),
            (
                "i: index",
                json!({"f:spec": {"f:template": {"f:spec": {"f:containers": {"i:0": {}}}}}}),
                vec![],
                vec!["/spec/template/spec/containers/0/name"],
            ),
            (
                "unknown fields are no-ops",
                json!({"f:spec": {"f:paused": {}, "f:strategy": {"f:type": {}}}}),
                vec!["/spec/strategy/type"],
                vec!["/spec/replicas"],
            ),
        ];
        for (name, fields_v1, gone, kept) in cases {
            let set = FieldSet::parse(&fields_v1).unwrap();
            let mut object = deployment.clone();
            set.remove_from(&mut object);
            for pointer in gone {
                assert_ne!(
                    object.pointer(pointer),
                    deployment.pointer(pointer),
                    "{name}: {pointer}"
                );
            }
            for pointer in kept {
                assert!(object.pointer(pointer).is_some(), "{name}: {pointer} kept");
            }
        }
    }

    #[test]
    fn index_step_removes_item() {
        let set = FieldSet::parse(&json!({"f:args": {"i:0": {}}})).unwrap();
        let mut object = json!({"args": ["a", "b"]});
        set.remove_from(&mut object);
        assert_eq!(object, json!({"args": ["b"]}));
    }

    #[test]
    fn key_with_defaulted_protocol_matches() {
        let set = FieldSet::parse(&json!({"f:ports": {
            "k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {},
                "f:name": {}}}}))
        .unwrap();
        let mut object = json!({"ports": [{"containerPort": 80, "name": "http"},
            {"containerPort": 81}]});
        set.remove_from(&mut object);
        assert_eq!(object, json!({"ports": [{"containerPort": 81}]}));
    }

    #[test]
    fn malformed_entries_are_errors() {
        for bad in [
            json!({"x:y": {}}),
            json!({"k:notjson": {}}),
            json!({"i:one": {}}),
            json!([]),
        ] {
            assert!(FieldSet::parse(&bad).is_err(), "{bad}");
        }
    }
}
