//! Unknown fields (`fieldValidation=Strict`).

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::fields::FieldTable;
use crate::kinds::KindInfo;

/// Fields the kind does not know (`fieldValidation=Strict`), as dotted paths.
///
/// Built-in kinds: the fields the k8s-openapi 1.33 type of the kind reads, from the table in
/// `fields.txt`. Kinds without a type there (custom resources) report nothing: use
/// [`unknown_fields_with_schema`] with the CRD's schema. An object that does not fit its type
/// (a string where a number goes) still has its unknown fields named, as kube-apiserver's strict
/// decoder names them beside the type error.
pub fn unknown_fields(kind: &KindInfo, obj: &Value) -> Vec<String> {
    FieldTable::builtin()
        .unknown_fields(&kind.group, &kind.kind, obj)
        .unwrap_or_default()
}

/// The plain way to [`unknown_fields`]: the object goes through the k8s-openapi 1.33 type of
/// the kind and back, and whatever vanished (and was not null) is unknown. `None` when the kind
/// has no type here or the object does not fit it (a type error). The test
/// `walk_equals_round_trip` proves the table's walk equal to it; the binary does not call it.
pub fn unknown_fields_round_trip(group: &str, kind: &str, obj: &Value) -> Option<Vec<String>> {
    use k8s_openapi::api::{
        apps::v1 as apps, autoscaling::v2 as autoscaling, batch::v1 as batch,
        coordination::v1 as coordination, core::v1 as core, networking::v1 as networking,
        policy::v1 as policy, rbac::v1 as rbac, scheduling::v1 as scheduling,
        storage::v1 as storage,
    };
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiext;
    let round = match (group, kind) {
        ("", "Namespace") => round_trip::<core::Namespace>(obj),
        ("", "ConfigMap") => round_trip::<core::ConfigMap>(obj),
        ("", "Secret") => round_trip::<core::Secret>(obj),
        ("", "Service") => round_trip::<core::Service>(obj),
        ("", "ServiceAccount") => round_trip::<core::ServiceAccount>(obj),
        ("", "Pod") => round_trip::<core::Pod>(obj),
        ("", "PersistentVolumeClaim") => round_trip::<core::PersistentVolumeClaim>(obj),
        ("", "PersistentVolume") => round_trip::<core::PersistentVolume>(obj),
        ("", "Endpoints") => round_trip::<core::Endpoints>(obj),
        ("", "Event") => round_trip::<core::Event>(obj),
        ("", "LimitRange") => round_trip::<core::LimitRange>(obj),
        ("", "ResourceQuota") => round_trip::<core::ResourceQuota>(obj),
        ("apps", "Deployment") => round_trip::<apps::Deployment>(obj),
        ("apps", "StatefulSet") => round_trip::<apps::StatefulSet>(obj),
        ("apps", "DaemonSet") => round_trip::<apps::DaemonSet>(obj),
        ("apps", "ReplicaSet") => round_trip::<apps::ReplicaSet>(obj),
        ("batch", "Job") => round_trip::<batch::Job>(obj),
        ("batch", "CronJob") => round_trip::<batch::CronJob>(obj),
        ("networking.k8s.io", "Ingress") => round_trip::<networking::Ingress>(obj),
        ("networking.k8s.io", "IngressClass") => round_trip::<networking::IngressClass>(obj),
        ("networking.k8s.io", "NetworkPolicy") => round_trip::<networking::NetworkPolicy>(obj),
        ("autoscaling", "HorizontalPodAutoscaler") => {
            round_trip::<autoscaling::HorizontalPodAutoscaler>(obj)
        }
        ("policy", "PodDisruptionBudget") => round_trip::<policy::PodDisruptionBudget>(obj),
        ("rbac.authorization.k8s.io", "Role") => round_trip::<rbac::Role>(obj),
        ("rbac.authorization.k8s.io", "RoleBinding") => round_trip::<rbac::RoleBinding>(obj),
        ("rbac.authorization.k8s.io", "ClusterRole") => round_trip::<rbac::ClusterRole>(obj),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding") => {
            round_trip::<rbac::ClusterRoleBinding>(obj)
        }
        ("storage.k8s.io", "StorageClass") => round_trip::<storage::StorageClass>(obj),
        ("scheduling.k8s.io", "PriorityClass") => round_trip::<scheduling::PriorityClass>(obj),
        ("coordination.k8s.io", "Lease") => round_trip::<coordination::Lease>(obj),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            round_trip::<apiext::CustomResourceDefinition>(obj)
        }
        _ => return None,
    }?;
    let mut out = Vec::new();
    vanished(obj, &round, "", &mut out);
    Some(out)
}

/// `obj` deserialized into `T` and serialized back; `None` when it does not fit the type (a
/// type error, which the decoder reports, not an unknown field). k8s-openapi's deserializers
/// default missing required fields, so partial objects (apply configurations) fit too.
fn round_trip<T: DeserializeOwned + Serialize>(obj: &Value) -> Option<Value> {
    let typed: T = serde_json::from_value(obj.clone()).ok()?;
    serde_json::to_value(typed).ok()
}

pub(super) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Paths of non-null keys of `orig` that `round` lacks, recursively.
fn vanished(orig: &Value, round: &Value, path: &str, out: &mut Vec<String>) {
    match (orig, round) {
        (Value::Object(o), Value::Object(r)) => {
            for (k, v) in o {
                match r.get(k) {
                    Some(rv) => vanished(v, rv, &join(path, k), out),
                    None if !v.is_null() => out.push(join(path, k)),
                    None => {}
                }
            }
        }
        (Value::Array(o), Value::Array(r)) => {
            for (i, (ov, rv)) in o.iter().zip(r).enumerate() {
                vanished(ov, rv, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// Unknown fields of a custom resource against its version's `openAPIV3Schema` (structural
/// schema: `properties`, `items`, `additionalProperties`, `x-kubernetes-preserve-unknown-fields`,
/// `x-kubernetes-embedded-resource`). `apiVersion`, `kind` and `metadata` are always known;
/// metadata is checked against ObjectMeta.
pub fn unknown_fields_with_schema(schema: &Value, obj: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let Some(map) = obj.as_object() else {
        return out;
    };
    for (k, v) in map {
        match k.as_str() {
            "apiVersion" | "kind" => {}
            "metadata" => {
                out.extend(FieldTable::builtin().unknown_fields_of_type(
                    "ObjectMeta",
                    v,
                    "metadata",
                ));
            }
            _ => match schema.get("properties").and_then(|p| p.get(k)) {
                Some(sub) => walk_schema(sub, v, k, &mut out),
                None if preserves_unknown(schema) || v.is_null() => {}
                None => out.push(k.clone()),
            },
        }
    }
    out
}

fn preserves_unknown(schema: &Value) -> bool {
    schema
        .get("x-kubernetes-preserve-unknown-fields")
        .and_then(Value::as_bool)
        == Some(true)
}

fn walk_schema(schema: &Value, value: &Value, path: &str, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if schema
                .get("x-kubernetes-embedded-resource")
                .and_then(Value::as_bool)
                == Some(true)
                && preserves_unknown(schema)
            {
                return;
            }
            let props = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties");
            for (k, v) in map {
                let child = join(path, k);
                if let Some(sub) = props.and_then(|p| p.get(k)) {
                    walk_schema(sub, v, &child, out);
                } else if let Some(add) = additional.filter(|a| a.is_object()) {
                    walk_schema(add, v, &child, out);
                } else if additional.and_then(Value::as_bool) == Some(true)
                    || preserves_unknown(schema)
                    || v.is_null()
                {
                } else {
                    out.push(child);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, v) in items.iter().enumerate() {
                    walk_schema(item_schema, v, &format!("{path}[{i}]"), out);
                }
            }
        }
        _ => {}
    }
}
