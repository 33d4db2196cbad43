//! GET, LIST, POST, PUT, PATCH, DELETE of served kinds, the `status` and `scale` subresources,
//! and the write pipeline every mutation goes through:
//! patch/apply/replace → defaults → validation (422) → managedFields → generation → store.

use std::sync::Arc;

use base64::Engine;
use bytes::Bytes;
use hyper::Method;
use serde_json::{Map, Value, json};

use super::apply::{self, ApplyError};
use super::kinds::{KindInfo, kind_from_crd};
use super::patch;
use super::protobuf;
use super::selectors::{FieldSelector, LabelSelector};
use super::server::{
    ApiRequest, METADATA_CONTENT_TYPE, METADATA_LIST_CONTENT_TYPE, Reply, Shape, Shared,
    TABLE_CONTENT_TYPE, Target, guarded,
};
use super::status::ApiError;
use super::store::{ResourceKey, Store, StoredObject, now_rfc3339};
use super::table;
use super::validation::FieldError;

mod controllers;
mod pipeline;
mod scale;

pub use controllers::{RolloutKey, resume_rollouts, schedule};
use pipeline::{
    Op, canonical_order, check_unknown_fields, commit, is_builtin, object_mut, reset_fields,
    schema_for,
};
use scale::{patch_scale, to_scale, update_scale};

/// Work a controller owes after a write: run after the response, in the background.
#[derive(Debug, Clone)]
pub enum Deferred {
    /// Status follows spec `rollout_delay_ms` after a generation change.
    Rollout(RolloutJob),
    /// A Terminating namespace is emptied and removed.
    FinalizeNamespace(String),
}

/// A status update a controller owes an object once `rollout_delay_ms` has passed.
#[derive(Debug, Clone)]
pub struct RolloutJob {
    kind: KindInfo,
    namespace: String,
    name: String,
}

/// `fieldValidation`: what to do with fields the kind does not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FieldValidation {
    Ignore,
    Warn,
    Strict,
}

/// Everything a write needs to know besides the objects.
struct WriteCtx<'a> {
    kind: &'a KindInfo,
    res: ResourceKey,
    namespace: String,
    name: String,
    subresource: Option<&'a str>,
    manager: String,
    dry_run: bool,
    validation: FieldValidation,
    now: String,
}

/// What a write did.
struct Committed {
    stored: Arc<StoredObject>,
    created: bool,
    warnings: Vec<String>,
    rollout: Option<RolloutJob>,
}

/// Dispatches a non-watch request on a served kind.
pub fn handle(
    shared: &Shared,
    req: &ApiRequest,
    t: &Target,
) -> Result<(Reply, Vec<Deferred>), ApiError> {
    let no_jobs = |r: Reply| Ok((r, Vec::new()));
    match (&req.method, t.name.as_deref(), t.subresource.as_deref()) {
        (&Method::GET, None, _) => no_jobs(list(shared, req, t)?),
        (&Method::GET, Some(name), Some("scale")) => {
            let store = shared.lock();
            let obj = get_value(&store, t, name)?;
            no_jobs(Reply::json(&to_scale(&store, &t.kind, &obj)))
        }
        (&Method::GET, Some(name), _) => no_jobs(get(shared, req, t, name)?),
        (&Method::POST, None, None) if t.namespace.is_some() || !t.kind.namespaced => {
            create(shared, req, t)
        }
        (&Method::PUT, Some(name), Some("scale")) => update_scale(shared, req, t, name),
        (&Method::PUT, Some(name), _) => update(shared, req, t, name),
        (&Method::PATCH, Some(name), Some("scale")) => patch_scale(shared, req, t, name),
        (&Method::PATCH, Some(name), _) => patch_object(shared, req, t, name),
        (&Method::DELETE, Some(name), None) => delete(shared, req, t, name),
        (&Method::DELETE, None, None) => no_jobs(delete_collection(shared, req, t)?),
        _ => Err(ApiError::method_not_allowed()),
    }
}

fn key(t: &Target) -> ResourceKey {
    ResourceKey::of(&t.kind)
}

fn ns(t: &Target) -> &str {
    t.namespace.as_deref().unwrap_or("")
}

fn get_value(store: &Store, t: &Target, name: &str) -> Result<Value, ApiError> {
    store
        .get(&key(t), ns(t), name)
        .map(|o| o.value())
        .ok_or_else(|| ApiError::not_found(&t.kind, name))
}

fn partial_metadata(obj: &Value) -> Value {
    json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({}))})
}

/// A Table of `objects` (custom resources: with their CRD's printer columns), or `None` when
/// the table module cannot make one.
pub fn table_of(
    kind: &KindInfo,
    crd: Option<&Value>,
    objects: &[&Value],
    rv: u64,
) -> Option<Value> {
    guarded("table::to_table", || {
        table::to_table_with_crd(kind, crd, objects, &rv.to_string())
    })
}

/// The `openAPIV3Schema` of the CRD version serving `kind`.
pub fn crd_version_schema<'c>(crd: &'c Value, kind: &KindInfo) -> Option<&'c Value> {
    crd.pointer("/spec/versions")
        .and_then(Value::as_array)?
        .iter()
        .find(|v| v.get("name").and_then(Value::as_str) == Some(kind.version.as_str()))?
        .pointer("/schema/openAPIV3Schema")
}

fn get(shared: &Shared, req: &ApiRequest, t: &Target, name: &str) -> Result<Reply, ApiError> {
    let store = shared.lock();
    let obj = store
        .get(&key(t), ns(t), name)
        .ok_or_else(|| ApiError::not_found(&t.kind, name))?;
    match Shape::from_accept(&req.accept) {
        Shape::Full => Ok(Reply::bytes(200, obj.json.clone())),
        Shape::Table => {
            let value = obj.value();
            let crd = store.crd_for(&t.kind);
            Ok(
                match table_of(&t.kind, crd.as_deref(), &[&value], store.resource_version()) {
                    Some(table) => Reply {
                        content_type: TABLE_CONTENT_TYPE,
                        ..Reply::json(&table)
                    },
                    None => Reply::bytes(200, obj.json.clone()),
                },
            )
        }
        Shape::Metadata => Ok(Reply {
            content_type: METADATA_CONTENT_TYPE,
            ..Reply::json(&partial_metadata(&obj.value()))
        }),
    }
}

/// Label and field selectors of a request.
pub struct Selectors {
    /// `labelSelector`.
    pub labels: LabelSelector,
    /// `fieldSelector`.
    pub fields: FieldSelector,
}

impl Selectors {
    /// Parses the request's selectors; 400 when they do not parse.
    pub fn from_request(req: &ApiRequest, kind: &KindInfo) -> Result<Selectors, ApiError> {
        let labels = LabelSelector::parse(req.param("labelSelector").unwrap_or_default())
            .map_err(|e| ApiError::bad_request(e.0))?;
        let fields =
            FieldSelector::parse(req.param("fieldSelector").unwrap_or_default(), &kind.kind)
                .map_err(|e| ApiError::bad_request(e.0))?;
        Ok(Selectors { labels, fields })
    }

    /// Whether they select everything.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty() && self.fields.is_empty()
    }

    /// Whether `obj` is selected.
    pub fn matches(&self, obj: &StoredObject) -> bool {
        if !self.labels.matches(&obj.labels) {
            return false;
        }
        if self.fields.needs_object() {
            let value = obj.value();
            self.fields.matches(&obj.namespace, &obj.name, Some(&value))
        } else {
            self.fields.matches(&obj.namespace, &obj.name, None)
        }
    }
}

fn decode_continue(token: &str) -> Result<(String, String), ApiError> {
    let bad = || ApiError::bad_request(format!("continue key is not valid: {token}"));
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    let start = v.get("start").and_then(Value::as_str).ok_or_else(bad)?;
    let (ns, name) = start.split_once('/').ok_or_else(bad)?;
    Ok((ns.to_string(), name.to_string()))
}

fn encode_continue(rv: u64, obj: &StoredObject) -> String {
    let token = json!({"v": "meta.k8s.io/v1", "rv": rv,
        "start": format!("{}/{}\u{0}", obj.namespace, obj.name)});
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(token.to_string())
}

fn list(shared: &Shared, req: &ApiRequest, t: &Target) -> Result<Reply, ApiError> {
    let selectors = Selectors::from_request(req, &t.kind)?;
    let limit: usize = match req.param("limit") {
        None | Some("") => 0,
        Some(l) => l
            .parse()
            .map_err(|_| ApiError::bad_request(format!("invalid limit {l:?}")))?,
    };
    let start = match req.param("continue") {
        None | Some("") => None,
        Some(token) => Some(decode_continue(token)?),
    };
    let store = shared.lock();
    let rv = store.resource_version();
    let res = key(t);
    let namespace = t.namespace.as_deref();
    let mut items: Vec<&Arc<StoredObject>> = Vec::new();
    let mut next: Option<String> = None;
    let mut remaining = 0usize;
    let name_only = selectors.fields.exact_name().map(String::from);
    for obj in store.list(&res, namespace) {
        if let Some((sns, sname)) = &start
            && (obj.namespace.as_str(), obj.name.as_str())
                <= (sns.as_str(), sname.strip_suffix('\u{0}').unwrap_or(sname))
        {
            continue;
        }
        if name_only.as_deref().is_some_and(|n| n != obj.name) || !selectors.matches(obj) {
            continue;
        }
        if limit > 0 && items.len() == limit {
            if next.is_none() {
                next = items.last().map(|last| encode_continue(rv, last));
            }
            remaining += 1;
            if !selectors.is_empty() {
                break;
            }
            continue;
        }
        items.push(obj);
    }
    let mut meta = Map::new();
    meta.insert("resourceVersion".into(), json!(rv.to_string()));
    if let Some(c) = &next {
        meta.insert("continue".into(), json!(c));
        if selectors.is_empty() {
            meta.insert("remainingItemCount".into(), json!(remaining));
        }
    }
    match Shape::from_accept(&req.accept) {
        Shape::Table => {
            let values: Vec<Value> = items.iter().map(|o| o.value()).collect();
            let refs: Vec<&Value> = values.iter().collect();
            let crd = store.crd_for(&t.kind);
            if let Some(mut table) = table_of(&t.kind, crd.as_deref(), &refs, rv) {
                if let Some(m) = table.get_mut("metadata").and_then(Value::as_object_mut) {
                    for (k, v) in &meta {
                        m.insert(k.clone(), v.clone());
                    }
                }
                return Ok(Reply {
                    content_type: TABLE_CONTENT_TYPE,
                    ..Reply::json(&table)
                });
            }
        }
        Shape::Metadata => {
            let values: Vec<Value> = items
                .iter()
                .map(|o| {
                    let mut m = partial_metadata(&o.value());
                    if let Some(obj) = m.as_object_mut() {
                        obj.remove("kind");
                        obj.remove("apiVersion");
                    }
                    m
                })
                .collect();
            return Ok(Reply {
                content_type: METADATA_LIST_CONTENT_TYPE,
                ..Reply::json(&json!({"kind": "PartialObjectMetadataList",
                    "apiVersion": "meta.k8s.io/v1", "metadata": meta, "items": values}))
            });
        }
        Shape::Full => {}
    }
    Ok(Reply::bytes(
        200,
        list_body(&t.kind, &Value::Object(meta), &items),
    ))
}

/// A `<Kind>List` document spliced from stored bytes (objects are not serialized again).
fn list_body(kind: &KindInfo, meta: &Value, items: &[&Arc<StoredObject>]) -> Bytes {
    let head = json!({"kind": format!("{}List", kind.kind), "apiVersion": kind.api_version(),
        "metadata": meta});
    let mut out = serde_json::to_vec(&head).unwrap_or_default();
    out.pop();
    out.extend_from_slice(b",\"items\":[");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(&item.json);
    }
    out.extend_from_slice(b"]}");
    Bytes::from(out)
}

fn field_validation(req: &ApiRequest) -> Result<FieldValidation, ApiError> {
    match req.param("fieldValidation") {
        None | Some("") | Some("Warn") => Ok(FieldValidation::Warn),
        Some("Strict") => Ok(FieldValidation::Strict),
        Some("Ignore") => Ok(FieldValidation::Ignore),
        Some(other) => Err(ApiError::bad_request(format!(
            "fieldValidation must be one of \"Ignore\", \"Warn\", or \"Strict\", got {other:?}"
        ))),
    }
}

fn dry_run(req: &ApiRequest) -> Result<bool, ApiError> {
    let mut dry = false;
    for (k, v) in &req.query {
        if k == "dryRun" {
            if v == "All" {
                dry = true;
            } else if !v.is_empty() {
                return Err(ApiError::bad_request(format!(
                    "dryRun: Unsupported value: {v:?}: supported values: \"All\""
                )));
            }
        }
    }
    Ok(dry)
}

fn manager(req: &ApiRequest) -> String {
    match req.param("fieldManager") {
        Some(m) if !m.is_empty() => m.to_string(),
        _ => {
            // kube-apiserver defaults the manager to the User-Agent up to its first '/'.
            let ua = req.user_agent.split('/').next().unwrap_or_default();
            ua.chars().take(128).collect()
        }
    }
}

fn write_ctx<'a>(req: &ApiRequest, t: &'a Target, name: &str) -> Result<WriteCtx<'a>, ApiError> {
    Ok(WriteCtx {
        kind: &t.kind,
        res: key(t),
        namespace: ns(t).to_string(),
        name: name.to_string(),
        subresource: t.subresource.as_deref(),
        manager: manager(req),
        dry_run: dry_run(req)?,
        validation: field_validation(req)?,
        now: now_rfc3339(),
    })
}

fn decode_body(req: &ApiRequest) -> Result<Value, ApiError> {
    if req.content_type == "application/vnd.kubernetes.protobuf" {
        return protobuf::decode(&req.body).map_err(|e| ApiError {
            code: 415,
            reason: "UnsupportedMediaType",
            ..ApiError::bad_request(format!("cannot decode the protobuf body: {e}"))
        });
    }
    if req.content_type.contains("cbor") {
        return Err(ApiError::unsupported_media_type(
            &req.content_type,
            &[
                "application/json",
                "application/yaml",
                "application/vnd.kubernetes.protobuf",
            ],
        ));
    }
    let value: Value = if req.content_type.contains("yaml") {
        serde_saphyr::from_slice(&req.body)
            .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?
    } else {
        serde_json::from_slice(&req.body).map_err(|e| {
            ApiError::bad_request(format!(
                "the object provided is unrecognized: json parse error: {e}"
            ))
        })?
    };
    if !value.is_object() {
        return Err(ApiError::bad_request(
            "the object provided is unrecognized: the body is not a JSON object",
        ));
    }
    Ok(value)
}

/// Fills or checks `apiVersion` and `kind` against the URL.
fn check_type(kind: &KindInfo, obj: &mut Value) -> Result<(), ApiError> {
    let want_av = kind.api_version();
    let Some(m) = obj.as_object_mut() else {
        return Err(ApiError::bad_request("the object provided is unrecognized"));
    };
    match m.get("apiVersion").and_then(Value::as_str) {
        None | Some("") => {
            m.insert("apiVersion".into(), json!(want_av));
        }
        Some(av) if av != want_av => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({av}) does not match the expected API version ({want_av})"
            )));
        }
        Some(_) => {}
    }
    match m.get("kind").and_then(Value::as_str) {
        None | Some("") => {
            m.insert("kind".into(), json!(kind.kind));
        }
        Some(k) if k != kind.kind => {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind ({})",
                kind.kind
            )));
        }
        Some(_) => {}
    }
    Ok(())
}

fn meta_str<'v>(obj: &'v Value, field: &str) -> Option<&'v str> {
    obj.get("metadata")?.get(field)?.as_str()
}

fn namespaces_key() -> ResourceKey {
    ResourceKey {
        group: String::new(),
        plural: "namespaces".into(),
    }
}

fn require_namespace(
    store: &Store,
    kind: &KindInfo,
    namespace: &str,
    name: &str,
) -> Result<(), ApiError> {
    if !kind.namespaced {
        return Ok(());
    }
    let Some(ns) = store.get(&namespaces_key(), "", namespace) else {
        return Err(ApiError::namespace_not_found(namespace));
    };
    if ns.value().pointer("/metadata/deletionTimestamp").is_some() {
        return Err(ApiError::forbidden(
            kind,
            name,
            &format!(
                "unable to create new content in namespace {namespace} because it is being terminated"
            ),
        ));
    }
    Ok(())
}

/// Name and namespace in the body must agree with the URL.
fn check_identity(t: &Target, obj: &Value, url_name: Option<&str>) -> Result<(), ApiError> {
    if let Some(body_ns) = meta_str(obj, "namespace").filter(|n| !n.is_empty())
        && t.kind.namespaced
        && body_ns != ns(t)
    {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    if let Some(url_name) = url_name
        && let Some(body_name) = meta_str(obj, "name").filter(|n| !n.is_empty())
        && body_name != url_name
    {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({url_name})"
        )));
    }
    Ok(())
}

fn generate_name(prefix: &str) -> String {
    // The alphabet and length of k8s.io/apiserver's SimpleNameGenerator.
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let prefix: String = prefix.chars().take(63 - 5).collect();
    let suffix: String = (0..5)
        .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("{prefix}{suffix}")
}

fn create(
    shared: &Shared,
    req: &ApiRequest,
    t: &Target,
) -> Result<(Reply, Vec<Deferred>), ApiError> {
    let mut obj = decode_body(req)?;
    check_type(&t.kind, &mut obj)?;
    check_identity(t, &obj, None)?;
    let mut name = meta_str(&obj, "name").unwrap_or_default().to_string();
    if name.is_empty() {
        match meta_str(&obj, "generateName").filter(|g| !g.is_empty()) {
            Some(prefix) => name = generate_name(prefix),
            None => {
                return Err(ApiError::invalid(
                    &t.kind,
                    "",
                    &[FieldError {
                        reason: "FieldValueRequired".into(),
                        field: "metadata.name".into(),
                        message: "Required value: name or generateName is required".into(),
                    }],
                ));
            }
        }
    }
    let w = write_ctx(req, t, &name)?;
    let mut store = shared.lock();
    require_namespace(&store, &t.kind, &w.namespace, &w.name)?;
    if store.get(&w.res, &w.namespace, &name).is_some() {
        return Err(ApiError::already_exists(&t.kind, &name));
    }
    let done = commit(&mut store, &w, None, obj, Op::Update)?;
    Ok(respond(done, 201))
}

fn respond(done: Committed, created_code: u16) -> (Reply, Vec<Deferred>) {
    let code = if done.created { created_code } else { 200 };
    let mut reply = Reply::bytes(code, done.stored.json.clone());
    reply.warnings = done.warnings;
    (
        reply,
        done.rollout.into_iter().map(Deferred::Rollout).collect(),
    )
}

fn check_rv_precondition(
    t: &Target,
    name: &str,
    body: &Value,
    live: &Value,
) -> Result<(), ApiError> {
    if let Some(rv) = meta_str(body, "resourceVersion").filter(|r| !r.is_empty())
        && Some(rv) != meta_str(live, "resourceVersion")
    {
        return Err(ApiError::modified(&t.kind, name));
    }
    Ok(())
}

fn update(
    shared: &Shared,
    req: &ApiRequest,
    t: &Target,
    name: &str,
) -> Result<(Reply, Vec<Deferred>), ApiError> {
    let mut obj = decode_body(req)?;
    check_type(&t.kind, &mut obj)?;
    check_identity(t, &obj, Some(name))?;
    let w = write_ctx(req, t, name)?;
    let mut store = shared.lock();
    let old = get_value(&store, t, name)?;
    check_rv_precondition(t, name, &obj, &old)?;
    let done = commit(&mut store, &w, Some(&old), obj, Op::Update)?;
    Ok(respond(done, 201))
}

/// Applies a non-apply patch of the request's content type to `target`.
fn apply_patch_body(
    store: &Store,
    req: &ApiRequest,
    kind: &KindInfo,
    target: &Value,
) -> Result<Value, ApiError> {
    let builtin = is_builtin(kind);
    let patch_doc: Value = serde_json::from_slice(&req.body)
        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
    let result = match req.content_type.as_str() {
        "application/merge-patch+json" => patch::json_merge_patch(target, &patch_doc),
        "application/strategic-merge-patch+json" if builtin => {
            let schema = schema_for(store, kind);
            patch::strategic_merge_patch(target, &patch_doc, &schema)
        }
        "application/json-patch+json" => patch::json_patch(target, &patch_doc).map_err(|e| {
            patch::PatchError(format!(
                "the server rejected our request due to an error in our request: {}",
                e.0
            ))
        }),
        other => {
            let mut accepted = vec![
                "application/json-patch+json",
                "application/merge-patch+json",
            ];
            if builtin {
                accepted.push("application/strategic-merge-patch+json");
            }
            accepted.push("application/apply-patch+yaml");
            return Err(ApiError::unsupported_media_type(other, &accepted));
        }
    };
    result.map_err(|e| ApiError {
        code: 422,
        reason: "Invalid",
        ..ApiError::bad_request(e.0)
    })
}

fn patch_object(
    shared: &Shared,
    req: &ApiRequest,
    t: &Target,
    name: &str,
) -> Result<(Reply, Vec<Deferred>), ApiError> {
    let is_apply = is_apply_patch(req)?;
    let w = write_ctx(req, t, name)?;
    let mut store = shared.lock();
    let live = store.get(&w.res, &w.namespace, name).map(|o| o.value());
    if is_apply {
        let mut applied = decode_body(req)?;
        check_type(&t.kind, &mut applied)?;
        check_identity(t, &applied, Some(name))?;
        if live.is_none() {
            if t.subresource.is_some() {
                return Err(ApiError::not_found(&t.kind, name));
            }
            require_namespace(&store, &t.kind, &w.namespace, &w.name)?;
        }
        if let Some(live) = &live {
            check_rv_precondition(t, name, &applied, live)?;
        }
        // Checked before merging so that dropped fields are not recorded as owned.
        let crd = store.crd_for(&t.kind);
        let warnings = check_unknown_fields(&t.kind, crd.as_deref(), &mut applied, w.validation)?;
        reset_fields(&t.kind, w.subresource, &mut applied);
        let merged = w
            .with_field_manager(&store, |ctx| {
                apply::server_side_apply(live.as_ref(), &applied, req.flag("force"), ctx)
            })
            .map_err(|e| match e {
                ApplyError::Conflicts(c) => ApiError::apply_conflicts(&c),
                ApplyError::Invalid(msg) => ApiError {
                    code: 422,
                    reason: "Invalid",
                    ..ApiError::bad_request(msg)
                },
            })?;
        let mut done = commit(&mut store, &w, live.as_ref(), merged, Op::Apply)?;
        done.warnings.splice(0..0, warnings);
        return Ok(respond(done, 201));
    }
    let live = live.ok_or_else(|| ApiError::not_found(&t.kind, name))?;
    let patched = apply_patch_body(&store, req, &t.kind, &live)?;
    check_identity(t, &patched, Some(name))?;
    check_rv_precondition(t, name, &patched, &live)?;
    let done = commit(&mut store, &w, Some(&live), patched, Op::Update)?;
    Ok(respond(done, 200))
}

/// Whether a PATCH is a server-side apply, once its options (`fieldManager`, `force`) are
/// checked to suit that kind of patch.
fn is_apply_patch(req: &ApiRequest) -> Result<bool, ApiError> {
    let is_apply = req.content_type == "application/apply-patch+yaml";
    let field_error = |reason: &str, field: &str, message: &str| FieldError {
        reason: reason.into(),
        field: field.into(),
        message: message.into(),
    };
    let err = if is_apply && req.param("fieldManager").is_none_or(str::is_empty) {
        field_error(
            "FieldValueRequired",
            "fieldManager",
            "Required value: is required for apply patch",
        )
    } else if !is_apply && req.param("force").is_some() {
        field_error(
            "FieldValueForbidden",
            "force",
            "Forbidden: may not be specified for non-apply patch",
        )
    } else {
        return Ok(is_apply);
    };
    Err(ApiError::invalid_named(
        "PatchOptions.meta.k8s.io",
        "meta.k8s.io",
        "PatchOptions",
        "",
        &[err],
    ))
}

/// 409 when a precondition (`UID`, `ResourceVersion`) does not hold, worded as kube does.
fn check_precondition(
    kind: &KindInfo,
    name: &str,
    label: &str,
    want: &str,
    have: Option<&str>,
) -> Result<(), ApiError> {
    if Some(want) == have {
        return Ok(());
    }
    Err(ApiError::conflict(
        kind,
        name,
        &format!(
            "Precondition failed: {label} in precondition: {want}, {label} in object meta: {}",
            have.unwrap_or_default()
        ),
    ))
}

fn delete_options(req: &ApiRequest) -> Result<Value, ApiError> {
    if req.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(&req.body)
        .map_err(|e| ApiError::bad_request(format!("cannot decode DeleteOptions: {e}")))
}

fn delete(
    shared: &Shared,
    req: &ApiRequest,
    t: &Target,
    name: &str,
) -> Result<(Reply, Vec<Deferred>), ApiError> {
    let opts = delete_options(req)?;
    let dry = dry_run(req)?
        || opts
            .get("dryRun")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|v| v == "All"));
    let mut store = shared.lock();
    let live = store
        .get(&key(t), ns(t), name)
        .ok_or_else(|| ApiError::not_found(&t.kind, name))?;
    let live_value = live.value();
    if let Some(pre) = opts.get("preconditions") {
        for (field, label) in [("uid", "UID"), ("resourceVersion", "ResourceVersion")] {
            if let Some(want) = pre.get(field).and_then(Value::as_str) {
                check_precondition(&t.kind, name, label, want, meta_str(&live_value, field))?;
            }
        }
    }
    let is_namespace = t.kind.group.is_empty() && t.kind.kind == "Namespace";
    if is_namespace && matches!(name, "default" | "kube-system" | "kube-public") {
        return Err(ApiError::forbidden(
            &t.kind,
            name,
            "this namespace may not be deleted",
        ));
    }
    if dry {
        return Ok((Reply::bytes(200, live.json.clone()), vec![]));
    }
    let internal = |e: super::store::StoreError| ApiError::internal(e.to_string());
    if is_namespace {
        // Like kube: the namespace turns Terminating now and the namespace controller empties
        // and removes it a little later, so that deleting a namespace and then its objects
        // (`kubectl delete -f` of a file listing the namespace first) succeeds.
        if live_value.pointer("/metadata/deletionTimestamp").is_some() {
            return Ok((Reply::bytes(200, live.json.clone()), vec![]));
        }
        let mut terminating = live_value.clone();
        object_mut(&mut terminating, "metadata")
            .insert("deletionTimestamp".into(), json!(now_rfc3339()));
        object_mut(&mut terminating, "metadata")
            .insert("deletionGracePeriodSeconds".into(), json!(0));
        object_mut(&mut terminating, "status").insert("phase".into(), json!("Terminating"));
        canonical_order(&mut terminating);
        let stored = store.put(&key(t), &mut terminating).map_err(internal)?;
        return Ok((
            Reply::bytes(200, stored.json.clone()),
            vec![Deferred::FinalizeNamespace(name.to_string())],
        ));
    }
    if t.kind.group == "apiextensions.k8s.io"
        && t.kind.kind == "CustomResourceDefinition"
        && let Some(served) = kind_from_crd(&live_value)
    {
        let res = ResourceKey::of(&served);
        let all: Vec<(String, String)> = store
            .list(&res, None)
            .map(|o| (o.namespace.clone(), o.name.clone()))
            .collect();
        for (n, o) in all {
            store.delete(&res, &n, &o).map_err(internal)?;
        }
    }
    let gone = store
        .delete(&key(t), ns(t), name)
        .map_err(internal)?
        .ok_or_else(|| ApiError::not_found(&t.kind, name))?;
    Ok((Reply::bytes(200, gone.json.clone()), vec![]))
}

/// The namespace controller: deletes everything in a Terminating namespace, then the namespace.
pub fn finalize_namespace(shared: &Shared, namespace: &str) {
    let mut store = shared.lock();
    let terminating = store
        .get(&namespaces_key(), "", namespace)
        .is_some_and(|ns| ns.value().pointer("/metadata/deletionTimestamp").is_some());
    if !terminating {
        return;
    }
    for (res, name) in store.objects_in_namespace(namespace) {
        if let Err(e) = store.delete(&res, namespace, &name) {
            tracing::error!("sandbox: cannot delete {name} in namespace {namespace}: {e}");
            return;
        }
    }
    if let Err(e) = store.delete(&namespaces_key(), "", namespace) {
        tracing::error!("sandbox: cannot delete namespace {namespace}: {e}");
    }
}

/// Namespaces left Terminating (e.g. by a restart), to finalize again.
pub fn terminating_namespaces(store: &Store) -> Vec<String> {
    store
        .list(&namespaces_key(), None)
        .filter(|ns| ns.value().pointer("/metadata/deletionTimestamp").is_some())
        .map(|ns| ns.name.clone())
        .collect()
}

fn delete_collection(shared: &Shared, req: &ApiRequest, t: &Target) -> Result<Reply, ApiError> {
    if t.kind.group.is_empty() && t.kind.kind == "Namespace" {
        return Err(ApiError::method_not_allowed());
    }
    let selectors = Selectors::from_request(req, &t.kind)?;
    let dry = dry_run(req)?;
    let mut store = shared.lock();
    let res = key(t);
    let chosen: Vec<Arc<StoredObject>> = store
        .list(&res, t.namespace.as_deref())
        .filter(|o| selectors.matches(o))
        .cloned()
        .collect();
    let mut deleted = Vec::new();
    for obj in chosen {
        if dry {
            deleted.push(obj);
        } else if let Some(gone) = store
            .delete(&res, &obj.namespace, &obj.name)
            .map_err(|e| ApiError::internal(e.to_string()))?
        {
            deleted.push(gone);
        }
    }
    let meta = json!({"resourceVersion": store.resource_version().to_string()});
    let refs: Vec<&Arc<StoredObject>> = deleted.iter().collect();
    Ok(Reply::bytes(200, list_body(&t.kind, &meta, &refs)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_round_trip() {
        let obj = StoredObject {
            json: Bytes::new(),
            namespace: "ns".into(),
            name: "web".into(),
            labels: vec![],
            rv: 3,
        };
        let token = encode_continue(7, &obj);
        assert_eq!(
            decode_continue(&token).unwrap(),
            ("ns".into(), "web\u{0}".into())
        );
        assert!(decode_continue("garbage!").is_err());
    }
}
