//! Server-side apply and managedFields bookkeeping, as structured-merge-diff does it.
//!
//! The model follows structured-merge-diff v4 (`merge.Updater`) and the API server's field
//! manager chain (`stripMetaManager`, `managedFieldsUpdater`): the applier's set is the fields
//! of its config; the config is merged into the live object; fields the applier dropped and
//! nobody else owns are pruned; fields that change value and belong to someone else conflict.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::fieldset::{
    FieldPath, FieldSet, ObjectFields, PathElement, go_escape_html, list_item_element, path_string,
};
use super::patch::without_nulls;
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

/// A conflicting manager as the API server names it (`printManager`): appliers by name,
/// updaters quoted with subresource and apiVersion (`"kubectl" with subresource "scale" using
/// apps/v1`). A name that needs more than itself is returned already quoted.
fn describe_manager(key: &ManagerKey, entry: &ManagedEntry) -> String {
    if key.operation == OP_APPLY && key.subresource.is_empty() {
        return key.manager.clone();
    }
    let mut out = format!("{:?}", key.manager);
    if !key.subresource.is_empty() {
        out.push_str(&format!(" with subresource {:?}", key.subresource));
    }
    if key.operation == OP_UPDATE {
        out.push_str(&format!(" using {}", entry.api_version));
    }
    out
}

/// How a `Conflict::manager` prints: plain names quoted, described managers as they are.
fn printed_manager(m: &str) -> String {
    if m.starts_with('"') {
        m.to_string()
    } else {
        format!("{m:?}")
    }
}

/// The API server's message for apply conflicts (`Apply failed with 1 conflict: conflict with
/// "kubectl": .spec.replicas`; several conflicts are grouped by manager).
pub fn conflict_message(conflicts: &[Conflict]) -> String {
    if let [only] = conflicts {
        return format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            printed_manager(&only.manager),
            only.field
        );
    }
    let mut by_manager: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for c in conflicts {
        by_manager
            .entry(printed_manager(&c.manager))
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
        if encoded.as_array().is_some_and(|a| !a.is_empty()) {
            // insert keeps an existing key in its place
            meta.insert("managedFields".into(), encoded);
        } else {
            meta.shift_remove("managedFields");
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
            meta.shift_remove(*k);
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

/// Paths a write through this endpoint cannot change (the strategies' `GetResetFields`).
fn reset_paths(ctx: &FieldManagerContext<'_>) -> Vec<Vec<String>> {
    ctx.schema.reset_fields(ctx.subresource)
}

/// Removes the reset fields from a set: the endpoint does not own them.
fn reset_fields(set: &mut FieldSet, ctx: &FieldManagerContext<'_>) {
    for path in reset_paths(ctx) {
        let path: FieldPath = path.into_iter().map(PathElement::Field).collect();
        set.remove_subtree(&path);
    }
}

/// Restores what the endpoint may not change, as the strategies' PrepareForUpdate do.
fn reset_values(merged: &mut Value, live: Option<&Value>, ctx: &FieldManagerContext<'_>) {
    for path in reset_paths(ctx) {
        let Some((last, parents)) = path.split_last() else {
            continue;
        };
        let old = live.and_then(|l| parents.iter().try_fold(l, |v, k| v.get(k))?.get(last));
        let mut cur = &mut *merged;
        let mut reachable = true;
        for k in parents {
            // nothing to restore where neither side has the parent
            if old.is_none() && cur.get(k).is_none() {
                reachable = false;
                break;
            }
            let Value::Object(m) = cur else {
                reachable = false;
                break;
            };
            cur = m
                .entry(k.clone())
                .or_insert_with(|| Value::Object(Map::new()));
        }
        if !reachable {
            continue;
        }
        if let Some(m) = cur.as_object_mut() {
            match old {
                Some(v) => {
                    m.insert(last.clone(), v.clone());
                }
                None => {
                    m.shift_remove(last);
                }
            }
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
                // an applied null owns the field but leaves no value, as the typed round trip
                if rv.is_null() {
                    out.shift_remove(k);
                    continue;
                }
                let merged = match lm.get(k) {
                    Some(lv) => {
                        names.push(k.clone());
                        path.push(PathElement::Field(k.clone()));
                        let m = merge(lv, rv, schema, names, path);
                        path.pop();
                        names.pop();
                        m?
                    }
                    None => without_nulls(rv),
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
        _ => Ok(without_nulls(rhs)),
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
    // live may hold duplicate keys (written by Updates); SMD merges none of them: the applied
    // item replaces them all
    let mut lhs_obs: BTreeMap<PathElement, Option<usize>> = BTreeMap::new();
    for (i, item) in la.iter().enumerate() {
        let pe = element(i, item)?;
        lhs_obs
            .entry(pe.clone())
            .and_modify(|seen| *seen = None)
            .or_insert(Some(i));
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
            None => Ok(without_nulls(r)),
        }
    };
    let (mut li, mut ri) = (0, 0);
    while li < lhs_pes.len() || ri < rhs_pes.len() {
        if li < lhs_pes.len() && ri < rhs_pes.len() {
            let pe = &lhs_pes[li];
            if *pe == rhs_pes[ri] {
                merged_rhs.insert(pe.clone());
                let l = lhs_obs.get(pe).copied().flatten().map(|i| &la[i]);
                out.push(merge_item(pe, l, &ra[ri], names, path)?);
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
            let l = lhs_obs.get(pe).copied().flatten().map(|i| &la[i]);
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
                    m.shift_remove(&k);
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
    check_applied_configuration(applied)?;
    let mut managers = managers_of_live(live, ctx);
    let live_obj = live
        .map(without_server_metadata)
        .unwrap_or_else(|| Value::Object(Map::new()));
    let config = without_server_metadata(applied);
    let mut config_set = FieldSet::from_object(&config, schema).map_err(|e| {
        ApplyError::Invalid(format!(
            "failed to create typed patch object ({}): {}",
            object_gvknn(applied),
            e.0
        ))
    })?;
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
    let clashes = clashes_with_others(&managers, &me, &changed);
    if !force && !clashes.is_empty() {
        refuse_conflicts(&clashes, &live_obj, ctx)?;
    }
    let unchanged = merged == live_obj;
    settle_ownership(
        &mut managers,
        &me,
        &clashes,
        &compared.removed,
        unchanged,
        ctx,
    );

    let mut result = merged;
    keep_live_server_metadata(&mut result, live);
    if ctx.manager == KUBECTL {
        sync_last_applied(&mut result, applied);
    }
    set_managed_fields(&mut result, &managers);
    Ok(result)
}

/// Fields another manager owns that this apply changes: the manager, its printed name, the fields.
type Clash = (ManagerKey, String, FieldSet);

/// Refuses an applied configuration that is not an object or that carries managedFields.
fn check_applied_configuration(applied: &Value) -> Result<(), ApplyError> {
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
    Ok(())
}

/// The managers of the live object before this apply.
fn managers_of_live(live: Option<&Value>, ctx: &FieldManagerContext<'_>) -> Managers {
    let mut managers = decode_managed(live);
    if let Some(live) = live
        && managers.is_empty()
    {
        // an object nobody tracks yet: its fields first become an Update of
        // `before-first-apply`, so applying over them conflicts as upstream's
        // skipNonAppliedManager makes it
        let before = FieldManagerContext {
            manager: BEFORE_FIRST_APPLY,
            ..ctx.clone()
        };
        update_managers(&mut managers, None, live, &before);
        managers.retain(|_, e| !e.set.is_empty());
    }
    managers
}

/// The fields of `changed` that managers other than `me` own, per manager that owns any.
fn clashes_with_others(managers: &Managers, me: &ManagerKey, changed: &FieldSet) -> Vec<Clash> {
    managers
        .iter()
        .filter(|(key, _)| *key != me)
        .map(|(key, entry)| {
            let clash = entry.set.intersection(changed);
            (key.clone(), describe_manager(key, entry), clash)
        })
        .filter(|(_, _, clash)| !clash.is_empty())
        .collect()
}

/// The conflicts of an apply without force, if any are left after kubectl's takeover allowance.
fn refuse_conflicts(
    clashes: &[Clash],
    live_obj: &Value,
    ctx: &FieldManagerContext<'_>,
) -> Result<(), ApplyError> {
    // kubectl moving from client-side to server-side apply may take over what its
    // last-applied annotation says it applied, as upstream's lastAppliedManager
    let allowed = (ctx.manager == KUBECTL)
        .then(|| allowed_by_last_applied(live_obj, ctx.schema))
        .flatten()
        .unwrap_or_default();
    let conflicts: Vec<Conflict> = clashes
        .iter()
        .flat_map(|(_, manager, clash)| {
            clash
                .difference(&allowed)
                .paths()
                .into_iter()
                .map(move |p| Conflict {
                    manager: manager.clone(),
                    field: path_string(&p),
                })
        })
        .collect();
    if !conflicts.is_empty() {
        return Err(ApplyError::Conflicts(conflicts));
    }
    Ok(())
}

/// Hands the clashing and removed fields over from the other managers, and stamps `me`.
fn settle_ownership(
    managers: &mut Managers,
    me: &ManagerKey,
    clashes: &[Clash],
    removed: &FieldSet,
    unchanged: bool,
    ctx: &FieldManagerContext<'_>,
) {
    for (key, _, clash) in clashes {
        if let Some(entry) = managers.get_mut(key) {
            entry.set = entry.set.difference(clash);
        }
    }
    for (key, entry) in managers.iter_mut() {
        if key != me {
            entry.set = entry.set.difference(removed);
        }
    }
    if let Some(entry) = managers.get_mut(me) {
        entry.set = strip_meta(&entry.set);
        // upstream stamps the applier's time only when the object changed (a new applier of
        // a no-op apply gets an entry without time, as upstream)
        if !unchanged {
            entry.time = Some(ctx.now.to_string());
        }
    }
    managers.retain(|_, e| !e.set.is_empty());
}

/// Keeps live's server-owned metadata (uid, resourceVersion...) in `result`, in live's key order.
fn keep_live_server_metadata(result: &mut Value, live: Option<&Value>) {
    if let (Some(live), Some(meta)) = (
        live.and_then(|l| l.get("metadata"))
            .and_then(Value::as_object),
        result.get_mut("metadata").and_then(Value::as_object_mut),
    ) {
        let mut ordered = Map::new();
        for (k, v) in live {
            if SERVER_METADATA.contains(&k.as_str()) {
                ordered.insert(k.clone(), v.clone());
            } else if let Some(v) = meta.get(k) {
                ordered.insert(k.clone(), v.clone());
            }
        }
        for (k, v) in meta.iter() {
            if !ordered.contains_key(k) && !live.contains_key(k) {
                ordered.insert(k.clone(), v.clone());
            }
        }
        *meta = ordered;
    }
}

/// The manager that owns the fields of an untracked object at its first apply.
const BEFORE_FIRST_APPLY: &str = "before-first-apply";

/// The manager name whose applies keep client-side apply's annotation in step.
const KUBECTL: &str = "kubectl";
/// Client-side apply's record of the last applied configuration.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Fields of the last-applied annotation whose values still match live: the conflicts
/// `kubectl apply --server-side` may override when taking over from client-side apply.
fn allowed_by_last_applied(live: &Value, schema: &TypeSchema) -> Option<FieldSet> {
    let text = live
        .pointer("/metadata/annotations")?
        .get(LAST_APPLIED)?
        .as_str()?;
    let last: Value = serde_json::from_str(text).ok()?;
    let set = FieldSet::from_object(&last, schema).ok()?;
    let c = compare(&without_server_metadata(&last), live, schema);
    Some(
        set.difference(&c.modified)
            .difference(&c.added)
            .difference(&c.removed),
    )
}

/// Rewrites an existing last-applied annotation to the applied config, as upstream's
/// lastAppliedUpdater does for the `kubectl` manager.
fn sync_last_applied(result: &mut Value, applied: &Value) {
    let Some(annotations) = result
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    if !annotations.contains_key(LAST_APPLIED) {
        return;
    }
    let mut config = applied.clone();
    if let Some(a) = config
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        a.shift_remove(LAST_APPLIED);
    }
    annotations.insert(LAST_APPLIED.into(), Value::String(go_json(&config)));
}

/// JSON as Go's encoding/json writes a map: keys sorted, HTML characters escaped, newline.
fn go_json(v: &Value) -> String {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                Value::Object(
                    keys.into_iter()
                        .map(|k| (k.clone(), sorted(&m[k])))
                        .collect(),
                )
            }
            Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    go_escape_html(&sorted(v).to_string()) + "\n"
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

/// `namespace/name; apiVersion, Kind=kind`, as the API server names an object in apply errors.
fn object_gvknn(obj: &Value) -> String {
    let s = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or("");
    format!(
        "{}/{}; {}, Kind={}",
        s("/metadata/namespace"),
        s("/metadata/name"),
        s("/apiVersion"),
        s("/kind")
    )
}

/// At most this many Update entries are kept; older ones fold into `ancient-changes`.
const MAX_UPDATE_MANAGERS: usize = 10;

/// upstream's capManagersManager: when there are more than ten Update entries, the oldest
/// are merged into one `ancient-changes` entry per apiVersion.
fn cap_update_managers(managers: &mut Managers) {
    let mut updaters: Vec<ManagerKey> = managers
        .keys()
        .filter(|k| k.operation == OP_UPDATE)
        .cloned()
        .collect();
    if updaters.len() <= MAX_UPDATE_MANAGERS {
        return;
    }
    let seconds =
        |k: &ManagerKey, m: &Managers| time_seconds(m.get(k).and_then(|e| e.time.as_deref()));
    updaters.sort_by(|a, b| {
        seconds(a, managers)
            .cmp(&seconds(b, managers))
            .then_with(|| a.cmp(b))
    });
    let mut first_of_version: BTreeMap<String, ManagerKey> = BTreeMap::new();
    let mut length = updaters.len();
    for key in updaters {
        if length <= MAX_UPDATE_MANAGERS {
            break;
        }
        let Some(entry) = managers.get(&key).cloned() else {
            continue;
        };
        let version = entry.api_version.clone();
        let Some(first) = first_of_version.get(&version).cloned() else {
            first_of_version.insert(version, key);
            continue;
        };
        let bucket = manager_key("ancient-changes", OP_UPDATE, &version, "");
        if !managers.contains_key(&bucket)
            && let Some(first_entry) = managers.remove(&first)
        {
            managers.insert(bucket.clone(), first_entry);
        }
        if let Some(b) = managers.get_mut(&bucket) {
            b.set = entry.set.union(&b.set);
            // the bucket takes the time of the newer entry merged into it
            b.time = entry.time.clone();
        }
        managers.remove(&key);
        length -= 1;
    }
}

/// The Update bookkeeping on decoded entries: fields that changed between `old` (None: the
/// kind's empty object) and `new` leave every entry and join `ctx.manager`'s Update entry.
fn update_managers(
    managers: &mut Managers,
    old: Option<&Value>,
    new: &Value,
    ctx: &FieldManagerContext<'_>,
) {
    let schema = ctx.schema;
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
    update_managers(&mut managers, old, new, ctx);
    managers.retain(|_, e| !e.set.is_empty());
    cap_update_managers(&mut managers);
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

    fn apply_as(
        s: &TypeSchema,
        live: Option<&Value>,
        cfg: &Value,
        manager: &str,
        now: &str,
        force: bool,
    ) -> Result<Value, ApplyError> {
        server_side_apply(live, cfg, force, &ctx(s, manager, now, None))
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
        let out = apply_as(&s, None, &deployment(2, "nginx"), "kubectl", T1, false).unwrap();
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
        let live = apply_as(&s, None, &deployment(2, "nginx"), "kubectl", T1, false).unwrap();
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

        let err = apply_as(
            &s,
            Some(&scaled),
            &deployment(2, "nginx"),
            "kubectl",
            T2,
            false,
        )
        .unwrap_err();
        assert_eq!(
            err,
            ApplyError::Conflicts(vec![Conflict {
                manager: r#""kubectl" with subresource "scale" using apps/v1"#.into(),
                field: ".spec.replicas".into()
            }])
        );
        assert_eq!(
            err.to_string(),
            r#"Apply failed with 1 conflict: conflict with "kubectl" with subresource "scale" using apps/v1: .spec.replicas"#
        );

        // the same value as live is no conflict
        assert!(
            apply_as(
                &s,
                Some(&scaled),
                &deployment(5, "nginx"),
                "kubectl",
                T2,
                false
            )
            .is_ok()
        );

        let forced = apply_as(
            &s,
            Some(&scaled),
            &deployment(2, "nginx"),
            "kubectl",
            T2,
            true,
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
        let live = apply_as(&s, None, &deployment(2, "nginx:1"), "ci", T1, false).unwrap();
        let err =
            apply_as(&s, Some(&live), &deployment(2, "nginx:2"), "dev", T2, false).unwrap_err();
        assert_eq!(
            err,
            ApplyError::Conflicts(vec![Conflict {
                manager: "ci".into(),
                field: r#".spec.template.spec.containers[name="web"].image"#.into()
            }])
        );
        // forcing shares nothing: the field moves to dev, ci keeps the rest
        let out = apply_as(&s, Some(&live), &deployment(2, "nginx:2"), "dev", T2, true).unwrap();
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
        let live = apply_as(&s, None, &first, "kubectl", T1, false).unwrap();
        let mut second = deployment(2, "nginx");
        second["spec"]["template"]["spec"]["containers"][0]["env"] =
            json!([{"name": "A", "value": "1"}]);
        let out = apply_as(&s, Some(&live), &second, "kubectl", T2, false).unwrap();
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
        let live = apply_as(&s, None, &first, "kubectl", T1, false).unwrap();
        // another applier shares the label (same value: no conflict)
        let other = json!({"apiVersion": "apps/v1", "kind": "Deployment",
                           "metadata": {"name": "web", "labels": {"tier": "front"}}});
        let live = apply_as(&s, Some(&live), &other, "team", T1, false).unwrap();
        // an updater adds an annotation
        let mut annotated = live.clone();
        annotated["metadata"]["annotations"] = json!({"note": "x"});
        record_update(
            Some(&live),
            &mut annotated,
            &ctx(&s, "kubectl-annotate", T2, None),
        );
        let out = apply_as(
            &s,
            Some(&annotated),
            &deployment(2, "nginx"),
            "kubectl",
            T2,
            false,
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
        let out = apply_as(&s, Some(&live), &cfg, "kubectl", T1, true).unwrap();
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"],
            json!([{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:2", "tty": true},
                   {"name": "c", "image": "c:1"}])
        );
    }

    #[test]
    fn reapplying_the_same_config_changes_nothing() {
        let s = TypeSchema::for_kind("apps", "Deployment", None);
        let created = apply_as(&s, None, &deployment(2, "nginx"), "kubectl", T1, false).unwrap();
        // as stored: server metadata in the API server's key order, defaults filled in
        let mut live = created.clone();
        let meta = live["metadata"].as_object().unwrap().clone();
        let mut ordered = Map::new();
        for (k, v) in meta {
            ordered.insert(k.clone(), v);
            if k == "namespace" {
                ordered.insert("uid".into(), json!("u-1"));
                ordered.insert("resourceVersion".into(), json!("7"));
                ordered.insert("generation".into(), json!(1));
                ordered.insert("creationTimestamp".into(), json!(T1));
            }
        }
        live["metadata"] = Value::Object(ordered);
        live["spec"]["strategy"] = json!({"type": "RollingUpdate"});
        let again = apply_as(
            &s,
            Some(&live),
            &deployment(2, "nginx"),
            "kubectl",
            T2,
            false,
        )
        .unwrap();
        assert_eq!(again, live);
        assert_eq!(again.to_string(), live.to_string());
    }

    #[test]
    fn patches_keep_key_order() {
        let s = TypeSchema::for_kind("apps", "Deployment", None);
        let live = deployment(2, "nginx");
        let smp = crate::patch::strategic_merge_patch(
            &live,
            &json!({"spec": {"replicas": 3}, "metadata": {"labels": {"app": null}}}),
            &s,
        )
        .unwrap();
        let keys: Vec<&String> = smp["spec"].as_object().unwrap().keys().collect();
        assert_eq!(keys, ["replicas", "selector", "template"]);
        let mut edited = live.clone();
        edited["spec"]["replicas"] = json!(3);
        record_update(Some(&live), &mut edited, &ctx(&s, "k", T1, None));
        let keys: Vec<&String> = edited["metadata"].as_object().unwrap().keys().collect();
        assert_eq!(keys, ["name", "namespace", "labels", "managedFields"]);
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
                r#"failed to create typed patch object (default/web; apps/v1, Kind=Deployment): .spec.template.spec.containers: duplicate entries for key [name="a"]"#
                    .to_string(),
            ),
        ];
        for (cfg, want) in cases {
            let err = apply_as(&s, None, &cfg, "k", T1, false).unwrap_err();
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
        let live = apply_as(&s, None, &first, "kubectl", T1, false).unwrap();
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
        let live = apply_as(&s, None, &deployment(2, "nginx"), "kubectl", T1, false).unwrap();
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
        // the status subresource cannot change labels of a Deployment either
        let out = server_side_apply(
            Some(&with_status),
            &json!({"apiVersion": "apps/v1", "kind": "Deployment",
                    "metadata": {"name": "web", "labels": {"x": "y"}},
                    "status": {"replicas": 3}}),
            true,
            &ctx(&s, "status-writer", T2, Some("status")),
        )
        .unwrap();
        assert_eq!(out["metadata"]["labels"], json!({"app": "web"}));
        assert_eq!(out["status"]["replicas"], 3);
        let e = entry(&out, "status-writer", "Apply").unwrap();
        assert_eq!(e["fieldsV1"], json!({"f:status": {"f:replicas": {}}}));
        let mut cfg = deployment(2, "nginx");
        cfg["status"] = json!({"replicas": 9});
        let out = apply_as(&s, Some(&with_status), &cfg, "kubectl", T2, false).unwrap();
        assert_eq!(out["status"]["replicas"], 2, "status kept from live");
        assert!(
            !entry(&out, "kubectl", "Apply")
                .unwrap()
                .to_string()
                .contains("f:status")
        );
    }

    #[test]
    fn several_conflicts_group_by_manager() {
        let cs = vec![
            Conflict {
                manager: "b".into(),
                field: ".spec.replicas".into(),
            },
            Conflict {
                manager: r#""a" using apps/v1"#.into(),
                field: ".data.x".into(),
            },
            Conflict {
                manager: "b".into(),
                field: ".spec.paused".into(),
            },
        ];
        assert_eq!(
            conflict_message(&cs),
            "Apply failed with 3 conflicts: conflicts with \"a\" using apps/v1:\n- .data.x\nconflicts with \"b\":\n- .spec.replicas\n- .spec.paused"
        );
    }

    #[test]
    fn applied_nulls_are_owned_but_not_stored() {
        let s = TypeSchema::for_kind("apps", "Deployment", None);
        // as `kubectl create deployment --dry-run=client -o yaml` prints it
        let mut cfg = deployment(1, "nginx");
        cfg["metadata"]["creationTimestamp"] = Value::Null;
        cfg["spec"]["template"]["metadata"]["creationTimestamp"] = Value::Null;
        cfg["spec"]["strategy"] = json!({});
        cfg["status"] = json!({});
        let out = apply_as(&s, None, &cfg, "kubectl", T1, false).unwrap();
        assert!(
            out["spec"]["template"]["metadata"]
                .get("creationTimestamp")
                .is_none()
        );
        assert_eq!(out["spec"]["strategy"], json!({}));
        assert!(out.get("status").is_none());
        let fields = &entry(&out, "kubectl", "Apply").unwrap()["fieldsV1"];
        assert_eq!(
            fields["f:spec"]["f:template"]["f:metadata"]["f:creationTimestamp"],
            json!({})
        );
        assert_eq!(fields["f:spec"]["f:strategy"], json!({}));
        assert!(fields.get("f:status").is_none());
        assert!(fields["f:metadata"].get("f:creationTimestamp").is_none());
    }

    #[test]
    fn a_new_applier_of_a_no_op_gets_an_entry_without_time() {
        let s = TypeSchema::for_kind("apps", "Deployment", None);
        let live = apply_as(&s, None, &deployment(2, "nginx"), "a", T1, false).unwrap();
        let out = apply_as(&s, Some(&live), &deployment(2, "nginx"), "b", T2, false).unwrap();
        let b = entry(&out, "b", "Apply").unwrap();
        assert!(b.get("time").is_none(), "{b}");
        assert_eq!(entry(&out, "a", "Apply").unwrap()["time"], T1);
        assert_eq!(out["spec"], live["spec"]);
    }

    #[test]
    fn custom_resources_use_the_crd_schema() {
        let crd = json!({"type": "object", "properties": {
            "spec": {"type": "object", "properties": {
                "hosts": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
                "routes": {"type": "array", "x-kubernetes-list-type": "map",
                           "x-kubernetes-list-map-keys": ["name"],
                           "items": {"type": "object", "properties": {
                               "name": {"type": "string"}, "port": {"type": "integer"}}}},
                "plain": {"type": "array", "items": {"type": "string"}},
                "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}});
        let s = TypeSchema::for_kind("example.com", "Widget", Some(&crd));
        let mut c = ctx(&s, "kubectl", T1, None);
        c.api_version = "example.com/v1";
        let cfg = json!({"apiVersion": "example.com/v1", "kind": "Widget",
            "metadata": {"name": "w"},
            "spec": {"hosts": ["a", "b"], "routes": [{"name": "r1", "port": 80}],
                     "plain": ["x"], "extra": {"deep": {"k": 1}}}});
        let live = server_side_apply(None, &cfg, false, &c).unwrap();
        assert_eq!(
            entry(&live, "kubectl", "Apply").unwrap()["fieldsV1"].to_string(),
            concat!(
                r#"{"f:spec":{"f:extra":{"f:deep":{".":{},"f:k":{}}},"#,
                r#""f:hosts":{"v:\"a\"":{},"v:\"b\"":{}},"f:plain":{},"#,
                r#""f:routes":{"k:{\"name\":\"r1\"}":{".":{},"f:name":{},"f:port":{}}}}}"#
            )
        );
        // another manager adds a host and a route; the first applier drops "b"
        let mut c2 = ctx(&s, "ops", T2, None);
        c2.api_version = "example.com/v1";
        let other = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
            "spec": {"hosts": ["c"], "routes": [{"name": "r2", "port": 81}]}});
        let live = server_side_apply(Some(&live), &other, false, &c2).unwrap();
        assert_eq!(live["spec"]["hosts"], json!(["a", "b", "c"]));
        let mut cfg2 = cfg.clone();
        cfg2["spec"]["hosts"] = json!(["a"]);
        let out = server_side_apply(Some(&live), &cfg2, false, &c).unwrap();
        assert_eq!(out["spec"]["hosts"], json!(["a", "c"]));
        assert_eq!(
            out["spec"]["routes"],
            json!([{"name": "r1", "port": 80}, {"name": "r2", "port": 81}])
        );
    }

    #[test]
    fn update_on_create_of_a_defaulted_deployment_matches_kubectl_create() {
        let s = TypeSchema::for_kind("apps", "Deployment", None);
        // `kubectl create deployment x --image=nginx` after the API server's defaulting
        let mut d = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "x", "namespace": "default", "labels": {"app": "x"}},
            "spec": {
                "replicas": 1, "selector": {"matchLabels": {"app": "x"}},
                "template": {
                    "metadata": {"labels": {"app": "x"}},
                    "spec": {"containers": [{"name": "nginx", "image": "nginx",
                        "resources": {}, "terminationMessagePath": "/dev/termination-log",
                        "terminationMessagePolicy": "File", "imagePullPolicy": "Always"}],
                        "restartPolicy": "Always", "terminationGracePeriodSeconds": 30,
                        "dnsPolicy": "ClusterFirst", "securityContext": {},
                        "schedulerName": "default-scheduler"}
                },
                "strategy": {"type": "RollingUpdate",
                             "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
                "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600
            },
            "status": {}
        });
        record_update(None, &mut d, &ctx(&s, "kubectl-create", T1, None));
        let want = json!({
            "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
            "f:spec": {
                "f:progressDeadlineSeconds": {}, "f:replicas": {}, "f:revisionHistoryLimit": {},
                "f:selector": {},
                "f:strategy": {"f:rollingUpdate": {".": {}, "f:maxSurge": {}, "f:maxUnavailable": {}},
                               "f:type": {}},
                "f:template": {
                    "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                    "f:spec": {
                        "f:containers": {"k:{\"name\":\"nginx\"}": {
                            ".": {}, "f:image": {}, "f:imagePullPolicy": {}, "f:name": {},
                            "f:resources": {}, "f:terminationMessagePath": {},
                            "f:terminationMessagePolicy": {}}},
                        "f:dnsPolicy": {}, "f:restartPolicy": {}, "f:schedulerName": {},
                        "f:securityContext": {}, "f:terminationGracePeriodSeconds": {}}}}
        });
        let got = &entry(&d, "kubectl-create", "Update").unwrap()["fieldsV1"];
        assert_eq!(got.to_string(), want.to_string());
    }

    #[test]
    fn kubectl_takes_over_from_client_side_apply_without_conflicts() {
        let s = TypeSchema::for_kind("apps", "Deployment", None);
        let cfg = deployment(2, "nginx:1");
        // what `kubectl apply` (client-side) leaves: the annotation and an Update entry
        let mut live = cfg.clone();
        live["metadata"]["annotations"] = json!({LAST_APPLIED: go_json(&cfg)});
        record_update(
            None,
            &mut live,
            &ctx(&s, "kubectl-client-side-apply", T1, None),
        );
        let new_cfg = deployment(3, "nginx:2");
        let out = apply_as(&s, Some(&live), &new_cfg, "kubectl", T2, false).unwrap();
        assert_eq!(out["spec"]["replicas"], 3);
        let annotation = out["metadata"]["annotations"][LAST_APPLIED]
            .as_str()
            .unwrap();
        assert_eq!(annotation, go_json(&new_cfg));
        assert!(
            annotation.starts_with(r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"#)
        );
        assert!(annotation.ends_with('\n'));
        let csa = entry(&out, "kubectl-client-side-apply", "Update")
            .unwrap()
            .to_string();
        assert!(!csa.contains("f:replicas"), "{csa}");
        // another manager is not let through
        assert!(matches!(
            apply_as(&s, Some(&live), &new_cfg, "helm", T2, false),
            Err(ApplyError::Conflicts(_))
        ));
        // nor is kubectl once live drifted from the annotation
        let mut drifted = live.clone();
        drifted["spec"]["replicas"] = json!(7);
        let err = apply_as(&s, Some(&drifted), &new_cfg, "kubectl", T2, false).unwrap_err();
        assert_eq!(
            err,
            ApplyError::Conflicts(vec![Conflict {
                manager: r#""kubectl-client-side-apply" using apps/v1"#.into(),
                field: ".spec.replicas".into()
            }])
        );
    }

    #[test]
    fn go_json_sorts_and_escapes_like_encoding_json() {
        assert_eq!(
            go_json(&json!({"b": "<&>", "a": {"d": 1, "c": [true]}})),
            "{\"a\":{\"c\":[true],\"d\":1},\"b\":\"\\u003c\\u0026\\u003e\"}\n"
        );
    }

    #[test]
    fn more_than_ten_updaters_fold_into_ancient_changes() {
        let s = TypeSchema::for_kind("", "ConfigMap", None);
        let mut obj =
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {}});
        for i in 0..12 {
            let mut next = obj.clone();
            next["data"][format!("k{i}")] = json!("v");
            let now = format!("2026-01-01T00:00:{i:02}Z");
            let name = format!("m{i:02}");
            let mut c = ctx(&s, &name, &now, None);
            c.api_version = "v1";
            record_update(Some(&obj), &mut next, &c);
            obj = next;
        }
        let mf = entries(&obj);
        assert_eq!(mf.len(), 10, "{mf:?}");
        let ancient = entry(&obj, "ancient-changes", "Update").unwrap();
        assert_eq!(
            ancient["fieldsV1"],
            json!({"f:data": {"f:k0": {}, "f:k1": {}, "f:k2": {}}})
        );
        assert_eq!(ancient["time"], "2026-01-01T00:00:02Z");
        assert!(entry(&obj, "m00", "Update").is_none());
        assert!(entry(&obj, "m11", "Update").is_some());
    }

    #[test]
    fn applied_item_replaces_duplicated_live_items() {
        let s = TypeSchema::for_kind("apps", "Deployment", None);
        let mut live = deployment(1, "nginx");
        live["spec"]["template"]["spec"]["containers"][0]["env"] = json!([{"name": "A", "value": "1"}, {"name": "B", "value": "x"}, {"name": "A", "value": "2"}]);
        let mut cfg = deployment(1, "nginx");
        cfg["spec"]["template"]["spec"]["containers"][0]["env"] =
            json!([{"name": "A", "value": "3"}]);
        let out = apply_as(&s, Some(&live), &cfg, "kubectl", T1, true).unwrap();
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"][0]["env"],
            json!([{"name": "A", "value": "3"}, {"name": "B", "value": "x"}])
        );
    }

    #[test]
    fn applying_over_an_untracked_object_conflicts_with_before_first_apply() {
        let s = TypeSchema::for_kind("apps", "Deployment", None);
        let live = deployment(2, "nginx");
        let err = apply_as(
            &s,
            Some(&live),
            &deployment(3, "nginx"),
            "kubectl",
            T1,
            false,
        )
        .unwrap_err();
        assert_eq!(
            err,
            ApplyError::Conflicts(vec![Conflict {
                manager: r#""before-first-apply" using apps/v1"#.into(),
                field: ".spec.replicas".into()
            }])
        );
        let out = apply_as(
            &s,
            Some(&live),
            &deployment(2, "nginx"),
            "kubectl",
            T1,
            false,
        )
        .unwrap();
        let before = entry(&out, "before-first-apply", "Update").unwrap();
        assert!(before["fieldsV1"].pointer("/f:spec/f:replicas").is_some());
        assert!(entry(&out, "kubectl", "Apply").is_some());
    }
}
