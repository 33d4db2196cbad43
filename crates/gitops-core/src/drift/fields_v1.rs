//! Removal of the fields a managedFields set names, for the managedFieldsManagers ignore rule.
//! The set itself is `model::fieldset::FieldSet`, the type the sandbox records fields with.

use serde_json::{Map, Value};

use super::merge_key::key_default;
use k8s_model::fieldset::{FieldSet, PathElement, item_has_key};

/// Removes the fields `set` names from `object` (the value the set describes).
pub fn remove_fields(set: &FieldSet, object: &mut Value) {
    remove_below(set, object, &[]);
}

/// `protected`: key fields of the list item being visited; they identify the item, so they
/// stay as long as the item stays. A leaf (nothing below it) owns its whole value (a scalar,
/// or an atomic map or list); a member with fields below (`.`) owns its existence apart from
/// them.
fn remove_below(set: &FieldSet, node: &mut Value, protected: &[String]) {
    match node {
        Value::Object(map) => remove_from_map(set, map, protected),
        Value::Array(items) => remove_from_list(set, items),
        _ => {}
    }
}

fn remove_from_map(set: &FieldSet, map: &mut Map<String, Value>, protected: &[String]) {
    for (element, child) in set.entries() {
        let PathElement::Field(name) = element else {
            continue;
        };
        if protected.contains(name) {
            continue;
        }
        let remove = match map.get_mut(name) {
            None => false,
            Some(_) if child.is_empty() => true,
            Some(value) => {
                remove_below(child, value, &[]);
                set.is_member(element) && is_empty_container(value)
            }
        };
        if remove {
            map.remove(name);
        }
    }
}

fn remove_from_list(set: &FieldSet, items: &mut Vec<Value>) {
    let mut doomed = vec![false; items.len()];
    for (element, child) in set.entries() {
        match element {
            PathElement::Key(key) => {
                let names: Vec<String> = key.iter().map(|(name, _)| name.clone()).collect();
                for (position, item) in items.iter_mut().enumerate() {
                    if !item_has_key(item, key, key_default) {
                        continue;
                    }
                    if child.is_empty() {
                        doomed[position] = true;
                        continue;
                    }
                    remove_below(child, item, &names);
                    let only_keys_left = item
                        .as_object()
                        .is_some_and(|fields| fields.keys().all(|k| names.contains(k)));
                    if set.is_member(element) && only_keys_left {
                        doomed[position] = true;
                    }
                }
            }
            PathElement::Value(value) => {
                for (position, item) in items.iter().enumerate() {
                    if item == value {
                        doomed[position] = true;
                    }
                }
            }
            PathElement::Index(position) => {
                let Some(item) = items.get_mut(*position) else {
                    continue;
                };
                if child.is_empty() {
                    doomed[*position] = true;
                } else {
                    remove_below(child, item, &[]);
                    if set.is_member(element) && is_empty_container(item) {
                        doomed[*position] = true;
                    }
                }
            }
            PathElement::Field(_) => {}
        }
    }
    let mut position = 0;
    items.retain(|_| {
        let keep = !doomed[position];
        position += 1;
        keep
    });
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
            let set = FieldSet::from_fields_v1(&fields_v1).unwrap();
            let mut object = deployment.clone();
            remove_fields(&set, &mut object);
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
        let set = FieldSet::from_fields_v1(&json!({"f:args": {"i:0": {}}})).unwrap();
        let mut object = json!({"args": ["a", "b"]});
        remove_fields(&set, &mut object);
        assert_eq!(object, json!({"args": ["b"]}));
    }

    #[test]
    fn key_with_defaulted_protocol_matches() {
        let set = FieldSet::from_fields_v1(&json!({"f:ports": {
            "k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {},
                "f:name": {}}}}))
        .unwrap();
        let mut object = json!({"ports": [{"containerPort": 80, "name": "http"},
            {"containerPort": 81}]});
        remove_fields(&set, &mut object);
        assert_eq!(object, json!({"ports": [{"containerPort": 81}]}));
    }
}
