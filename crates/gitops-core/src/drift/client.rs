//! The client strategy (SPEC §4): every field the desired object sets must hold the same value
//! live; fields only live has are not drift.
//!
//! Lists Kubernetes merges by key (see [`super::merge_key`]) are matched item by item, so an
//! env var added live is not drift while a changed one is. Every other list is compared whole,
//! as server-side apply treats atomic lists: same length, same order, and each desired item
//! satisfied by the live item at its position under the same subset rule — so fields the server
//! defaults inside items (a toleration's `effect`, a probe's `timeoutSeconds`) are not drift. A
//! whole list that differs is reported once, at the list's path, with both lists.

use serde_json::Value;

use super::merge_key::{ListKeys, keyed, keys_equal};
use super::{Change, same_value};
use k8s_model::path::{FieldPath, PathSegment};

/// The changes that make `live` satisfy `desired` (both normalized): `add` for a field live
/// lacks, `replace` for a different value; never `remove`.
pub(crate) fn client_changes(lists: &ListKeys, desired: &Value, live: &Value) -> Vec<Change> {
    let mut changes = Vec::new();
    require(lists, desired, Some(live), &FieldPath::root(), &mut changes);
    changes
}

/// Whether `live` satisfies `desired` under the subset rule.
fn satisfies(lists: &ListKeys, desired: &Value, live: &Value, path: &FieldPath) -> bool {
    let mut scratch = Vec::new();
    require(lists, desired, Some(live), path, &mut scratch);
    scratch.is_empty()
}

/// A desired value a missing live field does not contradict: `null`, `{}`, `[]`, and the zero
/// values `false`, `0`, `""`, which the API server drops from its output (Go `omitempty`), so
/// `readOnly: false` or `subPath: ""` written in git never show up live.
fn sets_nothing(desired: &Value) -> bool {
    match desired {
        Value::Null => true,
        Value::Bool(flag) => !flag,
        Value::Number(number) => number.as_f64() == Some(0.0),
        Value::String(text) => text.is_empty(),
        Value::Object(map) => map.is_empty(),
        Value::Array(items) => items.is_empty(),
    }
}

fn require(
    lists: &ListKeys,
    desired: &Value,
    live: Option<&Value>,
    path: &FieldPath,
    out: &mut Vec<Change>,
) {
    // Equal values require nothing (each field is its own same value): a whole subtree the
    // server kept as sent (a CRD's schema, a dashboard) is compared without building paths.
    if live.is_some_and(|have| have == desired) {
        return;
    }
    match (desired, live) {
        (Value::Null, _) => {}
        (wanted, None) if sets_nothing(wanted) => {}
        (wanted, None) => out.push(Change::add(path.clone(), wanted.clone())),
        (Value::Object(wanted), Some(Value::Object(have))) => {
            for (key, value) in wanted {
                require(lists, value, have.get(key), &path.key(key), out);
            }
        }
        (Value::Array(wanted), Some(Value::Array(have))) => {
            require_list(lists, wanted, have, path, out)
        }
        (wanted, Some(have)) => {
            if !same_value(path, wanted, have) {
                out.push(Change::replace(path.clone(), have.clone(), wanted.clone()));
            }
        }
    }
}

fn require_list(
    lists: &ListKeys,
    wanted: &[Value],
    have: &[Value],
    path: &FieldPath,
    out: &mut Vec<Change>,
) {
    if let Some((wanted_keys, have_keys)) = keyed(lists, path, wanted, have) {
        for (item, key) in wanted.iter().zip(wanted_keys) {
            let live_item = have_keys
                .iter()
                .position(|candidate| keys_equal(candidate, &key))
                .and_then(|position| have.get(position));
            require(
                lists,
                item,
                live_item,
                &path.child(PathSegment::Item(key)),
                out,
            );
        }
        return;
    }
    let differs = wanted.len() != have.len()
        || wanted
            .iter()
            .zip(have)
            .enumerate()
            .any(|(n, (item, live_item))| {
                !satisfies(lists, item, live_item, &path.child(PathSegment::Index(n)))
            });
    if differs {
        out.push(Change::replace(
            path.clone(),
            Value::Array(have.to_vec()),
            Value::Array(wanted.to_vec()),
        ));
    }
}

/// What a sync would roughly make the live object, as far as the client can tell: live with
/// every desired field laid over it (keyed lists merged by key, other lists replaced when they
/// differ). Values that already satisfy desired keep their live form, so a text diff of live
/// against this shows exactly the client drift.
pub(crate) fn overlay(lists: &ListKeys, desired: &Value, live: &Value, path: &FieldPath) -> Value {
    match (desired, live) {
        (Value::Null, _) => live.clone(),
        (Value::Object(wanted), Value::Object(have)) => {
            let mut merged = have.clone();
            for (key, value) in wanted {
                let child = match have.get(key) {
                    Some(live_value) => overlay(lists, value, live_value, &path.key(key)),
                    None if sets_nothing(value) => continue,
                    None => value.clone(),
                };
                merged.insert(key.clone(), child);
            }
            Value::Object(merged)
        }
        (Value::Array(wanted), Value::Array(have)) => {
            if let Some((wanted_keys, have_keys)) = keyed(lists, path, wanted, have) {
                let mut merged = have.clone();
                for (item, key) in wanted.iter().zip(wanted_keys) {
                    let position = have_keys.iter().position(|k| keys_equal(k, &key));
                    let item_path = path.child(PathSegment::Item(key));
                    match position.and_then(|p| merged.get_mut(p)) {
                        Some(slot) => *slot = overlay(lists, item, slot, &item_path),
                        None => merged.push(item.clone()),
                    }
                }
                Value::Array(merged)
            } else if satisfies(lists, desired, live, path) {
                live.clone()
            } else {
                desired.clone()
            }
        }
        _ if same_value(path, desired, live) => live.clone(),
        _ => desired.clone(),
    }
}
