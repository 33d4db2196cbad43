//! How Kubernetes identifies the items of the lists it merges (strategic merge patch and
//! server-side apply list-map keys), for the lists the drift engine matches item by item.

use serde_json::Value;

use k8s_model::path::{FieldPath, PathSegment};
use k8s_model::quantity::values_equal;

/// The key of one list item: its key fields and their values, defaults filled in.
pub type ItemKey = Vec<(String, Value)>;

const BY_NAME: &[&str] = &["name"];
const BY_MOUNT_PATH: &[&str] = &["mountPath"];
const BY_CONTAINER_PORT: &[&str] = &["containerPort", "protocol"];
const BY_PORT: &[&str] = &["port", "protocol"];

/// Key fields of the list at `path`, looking at the items of both sides, as server-side apply
/// keys them: containers, initContainers, ephemeralContainers, volumes, env and
/// imagePullSecrets by `name`; volumeMounts by `mountPath`; container ports by
/// `containerPort`+`protocol`; a Service's `spec.ports` by `port`+`protocol`. `None`: the list
/// is atomic (NetworkPolicy ports, tolerations, args, ...) and compared whole.
pub fn key_fields(path: &FieldPath, items: &[&Value]) -> Option<&'static [&'static str]> {
    match list_field(path)? {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "env"
        | "imagePullSecrets" => Some(BY_NAME),
        "volumeMounts" => Some(BY_MOUNT_PATH),
        "ports" if items.iter().any(|item| item.get("containerPort").is_some()) => {
            Some(BY_CONTAINER_PORT)
        }
        "ports" if path.keys().eq(["spec", "ports"]) => Some(BY_PORT),
        _ => None,
    }
}

/// The last map key of a path: the name of the field a list is stored under.
pub fn list_field(path: &FieldPath) -> Option<&str> {
    path.0.last().and_then(|segment| match segment {
        PathSegment::Key(key) => Some(key.as_str()),
        _ => None,
    })
}

/// The value a key field takes when an item lacks it: `protocol` defaults to `TCP` as the API
/// server defaults it; other key fields have no default.
pub fn key_field_default(field: &str) -> Option<Value> {
    (field == "protocol").then(|| Value::String("TCP".into()))
}

/// The key of one item, or `None` when it lacks a key field (see [`key_field_default`]).
pub fn item_key(item: &Value, fields: &[&str]) -> Option<ItemKey> {
    fields
        .iter()
        .map(|field| {
            let value = match item.get(*field) {
                Some(Value::Null) | None => key_field_default(field)?,
                Some(value) => value.clone(),
            };
            Some(((*field).to_owned(), value))
        })
        .collect()
}

/// Keys of the items of two versions of the list at `path`, when Kubernetes merges that list
/// by key and every item has one; `None`: compare the lists whole (client) or by position.
pub fn keyed(path: &FieldPath, a: &[Value], b: &[Value]) -> Option<(Vec<ItemKey>, Vec<ItemKey>)> {
    let items: Vec<&Value> = a.iter().chain(b).collect();
    let fields = key_fields(path, &items)?;
    Some((item_keys(a, fields)?, item_keys(b, fields)?))
}

/// Keys of every item of a list, or `None` when any item has no key (compare it whole then).
pub fn item_keys(items: &[Value], fields: &[&str]) -> Option<Vec<ItemKey>> {
    items.iter().map(|item| item_key(item, fields)).collect()
}

/// Whether two item keys name the same item (`80` and `80.0` do).
pub fn keys_equal(a: &ItemKey, b: &ItemKey) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|((na, va), (nb, vb))| na == nb && values_equal(va, vb))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_fields_and_defaults() {
        let port = json!({"containerPort": 80});
        let svc_port = json!({"port": 443, "protocol": "UDP"});
        let root = FieldPath::root();
        let container_ports = root
            .key("spec")
            .key("containers")
            .child(PathSegment::Index(0));
        let container_ports = container_ports.key("ports");
        let service_ports = root.key("spec").key("ports");
        let policy_ports = root
            .key("spec")
            .key("ingress")
            .child(PathSegment::Index(0))
            .key("ports");
        let cases = [
            (&container_ports, &port, Some(BY_CONTAINER_PORT)),
            (&service_ports, &svc_port, Some(BY_PORT)),
            (&policy_ports, &svc_port, None),
            (&root.key("env"), &port, Some(BY_NAME)),
            (&root.key("args"), &port, None),
        ];
        for (path, item, expected) in cases {
            assert_eq!(key_fields(path, &[item]), expected, "{path}");
        }
        assert_eq!(
            item_key(&port, BY_CONTAINER_PORT),
            Some(vec![
                ("containerPort".into(), json!(80)),
                ("protocol".into(), json!("TCP"))
            ])
        );
        assert_eq!(item_key(&json!({"value": "x"}), BY_NAME), None);
        let a = item_key(
            &json!({"containerPort": 80, "protocol": "TCP"}),
            BY_CONTAINER_PORT,
        );
        let b = item_key(&json!({"containerPort": 80.0}), BY_CONTAINER_PORT);
        assert!(keys_equal(&a.unwrap(), &b.unwrap()));
    }
}
