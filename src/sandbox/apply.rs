//! Server-side apply and managedFields bookkeeping, as structured-merge-diff does it.
//!
//! The model follows structured-merge-diff v4 (`merge.Updater`) and the API server's field
//! manager chain (`stripMetaManager`, `managedFieldsUpdater`): the applier's set is the fields
//! of its config; the config is merged into the live object; fields the applier dropped and
//! nobody else owns are pruned; fields that change value and belong to someone else conflict.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::fieldset::{FieldPath, FieldSet, PathElement, list_item_element, path_string};
use super::schema::{ListType, MapKind, TypeSchema};

/// Who writes, how, and when: the context of one managedFields entry.
#[derive(Debug, Clone)]
pub struct FieldManagerContext<'a> {
    /// Field manager name (`fieldManager` query parameter, else from the User-Agent).
    pub manager: &'a str,
    /// `apiVersion` of the request, recorded in the managedFields entry.
    pub api_version: &'a str,
    /// RFC 3339 time recorded in the managedFields entry.
    pub now: &'a str,
    /// `Some("status")` or `Some("scale")` for subresource writes.
    pub subresource: Option<&'a str>,
    /// Merge schema of the object's kind.
    pub schema: &'a TypeSchema,
}

/// One conflicting field of an apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// Manager owning the field now.
    pub manager: String,
    /// Field path as the API server prints it, e.g. `.spec.replicas`.
    pub field: String,
}

/// Why an apply was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// Fields owned by other managers would change value; retry with force.
    #[error("{}", conflict_message(.0))]
    Conflicts(Vec<Conflict>),
    /// The applied configuration is not a valid object (e.g. duplicate list keys).
    #[error("{0}")]
    Invalid(String),
}

/// The API server's message for apply conflicts (`Apply failed with 1 conflict: conflict with
/// "kubectl": .spec.replicas`; several conflicts are grouped by manager).
pub fn conflict_message(conflicts: &[Conflict]) -> String {
    if let [only] = conflicts {
        return format!(
            "Apply failed with 1 conflict: conflict with {:?}: {}",
            only.manager, only.field
        );
    }
    let mut by_manager: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for c in conflicts {
        by_manager
            .entry(format!("{:?}", c.manager))
            .or_default()
            .push(&c.field);
    }
    let mut lines = Vec::new();
    for (manager, fields) in by_manager {
        lines.push(format!("conflicts with {manager}:"));
        lines.extend(fields.iter().map(|f| format!("- {f}")));
    }
    format!(
        "Apply failed with {} conflicts: {}",
        conflicts.len(),
        lines.join("\n")
    )
}

const OP_APPLY: &str = "Apply";
const OP_UPDATE: &str = "Update";

/// Identity of a managedFields entry, as upstream's manager identifier: appliers are one entry
/// whatever apiVersion they use, updaters one per apiVersion.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct ManagerKey {
    manager: String,
    operation: String,
    /// apiVersion for Update entries, empty for Apply.
    version_key: String,
    subresource: String,
}

#[derive(Debug, Clone)]
struct ManagedEntry {
    api_version: String,
    time: Option<String>,
    set: FieldSet,
}

type Managers = BTreeMap<ManagerKey, ManagedEntry>;

fn manager_key(manager: &str, operation: &str, api_version: &str, sub: &str) -> ManagerKey {
    ManagerKey {
        manager: manager.to_string(),
        operation: operation.to_string(),
        version_key: if operation == OP_APPLY {
            String::new()
        } else {
            api_version.to_string()
        },
        subresource: sub.to_string(),
    }
}

/// Reads `metadata.managedFields`; entries that cannot be read are dropped (the API server
/// resets undecodable managedFields rather than failing the write).
fn decode_managed(obj: Option<&Value>) -> Managers {
    let mut out = Managers::new();
    let Some(entries) = obj
        .and_then(|o| o.pointer("/metadata/managedFields"))
        .and_then(Value::as_array)
    else {
        return out;
    };
    for e in entries {
        let s = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let Some(fields) = e.get("fieldsV1") else {
            continue;
        };
        let Ok(set) = FieldSet::from_fields_v1(fields) else {
            continue;
        };
        let api_version = s("apiVersion");
        let key = manager_key(
            &s("manager"),
            &s("operation"),
            &api_version,
            &s("subresource"),
        );
        let time = e.get("time").and_then(Value::as_str).map(str::to_string);
        out.insert(
            key,
            ManagedEntry {
                api_version,
                time,
                set,
            },
        );
    }
    out
}

fn time_seconds(t: Option<&str>) -> i64 {
    t.and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|d| d.timestamp())
        .unwrap_or(0)
}

/// Writes managedFields sorted as the API server does: operation, time, manager, apiVersion,
/// subresource.
fn encode_managed(managers: &Managers) -> Value {
    let mut entries: Vec<(&ManagerKey, &ManagedEntry)> =
        managers.iter().filter(|(_, e)| !e.set.is_empty()).collect();
    entries.sort_by(|(ka, a), (kb, b)| {
        ka.operation
            .cmp(&kb.operation)
            .then(time_seconds(a.time.as_deref()).cmp(&time_seconds(b.time.as_deref())))
            .then(ka.manager.cmp(&kb.manager))
            .then(a.api_version.cmp(&b.api_version))
            .then(ka.subresource.cmp(&kb.subresource))
    });
    let list = entries
        .into_iter()
        .map(|(k, e)| {
            let mut m = Map::new();
            m.insert("manager".into(), Value::String(k.manager.clone()));
            m.insert("operation".into(), Value::String(k.operation.clone()));
            m.insert("apiVersion".into(), Value::String(e.api_version.clone()));
            if let Some(t) = &e.time {
                m.insert("time".into(), Value::String(t.clone()));
            }
            m.insert("fieldsType".into(), Value::String("FieldsV1".into()));
            m.insert("fieldsV1".into(), e.set.to_fields_v1());
            if !k.subresource.is_empty() {
                m.insert("subresource".into(), Value::String(k.subresource.clone()));
            }
            Value::Object(m)
        })
        .collect();
    Value::Array(list)
}

fn set_managed_fields(obj: &mut Value, managers: &Managers) {
    let encoded = encode_managed(managers);
    let Some(root) = obj.as_object_mut() else {
        return;
    };
    let meta = root
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Some(meta) = meta.as_object_mut() {
        meta.remove("managedFields");
        if encoded.as_array().is_some_and(|a| !a.is_empty()) {
            meta.insert("managedFields".into(), encoded);
        }
    }
}

/// Metadata the API server owns; never part of anyone's field set.
const SERVER_METADATA: &[&str] = &[
    "managedFields",
    "resourceVersion",
    "uid",
    "creationTimestamp",
    "generation",
    "selfLink",
];

fn without_server_metadata(v: &Value) -> Value {
    let mut out = v.clone();
    if let Some(meta) = out.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in SERVER_METADATA {
            meta.remove(*k);
        }
    }
    out
}

/// Paths the API server strips from the writing manager's set (`stripMetaManager`).
fn strip_meta(set: &FieldSet) -> FieldSet {
    let mut strip = FieldSet::new();
    let f = |s: &str| PathElement::Field(s.to_string());
    strip.insert(&[f("apiVersion")]);
    strip.insert(&[f("kind")]);
    strip.insert(&[f("metadata")]);
    for k in [
        "name",
        "namespace",
        "creationTimestamp",
        "selfLink",
        "uid",
        "clusterName",
        "generation",
        "managedFields",
        "resourceVersion",
    ] {
        strip.insert(&[f("metadata"), f(k)]);
    }
    set.difference(&strip)
}

/// Fields a write through this endpoint cannot own (the strategies' reset fields): the main
/// resource does not own `status` when status is a subresource; the status subresource does
/// not own `spec`.
fn reset_fields(set: &mut FieldSet, ctx: &FieldManagerContext<'_>) {
    match ctx.subresource {
        None if ctx.schema.status_subresource() => {
            set.remove_subtree(&[PathElement::Field("status".into())])
        }
        Some("status") => set.remove_subtree(&[PathElement::Field("spec".into())]),
        _ => {}
    }
}

/// Restores what the endpoint may not change, as the strategies' PrepareForUpdate do.
fn reset_values(merged: &mut Value, live: Option<&Value>, ctx: &FieldManagerContext<'_>) {
    let field = match ctx.subresource {
        None if ctx.schema.status_subresource() => "status",
        Some("status") => "spec",
        _ => return,
    };
    let Some(m) = merged.as_object_mut() else {
        return;
    };
    match live.and_then(|l| l.get(field)) {
        Some(v) => {
            m.insert(field.to_string(), v.clone());
        }
        None => {
            m.remove(field);
        }
    }
}

/// Adds/modifies/removes between two objects (structured-merge-diff `Comparison`).
#[derive(Debug, Default)]
struct Comparison {
    added: FieldSet,
    modified: FieldSet,
    removed: FieldSet,
}

impl Comparison {
    fn filtered(mut self, ctx: &FieldManagerContext<'_>) -> Comparison {
        reset_fields(&mut self.added, ctx);
        reset_fields(&mut self.modified, ctx);
        reset_fields(&mut self.removed, ctx);
        self
    }
}

/// Whether a value is absent, null or an empty map/list (SMD promotes such pairs to leaves).
fn is_emptyish(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::Object(m)) => m.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        Some(_) => false,
    }
}

fn compare(old: &Value, new: &Value, schema: &TypeSchema) -> Comparison {
    let mut c = Comparison::default();
    compare_walk(
        Some(old),
        Some(new),
        schema,
        &mut Vec::new(),
        &mut Vec::new(),
        &mut c,
    );
    c
}

fn compare_leaf(lhs: Option<&Value>, rhs: Option<&Value>, path: &FieldPath, c: &mut Comparison) {
    match (lhs, rhs) {
        (None, Some(_)) => c.added.insert(path),
        (Some(_), None) => c.removed.insert(path),
        (Some(l), Some(r)) if l != r => c.modified.insert(path),
        _ => {}
    }
}

fn compare_walk<'a>(
    lhs: Option<&'a Value>,
    rhs: Option<&'a Value>,
    schema: &TypeSchema,
    names: &mut Vec<&'a str>,
    path: &mut FieldPath,
    c: &mut Comparison,
) {
    let is_obj = |v: Option<&Value>| matches!(v, Some(Value::Object(_)));
    let is_arr = |v: Option<&Value>| matches!(v, Some(Value::Array(_)));
    let null_or_absent = |v: Option<&Value>| matches!(v, None | Some(Value::Null));
    let both_maps = (is_obj(lhs) || null_or_absent(lhs)) && (is_obj(rhs) || null_or_absent(rhs));
    let both_lists = (is_arr(lhs) || null_or_absent(lhs)) && (is_arr(rhs) || null_or_absent(rhs));
    let structured =
        (is_obj(lhs) || is_obj(rhs)) && both_maps || (is_arr(lhs) || is_arr(rhs)) && both_lists;
    if !structured || (is_emptyish(lhs) && is_emptyish(rhs)) {
        compare_leaf(lhs, rhs, path, c);
        return;
    }
    if is_obj(lhs) || is_obj(rhs) {
        if !path.is_empty() && schema.map_kind(names) == MapKind::Atomic {
            compare_leaf(lhs, rhs, path, c);
            return;
        }
        let lm = lhs.and_then(Value::as_object);
        let rm = rhs.and_then(Value::as_object);
        let get = |m: Option<&'a Map<String, Value>>, k: &str| m.and_then(|m| m.get(k));
        let mut keys: Vec<&'a String> = lm.into_iter().flat_map(|m| m.keys()).collect();
        keys.extend(
            rm.into_iter()
                .flat_map(|m| m.keys())
                .filter(|k| get(lm, k).is_none()),
        );
        for k in keys {
            names.push(k);
            path.push(PathElement::Field(k.clone()));
            compare_walk(get(lm, k), get(rm, k), schema, names, path, c);
            path.pop();
            names.pop();
        }
    } else {
        let lt = schema.list_type(names);
        if lt == ListType::Atomic {
            compare_leaf(lhs, rhs, path, c);
            return;
        }
        let index = |v: Option<&'a Value>| -> BTreeMap<PathElement, &'a Value> {
            let mut m = BTreeMap::new();
            for (i, item) in v
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                // items that have no valid key cannot be tracked; validation reports them
                if let Ok(pe) = list_item_element(schema, names, &lt, i, item) {
                    m.entry(pe).or_insert(item);
                }
            }
            m
        };
        let li = index(lhs);
        let ri = index(rhs);
        let mut pes: Vec<&PathElement> = li.keys().collect();
        pes.extend(ri.keys().filter(|k| !li.contains_key(*k)));
        for pe in pes {
            path.push(pe.clone());
            compare_walk(
                li.get(pe).copied(),
                ri.get(pe).copied(),
                schema,
                names,
                path,
                c,
            );
            path.pop();
        }
    }
    // the post-item hook: a whole map or list node that appeared or went away
    match (lhs, rhs) {
        (None, Some(_)) => c.added.insert(path),
        (Some(_), None) => c.removed.insert(path),
        _ => {}
    }
}

/// Merges `rhs` (the applied config) into `lhs` (live): maps recursively, lists by type.
fn merge(
    lhs: &Value,
    rhs: &Value,
    schema: &TypeSchema,
    names: &mut Vec<String>,
    path: &mut FieldPath,
) -> Result<Value, String> {
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    match (lhs, rhs) {
        (Value::Object(lm), Value::Object(rm))
            if path.is_empty() || schema.map_kind(&refs) != MapKind::Atomic =>
        {
            let mut out = lm.clone();
            for (k, rv) in rm {
                let merged = match lm.get(k) {
                    Some(lv) => {
                        names.push(k.clone());
                        path.push(PathElement::Field(k.clone()));
                        let m = merge(lv, rv, schema, names, path);
                        path.pop();
                        names.pop();
                        m?
                    }
                    None => rv.clone(),
                };
                out.insert(k.clone(), merged);
            }
            Ok(Value::Object(out))
        }
        (Value::Array(la), Value::Array(ra)) => {
            let lt = schema.list_type(&refs);
            if lt == ListType::Atomic {
                return Ok(rhs.clone());
            }
            merge_list(la, ra, &lt, schema, names, path)
        }
        _ => Ok(rhs.clone()),
    }
}

/// structured-merge-diff's list merge: items matched by key, live-only items kept in place,
/// shared items in the applied order.
fn merge_list(
    la: &[Value],
    ra: &[Value],
    lt: &ListType,
    schema: &TypeSchema,
    names: &mut Vec<String>,
    path: &mut FieldPath,
) -> Result<Value, String> {
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let element = |i: usize, item: &Value| {
        list_item_element(schema, &refs, lt, i, item)
            .map_err(|e| format!("{}: element {i}: {e}", path_string(path)))
    };
    let mut lhs_pes = Vec::with_capacity(la.len());
    let mut lhs_obs: BTreeMap<PathElement, usize> = BTreeMap::new();
    for (i, item) in la.iter().enumerate() {
        let pe = element(i, item)?;
        lhs_obs.entry(pe.clone()).or_insert(i);
        lhs_pes.push(pe);
    }
    let mut rhs_pes = Vec::with_capacity(ra.len());
    let mut rhs_obs: BTreeMap<PathElement, usize> = BTreeMap::new();
    for (i, item) in ra.iter().enumerate() {
        let pe = element(i, item)?;
        if rhs_obs.insert(pe.clone(), i).is_some() {
            return Err(format!(
                "{}: duplicate entries for key {pe}",
                path_string(path)
            ));
        }
        rhs_pes.push(pe);
    }
    drop(refs);
    let shared: Vec<&PathElement> = rhs_pes
        .iter()
        .filter(|pe| lhs_obs.contains_key(*pe))
        .collect();
    let mut shared_iter = shared.into_iter();
    let mut next_shared = shared_iter.next();
    let mut merged_rhs: BTreeSet<PathElement> = BTreeSet::new();
    let mut out = Vec::with_capacity(la.len().max(ra.len()));
    let merge_item = |pe: &PathElement,
                      l: Option<&Value>,
                      r: &Value,
                      names: &mut Vec<String>,
                      path: &mut FieldPath|
     -> Result<Value, String> {
        match l {
            Some(l) => {
                path.push(pe.clone());
                let m = merge(l, r, schema, names, path);
                path.pop();
                m
            }
            None => Ok(r.clone()),
        }
    };
    let (mut li, mut ri) = (0, 0);
    while li < lhs_pes.len() || ri < rhs_pes.len() {
        if li < lhs_pes.len() && ri < rhs_pes.len() {
            let pe = &lhs_pes[li];
            if *pe == rhs_pes[ri] {
                merged_rhs.insert(pe.clone());
                let l = lhs_obs.get(pe).map(|&i| &la[i]);
                out.push(merge_item(pe, l, &ra[rhs_obs[pe]], names, path)?);
                li += 1;
                ri += 1;
                next_shared = shared_iter.next();
                continue;
            }
            if rhs_obs.contains_key(pe) && next_shared.is_some_and(|n| n != pe) {
                li += 1;
                continue;
            }
        }
        if li < lhs_pes.len() {
            let pe = &lhs_pes[li];
            if !rhs_obs.contains_key(pe) {
                out.push(la[li].clone());
                li += 1;
                continue;
            } else if merged_rhs.contains(pe) {
                li += 1;
                continue;
            }
        }
        if ri < rhs_pes.len() {
            let pe = &rhs_pes[ri];
            merged_rhs.insert(pe.clone());
            let l = lhs_obs.get(pe).map(|&i| &la[i]);
            out.push(merge_item(pe, l, &ra[ri], names, path)?);
            ri += 1;
            if next_shared.is_some_and(|n| n == pe) {
                next_shared = shared_iter.next();
            }
        }
    }
    Ok(Value::Array(out))
}

/// Removes every path of `set` (with its subtree) from `v`.
fn remove_items(
    v: &mut Value,
    set: &FieldSet,
    schema: &TypeSchema,
    names: &mut Vec<String>,
    path: &mut FieldPath,
) {
    match v {
        Value::Object(m) => {
            let keys: Vec<String> = m.keys().cloned().collect();
            for k in keys {
                path.push(PathElement::Field(k.clone()));
                if set.has(path) {
                    m.remove(&k);
                } else if set.has_descendant(path)
                    && let Some(child) = m.get_mut(&k)
                {
                    names.push(k.clone());
                    remove_items(child, set, schema, names, path);
                    names.pop();
                }
                path.pop();
            }
        }
        Value::Array(items) => {
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            let lt = schema.list_type(&refs);
            let pes: Vec<Option<PathElement>> = items
                .iter()
                .enumerate()
                .map(|(i, item)| list_item_element(schema, &refs, &lt, i, item).ok())
                .collect();
            drop(refs);
            let mut kept = Vec::with_capacity(items.len());
            for (item, pe) in items.drain(..).zip(pes) {
                let Some(pe) = pe else {
                    kept.push(item);
                    continue;
                };
                path.push(pe);
                if !set.has(path) {
                    let mut item = item;
                    if set.has_descendant(path) {
                        remove_items(&mut item, set, schema, names, path);
                    }
                    kept.push(item);
                }
                path.pop();
            }
            *items = kept;
        }
        _ => {}
    }
}

/// Adds every ancestor of a member that is a named struct field (SMD's
/// `EnsureNamedFieldsAreMembers`), so pruning can take away emptied structs.
fn with_named_parents(set: &FieldSet, schema: &TypeSchema) -> FieldSet {
    let mut out = set.clone();
    for p in set.paths() {
        let mut names: Vec<&str> = Vec::new();
        for (i, pe) in p.iter().enumerate().take(p.len().saturating_sub(1)) {
            if let PathElement::Field(name) = pe {
                if schema.is_named_field(&names, name) {
                    out.insert(&p[..=i]);
                }
                names.push(name);
            }
        }
    }
    out
}

fn union_all(managers: &Managers) -> FieldSet {
    managers
        .values()
        .fold(FieldSet::new(), |acc, e| acc.union(&e.set))
}

/// Server-side apply of `applied` over `live` (None: create). Returns the merged object with
/// updated `metadata.managedFields`, before defaulting and validation.
pub fn server_side_apply(
    live: Option<&Value>,
    applied: &Value,
    force: bool,
    ctx: &FieldManagerContext<'_>,
) -> Result<Value, ApplyError> {
    let schema = ctx.schema;
    if !applied.is_object() {
        return Err(ApplyError::Invalid(
            "the applied configuration must be a JSON object".into(),
        ));
    }
    if applied
        .pointer("/metadata/managedFields")
        .is_some_and(|m| !m.is_null())
    {
        return Err(ApplyError::Invalid(
            "metadata.managedFields must be nil".into(),
        ));
    }
    let mut managers = decode_managed(live);
    let live_obj = live
        .map(without_server_metadata)
        .unwrap_or_else(|| Value::Object(Map::new()));
    let config = without_server_metadata(applied);
    let mut config_set =
        FieldSet::from_object(&config, schema).map_err(|e| ApplyError::Invalid(e.0))?;
    reset_fields(&mut config_set, ctx);

    let mut merged = merge(&live_obj, &config, schema, &mut Vec::new(), &mut Vec::new())
        .map_err(ApplyError::Invalid)?;

    let me = manager_key(
        ctx.manager,
        OP_APPLY,
        ctx.api_version,
        ctx.subresource.unwrap_or(""),
    );
    let last = managers.get(&me).cloned();
    managers.insert(
        me.clone(),
        ManagedEntry {
            api_version: ctx.api_version.to_string(),
            time: last.as_ref().and_then(|l| l.time.clone()),
            set: config_set,
        },
    );

    // prune what this applier owned last time, no longer applies, and nobody else claims
    if let Some(last) = &last {
        let owned = with_named_parents(&union_all(&managers), schema);
        let gone = with_named_parents(&last.set, schema).difference(&owned);
        if !gone.is_empty() {
            remove_items(&mut merged, &gone, schema, &mut Vec::new(), &mut Vec::new());
        }
    }
    reset_values(&mut merged, live, ctx);

    let compared = compare(&live_obj, &merged, schema).filtered(ctx);
    let changed = compared.modified.union(&compared.added);
    let mut conflicts = Vec::new();
    for (key, entry) in managers.iter_mut() {
        if *key == me {
            continue;
        }
        let clash = entry.set.intersection(&changed);
        if !clash.is_empty() {
            conflicts.extend(clash.paths().into_iter().map(|p| Conflict {
                manager: key.manager.clone(),
                field: path_string(&p),
            }));
            entry.set = entry.set.difference(&clash);
        }
        entry.set = entry.set.difference(&compared.removed);
    }
    if !force && !conflicts.is_empty() {
        return Err(ApplyError::Conflicts(conflicts));
    }
    let unchanged = merged == live_obj;
    if let Some(entry) = managers.get_mut(&me) {
        entry.set = strip_meta(&entry.set);
        // upstream bumps the applier's time only when the object changed
        if !unchanged || entry.time.is_none() {
            entry.time = Some(ctx.now.to_string());
        }
    }
    managers.retain(|_, e| !e.set.is_empty());

    // keep the server-owned metadata of live (uid, resourceVersion...) in the result
    let mut result = merged;
    if let (Some(live), Some(meta)) = (
        live.and_then(|l| l.get("metadata"))
            .and_then(Value::as_object),
        result.get_mut("metadata").and_then(Value::as_object_mut),
    ) {
        for k in SERVER_METADATA {
            if let Some(v) = live.get(*k) {
                meta.insert((*k).to_string(), v.clone());
            }
        }
    }
    set_managed_fields(&mut result, &managers);
    Ok(result)
}

/// `obj` with the maps of `skeleton` it lacks added (recursively).
fn with_skeleton(obj: &Value, skeleton: &Value) -> Value {
    match (obj, skeleton) {
        (Value::Object(o), Value::Object(sk)) => {
            let mut out = o.clone();
            for (k, sv) in sk {
                match o.get(k) {
                    Some(ov) => {
                        out.insert(k.clone(), with_skeleton(ov, sv));
                    }
                    None => {
                        out.insert(k.clone(), sv.clone());
                    }
                }
            }
            Value::Object(out)
        }
        _ => obj.clone(),
    }
}

/// Whether a request's managedFields is the reset form `[{}]`.
fn is_reset_managed_fields(obj: &Value) -> bool {
    obj.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .is_some_and(|a| a.len() == 1 && a[0].as_object().is_some_and(Map::is_empty))
}

/// managedFields for an Update operation (POST, PUT, non-apply PATCH): the fields that changed
/// between `old` (None on create) and `new` become `ctx.manager`'s and leave other managers.
pub fn record_update(old: Option<&Value>, new: &mut Value, ctx: &FieldManagerContext<'_>) {
    let schema = ctx.schema;
    // which managedFields to start from, as upstream's decodeLiveOrNew
    let mut managers = if ctx.subresource.is_some() {
        decode_managed(old)
    } else if is_reset_managed_fields(new) {
        Managers::new()
    } else {
        let sent = decode_managed(Some(new));
        if sent.is_empty() {
            decode_managed(old)
        } else {
            sent
        }
    };
    // typed objects always carry their non-pointer structs (`status: {}`), so compare with
    // those filled in, as the API server's typed comparison does
    let skeleton = schema.empty_object();
    let old_obj = with_skeleton(
        &old.map(without_server_metadata)
            .unwrap_or_else(|| Value::Object(Map::new())),
        &skeleton,
    );
    let new_obj = with_skeleton(&without_server_metadata(new), &skeleton);
    let compared = compare(&old_obj, &new_obj, schema).filtered(ctx);
    let changed = compared.modified.union(&compared.added);
    for entry in managers.values_mut() {
        entry.set = entry.set.difference(&changed).difference(&compared.removed);
    }
    let mine = strip_meta(&changed.difference(&compared.removed));
    let me = manager_key(
        ctx.manager,
        OP_UPDATE,
        ctx.api_version,
        ctx.subresource.unwrap_or(""),
    );
    if !mine.is_empty() {
        let previous = managers.get(&me).map(|e| e.set.clone()).unwrap_or_default();
        managers.insert(
            me,
            ManagedEntry {
                api_version: ctx.api_version.to_string(),
                time: Some(ctx.now.to_string()),
                set: mine.union(&previous),
            },
        );
    }
    managers.retain(|_, e| !e.set.is_empty());
    set_managed_fields(new, &managers);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const T1: &str = "2026-01-01T00:00:00Z";
    const T2: &str = "2026-01-01T00:05:00Z";

    fn ctx<'a>(
        schema: &'a TypeSchema,
        manager: &'a str,
        now: &'a str,
        sub: Option<&'a str>,
    ) -> FieldManagerContext<'a> {
        FieldManagerContext {
            manager,
            api_version: "apps/v1",
            now,
            subresource: sub,
            schema,
        }
    }

    fn deployment(replicas: i64, image: &str) -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": image,
                                             "ports": [{"containerPort": 80}]}]}
                }
            }
        })
    }

    fn entries(obj: &Value) -> Vec<Value> {
        obj.pointer("/metadata/managedFields")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    }

    fn entry<'v>(obj: &'v Value, manager: &str, op: &str) -> Option<&'v Value> {
        obj.pointer("/metadata/managedFields")?
            .as_array()?
            .iter()
            .find(|e| e["manager"] == manager && e["operation"] == op)
    }

    #[test]
    fn apply_create_records_fields_v1_like_the_api_server() {
        let s = TypeSchema::for_kind("apps", "Deployment", None);
        let out = server_side_apply(
            None,
            &deployment(2, "nginx"),
            false,
            &ctx(&s, "kubectl", T1, None),
        )
        .unwrap();
        let mf = entries(&out);
        assert_eq!(mf.len(), 1);
        // the entry as `kubectl apply --server-side` shows it on a real cluster
        assert_eq!(
            mf[0].to_string(),
            concat!(
                r#"{"manager":"kubectl","operation":"Apply","apiVersion":"apps/v1","#,
                r#""time":"2026-01-01T00:00:00Z","fieldsType":"FieldsV1","fieldsV1":"#,
                r#"{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:replicas":{},"#,
                r#""f:selector":{},"f:template":{"f:metadata":{"f:labels":{"f:app":{}}},"#,
                r#""f:spec":{"f:containers":{"k:{\"name\":\"web\"}":{".":{},"f:image":{},"#,
                r#""f:name":{},"f:ports":{"k:{\"containerPort\":80,\"protocol\":\"TCP\"}":"#,
                r#"{".":{},"f:containerPort":{}}}}}}}}}}"#
            )
        );
        assert_eq!(out["spec"]["replicas"], 2);
        assert_eq!(out["metadata"]["name"], "web");
    }

    #[test]
    fn apply_after_scale_conflicts_on_replicas_then_force_takes_over() {
        let s = TypeSchema::for_kind("apps", "Deployment", None);
        let live = server_side_apply(
            None,
            &deployment(2, "nginx"),
            false,
            &ctx(&s, "kubectl", T1, None),
        )
        .unwrap();
        // `kubectl scale --replicas=5`: an Update through the scale subresource
        let mut scaled = live.clone();
        scaled["spec"]["replicas"] = json!(5);
        record_update(
            Some(&live),
            &mut scaled,
            &ctx(&s, "kubectl", T2, Some("scale")),
        );
        let scale_entry = entry(&scaled, "kubectl", "Update").unwrap();
        assert_eq!(scale_entry["subresource"], "scale");
        assert_eq!(
            scale_entry["fieldsV1"],
            json!({"f:spec": {"f:replicas": {}}})
        );
        let apply_entry = entry(&scaled, "kubectl", "Apply").unwrap();
        assert!(apply_entry.pointer("/fieldsV1/f:spec/f:replicas").is_none());

        let err = server_side_apply(
            Some(&scaled),
            &deployment(2, "nginx"),
            false,
            &ctx(&s, "kubectl", T2, None),
        )
        .unwrap_err();
        assert_eq!(
            err,
            ApplyError::Conflicts(vec![Conflict {
                manager: "kubectl".into(),
                field: ".spec.replicas".into()
            }])
        );
        assert_eq!(
            err.to_string(),
            r#"Apply failed with 1 conflict: conflict with "kubectl": .spec.replicas"#
        );

        // the same value as live is no conflict
        assert!(
            server_side_apply(
                Some(&scaled),
                &deployment(5, "nginx"),
                false,
                &ctx(&s, "kubectl", T2, None)
            )
            .is_ok()
        );

        let forced = server_side_apply(
            Some(&scaled),
            &deployment(2, "nginx"),
            true,
            &ctx(&s, "kubectl", T2, None),
        )
        .unwrap();
        assert_eq!(forced["spec"]["replicas"], 2);
        assert!(
            entry(&forced, "kubectl", "Update").is_none(),
            "scale entry emptied"
        );
        assert!(
            entry(&forced, "kubectl", "Apply")
                .unwrap()
                .pointer("/fieldsV1/f:spec/f:replicas")
                .is_some()
        );
    }

    #[test]
    fn conflicts_name_the_container_path() {
        let s = TypeSchema::for_kind("apps", "Deployment", None);
        let live = server_side_apply(
            None,
            &deployment(2, "nginx:1"),
            false,
            &ctx(&s, "ci", T1, None),
        )
        .unwrap();
        let err = server_side_apply(
            Some(&live),
            &deployment(2, "nginx:2"),
            false,
            &ctx(&s, "dev", T2, None),
        )
        .unwrap_err();
        assert_eq!(
            err,
            ApplyError::Conflicts(vec![Conflict {
                manager: "ci".into(),
                field: r#".spec.template.spec.containers[name="web"].image"#.into()
            }])
        );
        // forcing shares nothing: the field moves to dev, ci keeps the rest
        let out = server_side_apply(
            Some(&live),
            &deployment(2, "nginx:2"),
            true,
            &ctx(&s, "dev", T2, None),
        )
        .unwrap();
        let ci = entry(&out, "ci", "Apply").unwrap();
        assert!(
            ci.pointer(
                "/fieldsV1/f:spec/f:template/f:spec/f:containers/k:{\"name\":\"web\"}/f:image"
            )
            .is_none()
        );
        assert!(ci.pointer("/fieldsV1/f:spec/f:replicas").is_some());
    }

    #[test]
    fn apply_removes_what_the_applier_stopped_sending() {
        let s = TypeSchema::for_kind("apps", "Deployment", None);
        let mut first = deployment(2, "nginx");
        first["metadata"]["labels"]["tier"] = json!("front");
        first["spec"]["template"]["spec"]["containers"][0]["env"] =
            json!([{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]);
        first["spec"]["template"]["spec"]["containers"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "sidecar", "image": "busybox"}));
        let live = server_side_apply(None, &first, false, &ctx(&s, "kubectl", T1, None)).unwrap();
        let mut second = deployment(2, "nginx");
        second["spec"]["template"]["spec"]["containers"][0]["env"] =
            json!([{"name": "A", "value": "1"}]);
        let out =
            server_side_apply(Some(&live), &second, false, &ctx(&s, "kubectl", T2, None)).unwrap();
        assert_eq!(out["metadata"]["labels"], json!({"app": "web"}));
        let containers = out["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap();
        assert_eq!(containers.len(), 1);
        assert_eq!(containers[0]["env"], json!([{"name": "A", "value": "1"}]));
        let set = &entry(&out, "kubectl", "Apply").unwrap()["fieldsV1"];
        assert!(set.to_string().contains(r#"k:{\"name\":\"A\"}"#));
        assert!(!set.to_string().contains("sidecar"));
        assert_eq!(entry(&out, "kubectl", "Apply").unwrap()["time"], T2);
    }

    #[test]
    fn apply_keeps_fields_another_manager_owns() {
        let s = TypeSchema::for_kind("apps", "Deployment", None);
        let mut first = deployment(2, "nginx");
        first["metadata"]["labels"]["tier"] = json!("front");
        let live = server_side_apply(None, &first, false, &ctx(&s, "kubectl", T1, None)).unwrap();
        // another applier shares the label (same value: no conflict)
        let other = json!({"apiVersion": "apps/v1", "kind": "Deployment",
                           "metadata": {"name": "web", "labels": {"tier": "front"}}});
        let live =
            server_side_apply(Some(&live), &other, false, &ctx(&s, "team", T1, None)).unwrap();
        // an updater adds an annotation
        let mut annotated = live.clone();
        annotated["metadata"]["annotations"] = json!({"note": "x"});
        record_update(
            Some(&live),
            &mut annotated,
            &ctx(&s, "kubectl-annotate", T2, None),
        );
        let out = server_side_apply(
            Some(&annotated),
            &deployment(2, "nginx"),
            false,
            &ctx(&s, "kubectl", T2, None),
        )
        .unwrap();
        assert_eq!(out["metadata"]["labels"]["tier"], "front");
        assert_eq!(out["metadata"]["annotations"]["note"], "x");
        assert_eq!(
            entry(&out, "team", "Apply").unwrap()["fieldsV1"],
            json!({"f:metadata": {"f:labels": {"f:tier": {}}}})
        );
    }

    #[test]
    fn apply_merges_containers_by_name() {
        let s = TypeSchema::for_kind("apps", "Deployment", None);
        let mut live = deployment(2, "nginx");
        live["spec"]["template"]["spec"]["containers"] = json!([
            {"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1", "tty": true}]);
        let mut cfg = deployment(2, "nginx");
        cfg["spec"]["template"]["spec"]["containers"] = json!([
            {"name": "b", "image": "b:2"}, {"name": "c", "image": "c:1"}]);
        let out =
            server_side_apply(Some(&live), &cfg, false, &ctx(&s, "kubectl", T1, None)).unwrap();
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"],
            json!([{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:2", "tty": true},
                   {"name": "c", "image": "c:1"}])
        );
    }

    #[test]
    fn reapplying_the_same_config_changes_nothing() {
        let s = TypeSchema::for_kind("apps", "Deployment", None);
        let live = server_side_apply(
            None,
            &deployment(2, "nginx"),
            false,
            &ctx(&s, "kubectl", T1, None),
        )
        .unwrap();
        let again = server_side_apply(
            Some(&live),
            &deployment(2, "nginx"),
            false,
            &ctx(&s, "kubectl", T2, None),
        )
        .unwrap();
        assert_eq!(again, live);
        assert_eq!(again.to_string(), live.to_string());
    }

    #[test]
    fn apply_refuses_bad_configs() {
        let s = TypeSchema::for_kind("apps", "Deployment", None);
        let mut with_mf = deployment(1, "x");
        with_mf["metadata"]["managedFields"] = json!([]);
        let cases = [
            (with_mf, "metadata.managedFields must be nil".to_string()),
            (
                {
                    let mut d = deployment(1, "x");
                    d["spec"]["template"]["spec"]["containers"] =
                        json!([{"name": "a"}, {"name": "a"}]);
                    d
                },
                r#".spec.template.spec.containers: duplicate entries for key [name="a"]"#
                    .to_string(),
            ),
        ];
        for (cfg, want) in cases {
            let err = server_side_apply(None, &cfg, false, &ctx(&s, "k", T1, None)).unwrap_err();
            assert_eq!(err, ApplyError::Invalid(want));
        }
    }

    #[test]
    fn update_on_create_records_what_kubectl_create_gets() {
        let s = TypeSchema::for_kind("", "Pod", None);
        // a Pod as kubectl create sends it, after defaulting
        let mut pod = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": "default"},
            "spec": {
                "containers": [{"name": "c", "image": "nginx", "imagePullPolicy": "Always",
                                "ports": [{"containerPort": 80, "protocol": "TCP"}],
                                "resources": {}, "terminationMessagePath": "/dev/termination-log",
                                "terminationMessagePolicy": "File"}],
                "dnsPolicy": "ClusterFirst", "enableServiceLinks": true,
                "restartPolicy": "Always", "schedulerName": "default-scheduler",
                "securityContext": {}, "terminationGracePeriodSeconds": 30
            }
        });
        let mut c = ctx(&s, "kubectl", T1, None);
        c.api_version = "v1";
        record_update(None, &mut pod, &c);
        let e = entry(&pod, "kubectl", "Update").unwrap();
        // as a real API server records it (kubectl create of a Pod)
        let want = json!({"f:spec": {
            "f:containers": {"k:{\"name\":\"c\"}": {
                ".": {}, "f:image": {}, "f:imagePullPolicy": {}, "f:name": {},
                "f:ports": {".": {}, "k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {
                    ".": {}, "f:containerPort": {}, "f:protocol": {}}},
                "f:resources": {}, "f:terminationMessagePath": {},
                "f:terminationMessagePolicy": {}}},
            "f:dnsPolicy": {}, "f:enableServiceLinks": {}, "f:restartPolicy": {},
            "f:schedulerName": {}, "f:securityContext": {}, "f:terminationGracePeriodSeconds": {}}});
        assert_eq!(e["fieldsV1"].to_string(), want.to_string());
        assert_eq!(e["apiVersion"], "v1");
        assert_eq!(e["time"], T1);
    }

    #[test]
    fn update_on_create_of_a_configmap_marks_new_maps() {
        let s = TypeSchema::for_kind("", "ConfigMap", None);
        let mut cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "labels": {"x": "1"}}, "data": {"a": "1"}});
        record_update(None, &mut cm, &ctx(&s, "kubectl-create", T1, None));
        assert_eq!(
            entry(&cm, "kubectl-create", "Update").unwrap()["fieldsV1"].to_string(),
            r#"{"f:data":{".":{},"f:a":{}},"f:metadata":{"f:labels":{".":{},"f:x":{}}}}"#
        );
    }

    #[test]
    fn update_takes_changed_fields_and_drops_removed_ones() {
        let s = TypeSchema::for_kind("apps", "Deployment", None);
        let mut first = deployment(2, "nginx:1");
        first["metadata"]["labels"]["tier"] = json!("front");
        let live = server_side_apply(None, &first, false, &ctx(&s, "kubectl", T1, None)).unwrap();
        let mut edited = live.clone();
        edited["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:2");
        edited["metadata"]["labels"]
            .as_object_mut()
            .unwrap()
            .remove("tier");
        record_update(Some(&live), &mut edited, &ctx(&s, "kubectl-edit", T2, None));
        let edit = entry(&edited, "kubectl-edit", "Update").unwrap();
        assert_eq!(
            edit["fieldsV1"],
            json!({"f:spec": {"f:template": {"f:spec": {"f:containers": {
                "k:{\"name\":\"web\"}": {"f:image": {}}}}}}})
        );
        let apply = entry(&edited, "kubectl", "Apply").unwrap().to_string();
        assert!(!apply.contains("f:tier"));
        assert!(!apply.contains("f:image"));
        assert!(apply.contains("f:replicas"));
        // entries sort Apply before Update
        assert_eq!(entries(&edited)[0]["operation"], "Apply");
        // an update that changes nothing keeps the entries and their times
        let mut same = edited.clone();
        record_update(
            Some(&edited),
            &mut same,
            &ctx(&s, "other", "2026-02-02T00:00:00Z", None),
        );
        assert_eq!(same, edited);
    }

    #[test]
    fn status_writes_do_not_own_spec_and_main_writes_do_not_own_status() {
        let s = TypeSchema::for_kind("apps", "Deployment", None);
        let live = server_side_apply(
            None,
            &deployment(2, "nginx"),
            false,
            &ctx(&s, "kubectl", T1, None),
        )
        .unwrap();
        let mut with_status = live.clone();
        with_status["status"] = json!({"replicas": 2});
        record_update(
            Some(&live),
            &mut with_status,
            &ctx(&s, "kube-controller-manager", T2, Some("status")),
        );
        let e = entry(&with_status, "kube-controller-manager", "Update").unwrap();
        assert_eq!(e["fieldsV1"], json!({"f:status": {"f:replicas": {}}}));
        assert_eq!(e["subresource"], "status");
        let mut cfg = deployment(2, "nginx");
        cfg["status"] = json!({"replicas": 9});
        let out = server_side_apply(
            Some(&with_status),
            &cfg,
            false,
            &ctx(&s, "kubectl", T2, None),
        )
        .unwrap();
        assert_eq!(out["status"]["replicas"], 2, "status kept from live");
        assert!(
            !entry(&out, "kubectl", "Apply")
                .unwrap()
                .to_string()
                .contains("f:status")
        );
    }
}
