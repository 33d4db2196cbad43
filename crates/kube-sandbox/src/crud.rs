//! GET, LIST, POST, PUT, PATCH, DELETE of served kinds, the `status` and `scale` subresources,
//! and the write pipeline every mutation goes through:
//! patch/apply/replace → defaults → validation (422) → managedFields → generation → store.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use hyper::Method;
use serde_json::{Map, Value, json};

use super::apply::{self, ApplyError, FieldManagerContext};
use super::controller;
use super::defaults;
use super::kinds::{KindInfo, builtin_kinds, kind_from_crd};
use super::patch;
use super::protobuf;
use super::schema::TypeSchema;
use super::selectors::{FieldSelector, LabelSelector};
use super::server::{
    ApiRequest, METADATA_CONTENT_TYPE, METADATA_LIST_CONTENT_TYPE, Reply, Shape, Shared,
    TABLE_CONTENT_TYPE, Target, guarded,
};
use super::status::ApiError;
use super::store::{ResourceKey, Store, StoredObject, now_rfc3339};
use super::table;
use super::validation::{self, FieldError};

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
    let is_apply = req.content_type == "application/apply-patch+yaml";
    patch_options_valid(req, is_apply)?;
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
        let schema = schema_for(&store, &t.kind);
        let api_version = t.kind.api_version();
        let ctx = FieldManagerContext {
            manager: &w.manager,
            api_version: &api_version,
            now: &w.now,
            subresource: w.subresource,
            schema: &schema,
        };
        let merged = apply::server_side_apply(live.as_ref(), &applied, req.flag("force"), &ctx)
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

fn patch_options_valid(req: &ApiRequest, is_apply: bool) -> Result<(), ApiError> {
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
        return Ok(());
    };
    Err(ApiError::invalid_named(
        "PatchOptions.meta.k8s.io",
        "meta.k8s.io",
        "PatchOptions",
        "",
        &[err],
    ))
}

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
    if let Some(exprs) = sel.get("matchExpressions").and_then(Value::as_array) {
        for e in exprs {
            let k = e.get("key").and_then(Value::as_str).unwrap_or_default();
            let mut values: Vec<&str> = e
                .get("values")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            values.sort();
            let set = values.join(",");
            match e
                .get("operator")
                .and_then(Value::as_str)
                .unwrap_or_default()
            {
                "In" => parts.push(format!("{k} in ({set})")),
                "NotIn" => parts.push(format!("{k} notin ({set})")),
                "Exists" => parts.push(k.to_string()),
                "DoesNotExist" => parts.push(format!("!{k}")),
                _ => {}
            }
        }
    }
    parts.join(",")
}

fn to_scale(store: &Store, kind: &KindInfo, obj: &Value) -> Value {
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

fn update_scale(
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

fn patch_scale(
    shared: &Shared,
    req: &ApiRequest,
    t: &Target,
    name: &str,
) -> Result<(Reply, Vec<Deferred>), ApiError> {
    let is_apply = req.content_type == "application/apply-patch+yaml";
    patch_options_valid(req, is_apply)?;
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

// ---------------------------------------------------------------------------------------------
// The write pipeline.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    /// POST, PUT, non-apply PATCH: managedFields via `record_update`.
    Update,
    /// Server-side apply: managedFields already computed.
    Apply,
}

fn builtin_set() -> &'static [KindInfo] {
    static KINDS: OnceLock<Vec<KindInfo>> = OnceLock::new();
    KINDS.get_or_init(builtin_kinds)
}

fn is_builtin(kind: &KindInfo) -> bool {
    builtin_set()
        .iter()
        .any(|b| b.group == kind.group && b.kind == kind.kind)
}

/// Whether kube-apiserver keeps `metadata.generation` for this kind.
fn has_generation(kind: &KindInfo) -> bool {
    if !is_builtin(kind) {
        return true; // custom resources always do
    }
    matches!(
        kind.group.as_str(),
        "apps" | "batch" | "networking.k8s.io" | "autoscaling" | "policy" | "apiextensions.k8s.io"
    )
}

/// The merge schema of a kind (CRDs: from the stored CRD's schema), cached per CRD version.
fn schema_for(store: &Store, kind: &KindInfo) -> Arc<TypeSchema> {
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

fn object_mut<'v>(obj: &'v mut Value, field: &str) -> &'v mut Map<String, Value> {
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
fn reset_fields(kind: &KindInfo, subresource: Option<&str>, applied: &mut Value) {
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
fn canonical_order(obj: &mut Value) {
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
fn check_unknown_fields(
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
fn commit(
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
        let schema = schema_for(store, w.kind);
        let api_version = w.kind.api_version();
        let ctx = FieldManagerContext {
            manager: &w.manager,
            api_version: &api_version,
            now: &w.now,
            subresource: w.subresource,
            schema: &schema,
        };
        guarded("apply::record_update", || {
            apply::record_update(old, &mut new, &ctx)
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

// ---------------------------------------------------------------------------------------------
// Controllers: status follows spec after `rollout_delay_ms`.

/// An object a rollout is pending for.
pub type RolloutKey = (ResourceKey, String, String);

/// Runs deferred controller work in the background.
pub fn schedule(shared: Arc<Shared>, work: Deferred) {
    match work {
        Deferred::Rollout(job) => schedule_rollout(shared, job),
        Deferred::FinalizeNamespace(ns) => {
            // The namespace controller takes a moment, as on a real cluster.
            let delay = Duration::from_millis(shared.opts.rollout_delay_ms.clamp(200, 2_000));
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                finalize_namespace(&shared, &ns);
            });
        }
    }
}

/// After a restart: rollouts the previous process did not finish (status behind generation).
pub fn resume_rollouts(shared: &Arc<Shared>) {
    let mut due = Vec::new();
    {
        let store = shared.lock();
        for kind in store.kinds().iter() {
            if !(kind.status_subresource && has_generation(kind) && is_builtin(kind)) {
                continue;
            }
            for obj in store.list(&ResourceKey::of(kind), None) {
                let v = obj.value();
                let generation = v.pointer("/metadata/generation");
                if generation.is_some() && v.pointer("/status/observedGeneration") != generation {
                    due.push(RolloutJob {
                        kind: kind.clone(),
                        namespace: obj.namespace.clone(),
                        name: obj.name.clone(),
                    });
                }
            }
        }
    }
    for job in due {
        schedule_rollout(shared.clone(), job);
    }
}

/// Makes the object's status converge `rollout_delay_ms` after its last spec change; one task per
/// object however many changes come in meanwhile.
fn schedule_rollout(shared: Arc<Shared>, job: RolloutJob) {
    let delay = Duration::from_millis(shared.opts.rollout_delay_ms);
    let key: RolloutKey = (
        ResourceKey::of(&job.kind),
        job.namespace.clone(),
        job.name.clone(),
    );
    {
        let mut pending = shared
            .pending_rollouts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let already = pending
            .insert(key.clone(), Instant::now() + delay)
            .is_some();
        if already {
            return;
        }
    }
    tokio::spawn(async move {
        loop {
            let due = shared
                .pending_rollouts
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get(&key)
                .copied();
            let Some(due) = due else { return };
            let now = Instant::now();
            if due > now {
                tokio::time::sleep(due - now).await;
                continue;
            }
            shared
                .pending_rollouts
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .remove(&key);
            break;
        }
        converge(&shared, &job);
    });
}

fn converge(shared: &Shared, job: &RolloutJob) {
    let mut store = shared.lock();
    let res = ResourceKey::of(&job.kind);
    let Some(current) = store.get(&res, &job.namespace, &job.name) else {
        return;
    };
    let old = current.value();
    let Some(Some(status)) = guarded("controller::converged_status", || {
        controller::converged_status(&job.kind, &old)
    }) else {
        return;
    };
    if old.get("status") == Some(&status) {
        return;
    }
    let mut new = old.clone();
    new["status"] = status;
    let schema = schema_for(&store, &job.kind);
    let api_version = job.kind.api_version();
    let now = now_rfc3339();
    let ctx = FieldManagerContext {
        manager: "kube-controller-manager",
        api_version: &api_version,
        now: &now,
        subresource: Some("status"),
        schema: &schema,
    };
    guarded("apply::record_update", || {
        apply::record_update(Some(&old), &mut new, &ctx)
    });
    canonical_order(&mut new);
    if let Err(e) = store.put(&res, &mut new) {
        tracing::error!("sandbox: cannot store the status of {}: {e}", job.name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apply_through_the_main_resource_cannot_own_status() {
        let deploy = builtin_kinds()
            .into_iter()
            .find(|k| k.kind == "Deployment")
            .unwrap();
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
    fn selector_formatting_matches_kube() {
        let sel = json!({"matchLabels": {"tier": "web", "app": "shop"},
            "matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "dev"]}]});
        assert_eq!(format_selector(&sel), "app=shop,tier=web,env in (dev,prod)");
    }

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
