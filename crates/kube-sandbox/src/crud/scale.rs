//! The `scale` subresource: reading and writing replicas through a kind's Scale view.

use serde_json::{Map, Value, json};

use super::pipeline::{Op, commit, is_builtin};
use super::{
    Deferred, apply_patch_body, check_identity, check_rv_precondition, decode_body, get_value,
    is_apply_patch, write_ctx,
};
use crate::kinds::KindInfo;
use crate::patch;
use crate::selectors::match_expressions;
use crate::server::{ApiRequest, Reply, Shared, Target};
use crate::status::ApiError;
use crate::store::{ResourceKey, Store};
use crate::validation::FieldError;

/// Where a kind keeps what its Scale shows.
struct ScalePaths {
    spec_replicas: String,
    status_replicas: String,
    selector: Option<String>,
}

fn dotted_to_pointer(path: &str) -> String {
    path.trim_start_matches('.')
        .split('.')
        .fold(String::new(), |mut acc, seg| {
            acc.push('/');
            acc.push_str(seg);
            acc
        })
}

fn scale_paths(store: &Store, kind: &KindInfo) -> ScalePaths {
    if !is_builtin(kind) {
        let crd_key = ResourceKey {
            group: "apiextensions.k8s.io".into(),
            plural: "customresourcedefinitions".into(),
        };
        let crd_name = format!("{}.{}", kind.plural, kind.group);
        if let Some(crd) = store.get(&crd_key, "", &crd_name) {
            let crd = crd.value();
            let scale = crd
                .pointer("/spec/versions")
                .and_then(Value::as_array)
                .and_then(|vs| {
                    vs.iter()
                        .find(|v| v.get("name").and_then(Value::as_str) == Some(&kind.version))
                })
                .and_then(|v| v.pointer("/subresources/scale"))
                .cloned()
                .unwrap_or(Value::Null);
            let path = |k: &str| scale.get(k).and_then(Value::as_str).map(dotted_to_pointer);
            return ScalePaths {
                spec_replicas: path("specReplicasPath").unwrap_or_else(|| "/spec/replicas".into()),
                status_replicas: path("statusReplicasPath")
                    .unwrap_or_else(|| "/status/replicas".into()),
                selector: path("labelSelectorPath"),
            };
        }
    }
    ScalePaths {
        spec_replicas: "/spec/replicas".into(),
        status_replicas: "/status/replicas".into(),
        selector: None,
    }
}

/// `metav1.FormatLabelSelector`: `a=b,c in (x,y)`.
fn format_selector(sel: &Value) -> String {
    let mut parts = Vec::new();
    if let Some(m) = sel.get("matchLabels").and_then(Value::as_object) {
        let mut pairs: Vec<(&String, &Value)> = m.iter().collect();
        pairs.sort_by(|a, b| a.0.cmp(b.0));
        for (k, v) in pairs {
            parts.push(format!("{k}={}", v.as_str().unwrap_or_default()));
        }
    }
    for e in match_expressions(sel) {
        let k = e.key;
        let mut values = e.values;
        values.sort();
        let set = values.join(",");
        match e.operator {
            "In" => parts.push(format!("{k} in ({set})")),
            "NotIn" => parts.push(format!("{k} notin ({set})")),
            "Exists" => parts.push(k.to_string()),
            "DoesNotExist" => parts.push(format!("!{k}")),
            _ => {}
        }
    }
    parts.join(",")
}

pub(super) fn to_scale(store: &Store, kind: &KindInfo, obj: &Value) -> Value {
    let paths = scale_paths(store, kind);
    let meta = obj.get("metadata").cloned().unwrap_or_else(|| json!({}));
    let mut smeta = Map::new();
    for f in [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ] {
        if let Some(v) = meta.get(f) {
            smeta.insert(f.into(), v.clone());
        }
    }
    let replicas = obj
        .pointer(&paths.spec_replicas)
        .cloned()
        .unwrap_or(json!(0));
    let status_replicas = obj
        .pointer(&paths.status_replicas)
        .cloned()
        .unwrap_or(json!(0));
    let selector = match &paths.selector {
        Some(p) => obj.pointer(p).and_then(Value::as_str).map(String::from),
        None => obj.pointer("/spec/selector").map(format_selector),
    };
    let mut status = Map::new();
    status.insert("replicas".into(), status_replicas);
    if let Some(s) = selector.filter(|s| !s.is_empty()) {
        status.insert("selector".into(), json!(s));
    }
    json!({"kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": smeta,
        "spec": {"replicas": replicas}, "status": status})
}

fn set_pointer(obj: &mut Value, pointer: &str, value: Value) {
    let mut cur = obj;
    let segs: Vec<&str> = pointer.split('/').skip(1).collect();
    for (i, seg) in segs.iter().enumerate() {
        if !cur.is_object() {
            *cur = json!({});
        }
        let Some(m) = cur.as_object_mut() else { return };
        if i + 1 == segs.len() {
            m.insert((*seg).to_string(), value);
            return;
        }
        cur = m.entry((*seg).to_string()).or_insert_with(|| json!({}));
    }
}

fn write_scale(
    store: &mut Store,
    req: &ApiRequest,
    t: &Target,
    name: &str,
    live: Value,
    scale: &Value,
) -> Result<(Reply, Vec<Deferred>), ApiError> {
    if scale
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|k| k != "Scale")
    {
        return Err(ApiError::bad_request(
            "the body of a scale request must be an autoscaling/v1 Scale",
        ));
    }
    check_identity(t, scale, Some(name))?;
    check_rv_precondition(t, name, scale, &live)?;
    let replicas = scale.pointer("/spec/replicas").cloned().unwrap_or(json!(0));
    if !replicas.is_i64() || replicas.as_i64().is_some_and(|r| r < 0) {
        return Err(ApiError::invalid_named(
            "Scale.autoscaling",
            "autoscaling",
            "Scale",
            name,
            &[FieldError {
                reason: "FieldValueInvalid".into(),
                field: "spec.replicas".into(),
                message: format!("Invalid value: {replicas}: must be greater than or equal to 0"),
            }],
        ));
    }
    let paths = scale_paths(store, &t.kind);
    let mut new = live.clone();
    set_pointer(&mut new, &paths.spec_replicas, replicas);
    let w = write_ctx(req, t, name)?;
    let done = commit(store, &w, Some(&live), new, Op::Update)?;
    let mut reply = Reply::json(&to_scale(store, &t.kind, &done.stored.value()));
    reply.warnings = done.warnings;
    Ok((
        reply,
        done.rollout.into_iter().map(Deferred::Rollout).collect(),
    ))
}

pub(super) fn update_scale(
    shared: &Shared,
    req: &ApiRequest,
    t: &Target,
    name: &str,
) -> Result<(Reply, Vec<Deferred>), ApiError> {
    let scale = decode_body(req)?;
    let mut store = shared.lock();
    let live = get_value(&store, t, name)?;
    write_scale(&mut store, req, t, name, live, &scale)
}

pub(super) fn patch_scale(
    shared: &Shared,
    req: &ApiRequest,
    t: &Target,
    name: &str,
) -> Result<(Reply, Vec<Deferred>), ApiError> {
    let is_apply = is_apply_patch(req)?;
    let mut store = shared.lock();
    let live = get_value(&store, t, name)?;
    let current = to_scale(&store, &t.kind, &live);
    let scale = if is_apply {
        // Applying a Scale only ever sets spec.replicas; merge it like a merge patch.
        let applied = decode_body(req)?;
        patch::json_merge_patch(
            &current,
            &json!({"spec": applied.get("spec").cloned().unwrap_or(Value::Null)}),
        )
        .map_err(|e| ApiError::bad_request(e.0))?
    } else {
        let scale_kind = KindInfo {
            group: "autoscaling".into(),
            version: "v1".into(),
            kind: "Scale".into(),
            plural: "scales".into(),
            singular: "scale".into(),
            short_names: vec![],
            namespaced: t.kind.namespaced,
            categories: vec![],
            status_subresource: false,
            scale_subresource: false,
        };
        apply_patch_body(&store, req, &scale_kind, &current)?
    };
    write_scale(&mut store, req, t, name, live, &scale)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn selector_formatting_matches_kube() {
        let sel = json!({"matchLabels": {"tier": "web", "app": "shop"},
            "matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "dev"]}]});
        assert_eq!(format_selector(&sel), "app=shop,tier=web,env in (dev,prod)");
    }
}
