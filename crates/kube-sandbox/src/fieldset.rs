//! The schema-driven part of field sets: the fields of an object as server-side apply records
//! them, and the path elements of list items under a schema. The field-set type itself
//! (parsing, serializing, set algebra) is `model::fieldset`, shared with the drift engine.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

pub use k8s_model::fieldset::{
    FieldPath, FieldSet, FieldSetError, PathElement, compare_values, go_escape_html, path_string,
};

use super::schema::{ListType, MapKind, TypeSchema};

/// Field sets of objects under a schema (`FieldSet::from_object`).
pub trait ObjectFields {
    /// The fields of an object as structured-merge-diff's `ToFieldSet` records them.
    fn from_object(obj: &Value, schema: &TypeSchema) -> Result<FieldSet, FieldSetError>;
}

impl ObjectFields for FieldSet {
    /// The fields of an object as structured-merge-diff's `ToFieldSet` records them: every
    /// leaf, every list item and map entry, and empty or null struct fields; non-empty struct
    /// fields appear only through their children.
    fn from_object(obj: &Value, schema: &TypeSchema) -> Result<FieldSet, FieldSetError> {
        let mut set = FieldSet::new();
        walk_fields(obj, schema, &mut Vec::new(), &mut Vec::new(), &mut set)?;
        Ok(set)
    }
}

fn walk_fields<'a>(
    v: &'a Value,
    schema: &TypeSchema,
    names: &mut Vec<&'a str>,
    path: &mut FieldPath,
    set: &mut FieldSet,
) -> Result<(), FieldSetError> {
    match v {
        Value::Object(m) => {
            if !path.is_empty() && schema.map_kind(names) == MapKind::Atomic {
                set.insert(path);
                return Ok(());
            }
            for (k, child) in m {
                let named = schema.is_named_field(names, k);
                names.push(k);
                path.push(PathElement::Field(k.clone()));
                walk_fields(child, schema, names, path, set)?;
                let empty = child.is_null() || child.as_object().is_some_and(Map::is_empty);
                if empty || !named {
                    set.insert(path);
                }
                path.pop();
                names.pop();
            }
        }
        Value::Array(items) => {
            let lt = schema.list_type(names);
            if lt == ListType::Atomic {
                set.insert(path);
                return Ok(());
            }
            let mut seen = BTreeSet::new();
            for (i, item) in items.iter().enumerate() {
                let pe = list_item_element(schema, names, &lt, i, item).map_err(|e| {
                    FieldSetError(format!("{}: element {i}: {e}", path_string(path)))
                })?;
                if !seen.insert(pe.clone()) {
                    return Err(FieldSetError(format!(
                        "{}: duplicate entries for key {pe}",
                        path_string(path)
                    )));
                }
                path.push(pe);
                walk_fields(item, schema, names, path, set)?;
                set.insert(path);
                path.pop();
            }
        }
        _ => set.insert(path),
    }
    Ok(())
}

/// The path element of a list item: its key (with key defaults) for map lists, its value for
/// sets, its index otherwise.
pub fn list_item_element(
    schema: &TypeSchema,
    names: &[&str],
    list_type: &ListType,
    index: usize,
    item: &Value,
) -> Result<PathElement, String> {
    match list_type {
        ListType::Atomic => Ok(PathElement::Index(index)),
        ListType::Set => {
            if item.is_object() || item.is_array() {
                return Err("set lists may only contain scalars".into());
            }
            Ok(PathElement::Value(item.clone()))
        }
        ListType::Map(keys) if keys.is_empty() => Ok(PathElement::Index(index)),
        ListType::Map(keys) => {
            let m = match item {
                Value::Null => {
                    return Err("associative list with keys may not have a null element".into());
                }
                Value::Object(m) => m,
                _ => return Err("associative list with keys may not have non-map elements".into()),
            };
            let mut fields = Vec::with_capacity(keys.len());
            for key in keys {
                match m
                    .get(key)
                    .cloned()
                    .or_else(|| schema.key_default(names, key))
                {
                    Some(v) => fields.push((key.clone(), v)),
                    None => {
                        return Err(format!(
                            "associative list with keys has an element that omits key field {key:?} (and doesn't have default value)"
                        ));
                    }
                }
            }
            fields.sort_by(|a, b| a.0.cmp(&b.0));
            Ok(PathElement::Key(fields))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn object_fields_of_an_applied_deployment() {
        let schema = TypeSchema::for_kind("apps", "Deployment", None);
        let obj = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": "nginx",
                        "ports": [{"containerPort": 80}], "resources": {},
                        "args": ["a", "b"]}]}
                }
            }
        });
        let set = FieldSet::from_object(&obj, &schema).unwrap();
        let want = json!({
            "f:apiVersion": {}, "f:kind": {},
            "f:metadata": {"f:labels": {"f:app": {}}, "f:name": {}},
            "f:spec": {"f:replicas": {}, "f:selector": {}, "f:template": {
                "f:metadata": {"f:labels": {"f:app": {}}},
                "f:spec": {"f:containers": {"k:{\"name\":\"web\"}": {
                    ".": {}, "f:args": {}, "f:image": {}, "f:name": {},
                    "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {
                        ".": {}, "f:containerPort": {}}},
                    "f:resources": {}}}}}}
        });
        assert_eq!(set.to_fields_v1(), want);
    }

    #[test]
    fn atomic_structs_are_owned_whole() {
        let schema = TypeSchema::for_kind("apps", "Deployment", None);
        let obj = json!({
            "metadata": {"ownerReferences": [{"apiVersion": "v1", "kind": "X", "name": "o", "uid": "u1"}]},
            "spec": {"template": {"spec": {
                "imagePullSecrets": [{"name": "reg"}],
                "containers": [{"name": "c", "env": [{"name": "P", "valueFrom":
                    {"secretKeyRef": {"name": "s", "key": "k"}}}]}]}}}
        });
        let set = FieldSet::from_object(&obj, &schema).unwrap();
        let want = json!({
            "f:metadata": {"f:ownerReferences": {"k:{\"uid\":\"u1\"}": {}}},
            "f:spec": {"f:template": {"f:spec": {
                "f:containers": {"k:{\"name\":\"c\"}": {".": {}, "f:env": {"k:{\"name\":\"P\"}": {
                    ".": {}, "f:name": {}, "f:valueFrom": {"f:secretKeyRef": {}}}}, "f:name": {}}},
                "f:imagePullSecrets": {"k:{\"name\":\"reg\"}": {}}}}}
        });
        assert_eq!(set.to_fields_v1().to_string(), want.to_string());
    }

    #[test]
    fn object_fields_errors_name_the_list() {
        let schema = TypeSchema::for_kind("apps", "Deployment", None);
        let obj = json!({"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}});
        let err = FieldSet::from_object(&obj, &schema).unwrap_err();
        assert!(
            err.0.starts_with(".spec.template.spec.containers: element 0: associative list with keys has an element that omits key field \"name\""),
            "{err}"
        );
    }

    #[test]
    fn duplicate_list_keys_are_refused() {
        let schema = TypeSchema::for_kind("apps", "Deployment", None);
        let obj = json!({"metadata": {"finalizers": ["a", "a"]}});
        let err = FieldSet::from_object(&obj, &schema).unwrap_err();
        assert_eq!(
            err.0,
            r#".metadata.finalizers: duplicate entries for key [="a"]"#
        );
        let obj = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "web"}, {"name": "web"}]}}}});
        let err = FieldSet::from_object(&obj, &schema).unwrap_err();
        assert_eq!(
            err.0,
            r#".spec.template.spec.containers: duplicate entries for key [name="web"]"#
        );
    }
}
