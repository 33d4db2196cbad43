//! How Kubernetes identifies the items of the lists it merges (strategic merge patch and
//! server-side apply list-map keys), for the lists the drift engine matches item by item.

use serde_json::Value;

pub use k8s_model::merge::{ListKeys, key_default};
use k8s_model::path::FieldPath;
use k8s_model::quantity::values_equal;

/// The key of one list item: its key fields and their values, defaults filled in.
pub type ItemKey = Vec<(String, Value)>;

/// Key fields of the list at `path` of a kind whose lists `lists` knows (the one table in
/// [`k8s_model::merge`]): containers, env, volumes, ... by `name`, volumeMounts by `mountPath`,
/// container ports by `containerPort`+`protocol`, a Service's `spec.ports` by `port`+`protocol`.
/// `None`: the list is atomic (NetworkPolicy ports, tolerations, args, ...) and compared whole.
pub fn key_fields(lists: &ListKeys, path: &FieldPath) -> Option<&'static [&'static str]> {
    lists.at(path.keys())
}

/// The key of one item, or `None` when it lacks a key field (see [`key_default`]).
pub fn item_key(item: &Value, fields: &[&str]) -> Option<ItemKey> {
    fields
        .iter()
        .map(|field| {
            let value = match item.get(*field) {
                Some(Value::Null) | None => key_default(field)?,
                Some(value) => value.clone(),
            };
            Some(((*field).to_owned(), value))
        })
        .collect()
}

/// Keys of the items of two versions of the list at `path`, when Kubernetes merges that list
/// by key and every item has one; `None`: compare the lists whole (client) or by position.
pub fn keyed(
    lists: &ListKeys,
    path: &FieldPath,
    a: &[Value],
    b: &[Value],
) -> Option<(Vec<ItemKey>, Vec<ItemKey>)> {
    let fields = key_fields(lists, path)?;
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
    use k8s_model::path::PathSegment;
    use serde_json::json;

    const BY_NAME: &[&str] = &["name"];
    const BY_CONTAINER_PORT: &[&str] = &["containerPort", "protocol"];
    const BY_PORT: &[&str] = &["port", "protocol"];

    #[test]
    fn key_fields_and_defaults() {
        let root = FieldPath::root();
        let pod_spec = root.key("spec").key("template").key("spec");
        let container = pod_spec.key("containers").child(PathSegment::Index(0));
        let policy_ports = root
            .key("spec")
            .key("ingress")
            .child(PathSegment::Index(0))
            .key("ports");
        let deployment = ListKeys::of("apps", "Deployment");
        let service = ListKeys::of("", "Service");
        let policy = ListKeys::of("networking.k8s.io", "NetworkPolicy");
        let cases = [
            (&deployment, container.key("ports"), Some(BY_CONTAINER_PORT)),
            (&deployment, container.key("env"), Some(BY_NAME)),
            (&deployment, container.key("args"), None),
            (&deployment, pod_spec.key("tolerations"), None),
            (&service, root.key("spec").key("ports"), Some(BY_PORT)),
            (&policy, policy_ports, None),
            (&policy, root.key("spec").key("ports"), None),
        ];
        for (lists, path, expected) in cases {
            assert_eq!(key_fields(lists, &path), expected, "{path}");
        }
        let port = json!({"containerPort": 80});
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
