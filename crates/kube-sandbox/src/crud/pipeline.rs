//! The write pipeline every mutation goes through: defaults → validation (422) →
//! managedFields → generation → store.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use serde_json::{Map, Value, json};

use super::{
    Committed, FieldValidation, RolloutJob, WriteCtx, check_precondition, crd_version_schema,
};
use crate::apply::{self, FieldManagerContext};
use crate::defaults;
use crate::kinds::{KindInfo, builtin_kinds};
use crate::schema::TypeSchema;
use crate::server::guarded;
use crate::status::ApiError;
use crate::store::{ResourceKey, Store, StoredObject};
use crate::validation;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Op {
    /// POST, PUT, non-apply PATCH: managedFields via `record_update`.
    Update,
    /// Server-side apply: managedFields already computed.
    Apply,
}

fn builtin_set() -> &'static [KindInfo] {
    static KINDS: OnceLock<Vec<KindInfo>> = OnceLock::new();
    KINDS.get_or_init(builtin_kinds)
}

pub(super) fn is_builtin(kind: &KindInfo) -> bool {
    builtin_set()
        .iter()
        .any(|b| b.group == kind.group && b.kind == kind.kind)
}

/// Whether kube-apiserver keeps `metadata.generation` for this kind.
pub(super) fn has_generation(kind: &KindInfo) -> bool {
    if !is_builtin(kind) {
        return true; // custom resources always do
    }
    matches!(
        kind.group.as_str(),
        "apps" | "batch" | "networking.k8s.io" | "autoscaling" | "policy" | "apiextensions.k8s.io"
    )
}

/// Runs `f` with the managedFields context of a write to `kind` by `manager` at `now`, with the
/// kind's merge schema and `apiVersion`.
pub(super) fn with_field_manager<R>(
    store: &Store,
    kind: &KindInfo,
    manager: &str,
    now: &str,
    subresource: Option<&str>,
    f: impl FnOnce(&FieldManagerContext<'_>) -> R,
) -> R {
    let schema = schema_for(store, kind);
    let api_version = kind.api_version();
    f(&FieldManagerContext {
        manager,
        api_version: &api_version,
        now,
        subresource,
        schema: &schema,
    })
}

impl WriteCtx<'_> {
    /// [`with_field_manager`] for this write.
    pub(super) fn with_field_manager<R>(
        &self,
        store: &Store,
        f: impl FnOnce(&FieldManagerContext<'_>) -> R,
    ) -> R {
        with_field_manager(
            store,
            self.kind,
            &self.manager,
            &self.now,
            self.subresource,
            f,
        )
    }
}

/// The merge schema of a kind (CRDs: from the stored CRD's schema), cached per CRD version.
pub(super) fn schema_for(store: &Store, kind: &KindInfo) -> Arc<TypeSchema> {
    let crd = if is_builtin(kind) {
        None
    } else {
        let crd_key = ResourceKey {
            group: "apiextensions.k8s.io".into(),
            plural: "customresourcedefinitions".into(),
        };
        store.get(&crd_key, "", &format!("{}.{}", kind.plural, kind.group))
    };
    let cache_key = (
        kind.group.clone(),
        kind.kind.clone(),
        crd.as_ref().map_or(0, |c| c.rv),
    );
    let mut cache = store.schema_cache();
    if let Some(s) = cache.get(&cache_key) {
        return s.clone();
    }
    let crd_schema = crd.and_then(|c| {
        let v = c.value();
        v.pointer("/spec/versions")
            .and_then(Value::as_array)
            .and_then(|vs| {
                vs.iter()
                    .find(|x| x.get("name").and_then(Value::as_str) == Some(&kind.version))
            })
            .and_then(|x| x.pointer("/schema/openAPIV3Schema"))
            .cloned()
    });
    let schema = guarded("schema::TypeSchema::for_kind", || {
        TypeSchema::for_kind(&kind.group, &kind.kind, crd_schema.as_ref())
    })
    .unwrap_or_default();
    let schema = Arc::new(schema);
    if cache.len() > 1_000 {
        cache.clear();
    }
    cache.insert(cache_key, schema.clone());
    schema
}

pub(super) fn object_mut<'v>(obj: &'v mut Value, field: &str) -> &'v mut Map<String, Value> {
    if !obj.get(field).is_some_and(Value::is_object) {
        obj[field] = json!({});
    }
    match obj.get_mut(field).and_then(Value::as_object_mut) {
        Some(m) => m,
        None => unreachable!("just made an object"),
    }
}

/// Sets identity and server-owned metadata; keeps what is immutable from `old`.
fn normalize_metadata(w: &WriteCtx, old: Option<&Value>, new: &mut Value) -> Result<(), ApiError> {
    if !new.is_object() {
        return Err(ApiError::bad_request("the object provided is unrecognized"));
    }
    let meta = object_mut(new, "metadata");
    meta.insert("name".into(), json!(w.name));
    if w.kind.namespaced {
        meta.insert("namespace".into(), json!(w.namespace));
    } else {
        meta.remove("namespace");
    }
    meta.remove("selfLink");
    match old {
        Some(old) => {
            let old_meta = old.get("metadata").cloned().unwrap_or_else(|| json!({}));
            if let Some(uid) = meta
                .get("uid")
                .and_then(Value::as_str)
                .filter(|u| !u.is_empty())
            {
                check_precondition(
                    w.kind,
                    &w.name,
                    "UID",
                    uid,
                    old_meta.get("uid").and_then(Value::as_str),
                )?;
            }
            for f in [
                "uid",
                "creationTimestamp",
                "generation",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
            ] {
                match old_meta.get(f) {
                    Some(v) => meta.insert(f.into(), v.clone()),
                    None => meta.remove(f),
                };
            }
            if !meta.contains_key("managedFields")
                && let Some(mf) = old_meta.get("managedFields")
            {
                meta.insert("managedFields".into(), mf.clone());
            }
            meta.insert(
                "resourceVersion".into(),
                old_meta
                    .get("resourceVersion")
                    .cloned()
                    .unwrap_or(json!("")),
            );
        }
        None => {
            meta.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
            meta.insert("creationTimestamp".into(), json!(w.now));
            for f in [
                "resourceVersion",
                "generation",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
            ] {
                meta.remove(f);
            }
        }
    }
    Ok(())
}

/// Main-resource writes leave status alone and status writes leave everything else alone,
/// for kinds with a status subresource.
fn split_status(w: &WriteCtx, old: Option<&Value>, new: &mut Value) {
    match (w.subresource, old) {
        (Some("status"), Some(old)) => {
            let status = new.get("status").cloned();
            let managed = new.pointer("/metadata/managedFields").cloned();
            *new = old.clone();
            match status {
                Some(s) => new["status"] = s,
                None => {
                    if let Some(m) = new.as_object_mut() {
                        m.remove("status");
                    }
                }
            }
            if let Some(mf) = managed {
                object_mut(new, "metadata").insert("managedFields".into(), mf);
            }
        }
        (None, Some(old)) if w.kind.status_subresource => match old.get("status") {
            Some(s) => new["status"] = s.clone(),
            None => {
                if let Some(m) = new.as_object_mut() {
                    m.remove("status");
                }
            }
        },
        (None, None) if w.kind.status_subresource => {
            if let Some(m) = new.as_object_mut() {
                if is_builtin(w.kind) {
                    // Built-in strategies reset status on create; it serializes as `{}`.
                    m.insert("status".into(), json!({}));
                } else {
                    m.remove("status");
                }
            }
        }
        _ => {}
    }
}

/// The fields a write cannot set, removed from an applied configuration before merging so that
/// its manager does not come to own them (kube's "reset fields"): status through the main
/// resource, everything but status through the status subresource.
pub(super) fn reset_fields(kind: &KindInfo, subresource: Option<&str>, applied: &mut Value) {
    if !kind.status_subresource {
        return;
    }
    let Some(m) = applied.as_object_mut() else {
        return;
    };
    match subresource {
        None => {
            m.remove("status");
        }
        Some("status") => {
            m.retain(|k, _| matches!(k.as_str(), "apiVersion" | "kind" | "metadata" | "status"));
            if let Some(meta) = m.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.retain(|k, _| matches!(k.as_str(), "name" | "namespace" | "resourceVersion"));
            }
        }
        Some(_) => {}
    }
}

/// Status and metadata the API server itself maintains for Namespaces and CRDs.
fn server_owned_fields(w: &WriteCtx, new: &mut Value) {
    match (w.kind.group.as_str(), w.kind.kind.as_str()) {
        ("", "Namespace") => {
            object_mut(new, "metadata");
            let labels = object_mut(&mut new["metadata"], "labels");
            labels.insert("kubernetes.io/metadata.name".into(), json!(w.name));
            let spec = object_mut(new, "spec");
            if !spec.contains_key("finalizers") {
                spec.insert("finalizers".into(), json!(["kubernetes"]));
            }
            let status = object_mut(new, "status");
            status.insert("phase".into(), json!("Active"));
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            let mut names = new
                .pointer("/spec/names")
                .cloned()
                .unwrap_or_else(|| json!({}));
            if let Some(n) = names.as_object_mut()
                && !n.contains_key("singular")
                && let Some(kind) = n.get("kind").and_then(Value::as_str)
            {
                let singular = kind.to_ascii_lowercase();
                n.insert("singular".into(), json!(singular));
            }
            let stored: Vec<Value> = new
                .pointer("/spec/versions")
                .and_then(Value::as_array)
                .map(|vs| {
                    vs.iter()
                        .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
                        .filter_map(|v| v.get("name").cloned())
                        .collect()
                })
                .unwrap_or_default();
            let now = w.now.clone();
            let condition = |t: &str, reason: &str, message: &str| {
                json!({"type": t, "status": "True", "lastTransitionTime": now,
                    "reason": reason, "message": message})
            };
            new["status"] = json!({
                "conditions": [
                    condition("NamesAccepted", "NoConflicts", "no conflicts found"),
                    condition("Established", "InitialNamesAccepted", "the initial names have been accepted"),
                ],
                "acceptedNames": names,
                "storedVersions": stored,
            });
        }
        _ => {}
    }
}

/// Removes the field at a dotted path as `unknown_fields` prints it (`a.b[2].c`).
fn remove_path(obj: &mut Value, dotted: &str) {
    let mut segs: Vec<(String, Vec<usize>)> = Vec::new();
    for part in dotted.trim_start_matches('.').split('.') {
        let mut pieces = part.split('[');
        let name = pieces.next().unwrap_or_default().to_string();
        let idx = pieces
            .filter_map(|p| p.trim_end_matches(']').parse().ok())
            .collect();
        segs.push((name, idx));
    }
    fn walk(cur: &mut Value, segs: &[(String, Vec<usize>)]) {
        let Some(((name, idx), rest)) = segs.split_first() else {
            return;
        };
        let Some(m) = cur.as_object_mut() else { return };
        if rest.is_empty() && idx.is_empty() {
            m.remove(name);
            return;
        }
        let Some(mut next) = m.get_mut(name) else {
            return;
        };
        for i in idx {
            match next.get_mut(*i) {
                Some(n) => next = n,
                None => return,
            }
        }
        walk(next, rest);
    }
    walk(obj, &segs);
}

/// What a generation change is judged on: everything but metadata, and but status when the
/// kind has a status subresource (without one, status is ordinary content, as for CRDs). A
/// Deployment's annotations count too: kube-apiserver's deployment strategy bumps the
/// generation on an annotation change, since they are copied to its ReplicaSets.
fn strip_for_generation(kind: &KindInfo, v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(m) = v.as_object_mut() {
        let annotations = m
            .get("metadata")
            .and_then(|meta| meta.get("annotations"))
            .cloned();
        m.remove("metadata");
        if kind.group == "apps" && kind.kind == "Deployment" {
            m.insert("annotations".into(), annotations.unwrap_or(Value::Null));
        }
        if kind.status_subresource {
            m.remove("status");
        }
    }
    v
}

/// The object without what changes on every write (resourceVersion, managedFields times),
/// to recognize writes that change nothing.
fn strip_volatile(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("resourceVersion");
        if let Some(mf) = meta.get_mut("managedFields").and_then(Value::as_array_mut) {
            for entry in mf {
                if let Some(e) = entry.as_object_mut() {
                    e.remove("time");
                }
            }
        }
    }
    v
}

const TOP_LEVEL_ORDER: [&str; 3] = ["kind", "apiVersion", "metadata"];

fn reorder(map: &mut Map<String, Value>, first: &[&str], last: &[&str]) {
    let mut old = std::mem::take(map);
    for k in first {
        if let Some(v) = old.remove(*k) {
            map.insert((*k).to_string(), v);
        }
    }
    let tail: Vec<(String, Value)> = last
        .iter()
        .filter_map(|k| old.remove(*k).map(|v| ((*k).to_string(), v)))
        .collect();
    for (k, v) in old {
        map.insert(k, v);
    }
    for (k, v) in tail {
        map.insert(k, v);
    }
}

/// Keys in the order kube-apiserver serializes them: kind, apiVersion, metadata (in ObjectMeta
/// field order), the rest as given, status last.
pub(super) fn canonical_order(obj: &mut Value) {
    if let Some(m) = obj.as_object_mut() {
        reorder(m, &TOP_LEVEL_ORDER, &["status"]);
        if let Some(meta) = m.get_mut("metadata").and_then(Value::as_object_mut) {
            defaults::order_object_meta(meta);
        }
    }
}

fn deployment_revision(old: Option<&Value>, new: &mut Value) {
    const KEY: &str = "deployment.kubernetes.io/revision";
    let old_rev = old
        .and_then(|o| o.pointer("/metadata/annotations"))
        .and_then(|a| a.get(KEY))
        .and_then(Value::as_str)
        .and_then(|r| r.parse::<u64>().ok());
    let rev = match (old, old_rev) {
        (Some(o), Some(r)) => {
            if o.pointer("/spec/template") != new.pointer("/spec/template") {
                r + 1
            } else {
                r
            }
        }
        _ => 1,
    };
    let meta = object_mut(new, "metadata");
    let annotations = match meta.get_mut("annotations") {
        Some(Value::Object(_)) => meta.get_mut("annotations"),
        _ => {
            meta.insert("annotations".into(), json!({}));
            meta.get_mut("annotations")
        }
    };
    if let Some(Value::Object(a)) = annotations {
        a.insert(KEY.into(), json!(rev.to_string()));
    }
}

/// `fieldValidation`: Strict refuses unknown fields, Warn reports them in `Warning` headers;
/// either way they are dropped, as decoding into typed objects (or pruning) does.
pub(super) fn check_unknown_fields(
    kind: &KindInfo,
    crd: Option<&Value>,
    obj: &mut Value,
    validation: FieldValidation,
) -> Result<Vec<String>, ApiError> {
    let unknown = guarded("validation::unknown_fields", || {
        match crd.and_then(|c| crd_version_schema(c, kind)) {
            Some(schema) => validation::unknown_fields_with_schema(schema, obj),
            None => validation::unknown_fields(kind, obj),
        }
    })
    .unwrap_or_default();
    let mut warnings = Vec::new();
    if unknown.is_empty() {
        return Ok(warnings);
    }
    match validation {
        FieldValidation::Strict => {
            let list: Vec<String> = unknown
                .iter()
                .map(|f| format!("unknown field \"{f}\""))
                .collect();
            return Err(ApiError::bad_request(format!(
                "strict decoding error: {}",
                list.join(", ")
            )));
        }
        FieldValidation::Warn => {
            for f in &unknown {
                let text = format!("unknown field \"{f}\"");
                warnings.push(format!(
                    "299 - {}",
                    serde_json::to_string(&text).unwrap_or_default()
                ));
            }
        }
        FieldValidation::Ignore => {}
    }
    for f in &unknown {
        remove_path(obj, f);
    }
    Ok(warnings)
}

/// Runs a write through defaults, validation, managedFields and generation, then stores it
/// (unless dry-run or nothing changed).
pub(super) fn commit(
    store: &mut Store,
    w: &WriteCtx,
    old: Option<&Value>,
    mut new: Value,
    op: Op,
) -> Result<Committed, ApiError> {
    normalize_metadata(w, old, &mut new)?;
    split_status(w, old, &mut new);
    server_owned_fields(w, &mut new);
    let crd = store.crd_for(w.kind);
    let warnings = check_unknown_fields(w.kind, crd.as_deref(), &mut new, w.validation)?;
    {
        let minor = store.kube_minor();
        let ips = store.ips();
        if guarded("defaults::apply_defaults", || {
            defaults::apply_defaults_for(w.kind, &mut new, old, ips, minor)
        })
        .is_none()
        {
            tracing::warn!("sandbox: {} stored without defaults", w.kind.kind);
        }
    }
    let errors = guarded("validation::validate", || {
        let mut errors = validation::validate(w.kind, &new, old);
        if let Some(schema) = crd.as_deref().and_then(|c| crd_version_schema(c, w.kind)) {
            errors.extend(validation::validate_with_schema(schema, &new));
        }
        errors
    })
    .unwrap_or_default();
    if !errors.is_empty() {
        return Err(ApiError::invalid(w.kind, &w.name, &errors));
    }
    if op == Op::Update {
        w.with_field_manager(store, |ctx| {
            guarded("apply::record_update", || {
                apply::record_update(old, &mut new, ctx)
            })
        });
    }
    let mut generation_changed = false;
    if has_generation(w.kind) {
        let generation = match old {
            None => {
                generation_changed = true;
                1
            }
            Some(o) => {
                let g = o
                    .pointer("/metadata/generation")
                    .and_then(Value::as_i64)
                    .unwrap_or(0);
                if strip_for_generation(w.kind, o) != strip_for_generation(w.kind, &new) {
                    generation_changed = true;
                    g + 1
                } else {
                    g.max(1)
                }
            }
        };
        object_mut(&mut new, "metadata").insert("generation".into(), json!(generation));
    }
    if w.kind.group == "apps" && w.kind.kind == "Deployment" {
        deployment_revision(old, &mut new);
    }
    canonical_order(&mut new);
    if let Some(old) = old
        && strip_volatile(old) == strip_volatile(&new)
    {
        // Nothing changed: no new resourceVersion, no event (SSA no-ops rely on this).
        return Ok(Committed {
            stored: Arc::new(stored_without_write(old)),
            created: false,
            warnings,
            rollout: None,
        });
    }
    if w.dry_run {
        if old.is_none()
            && let Some(meta) = new.get_mut("metadata").and_then(Value::as_object_mut)
        {
            meta.remove("resourceVersion");
        }
        return Ok(Committed {
            stored: Arc::new(stored_without_write(&new)),
            created: old.is_none(),
            warnings,
            rollout: None,
        });
    }
    let stored = store
        .put(&w.res, &mut new)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let rollout = (generation_changed && w.kind.status_subresource).then(|| RolloutJob {
        kind: w.kind.clone(),
        namespace: w.namespace.clone(),
        name: w.name.clone(),
    });
    Ok(Committed {
        stored,
        created: old.is_none(),
        warnings,
        rollout,
    })
}

fn stored_without_write(v: &Value) -> StoredObject {
    StoredObject {
        json: Bytes::from(serde_json::to_vec(v).unwrap_or_default()),
        namespace: String::new(),
        name: String::new(),
        labels: Vec::new(),
        rv: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::builtin_named;
    use serde_json::json;

    #[test]
    fn apply_through_the_main_resource_cannot_own_status() {
        let deploy = builtin_named("Deployment");
        let mut applied = json!({"kind": "Deployment", "metadata": {"name": "a", "labels": {}},
            "spec": {"replicas": 1}, "status": {"replicas": 9}});
        reset_fields(&deploy, None, &mut applied);
        assert!(applied.get("status").is_none());
        assert_eq!(applied["spec"]["replicas"], 1);
        let mut applied = json!({"kind": "Deployment", "metadata": {"name": "a", "labels": {}},
            "spec": {"replicas": 1}, "status": {"replicas": 9}});
        reset_fields(&deploy, Some("status"), &mut applied);
        assert!(applied.get("spec").is_none());
        assert!(applied["metadata"].get("labels").is_none());
        assert_eq!(applied["status"]["replicas"], 9);
    }

    #[test]
    fn remove_path_handles_list_indices() {
        let mut v = json!({"spec": {"foo": 1, "template": {"spec": {"containers": [
            {"name": "a"}, {"name": "b", "bogus": true}]}}}});
        remove_path(&mut v, "spec.foo");
        remove_path(&mut v, "spec.template.spec.containers[1].bogus");
        assert_eq!(
            v,
            json!({"spec": {"template": {"spec": {"containers": [{"name": "a"}, {"name": "b"}]}}}})
        );
    }

    #[test]
    fn canonical_order_puts_status_last() {
        let mut v = json!({"status": {}, "spec": {}, "metadata": {"labels": {}, "name": "x"},
            "apiVersion": "v1", "kind": "Pod"});
        canonical_order(&mut v);
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["kind", "apiVersion", "metadata", "spec", "status"]);
        let mkeys: Vec<&String> = v["metadata"].as_object().unwrap().keys().collect();
        assert_eq!(mkeys, ["name", "labels"]);
    }

    #[test]
    fn revision_bumps_only_on_template_change() {
        let old = json!({"metadata": {"annotations": {"deployment.kubernetes.io/revision": "2"}},
            "spec": {"replicas": 1, "template": {"spec": {"containers": [{"image": "a"}]}}}});
        let mut same = old.clone();
        same["spec"]["replicas"] = json!(3);
        deployment_revision(Some(&old), &mut same);
        assert_eq!(
            same["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
            "2"
        );
        let mut changed = old.clone();
        changed["spec"]["template"]["spec"]["containers"][0]["image"] = json!("b");
        deployment_revision(Some(&old), &mut changed);
        assert_eq!(
            changed["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
            "3"
        );
        let mut fresh = json!({"metadata": {}});
        deployment_revision(None, &mut fresh);
        assert_eq!(
            fresh["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
            "1"
        );
    }
}
