//! Full comparison for the server strategy: every difference between the normalized live
//! object and what a sync would make it (the normalized dry-run result), both ways.

use serde_json::Value;

use super::merge_key::{ListKeys, keyed, keys_equal};
use super::{Change, same_value};
use k8s_model::path::{FieldPath, PathSegment};

/// The changes from `live` to `desired`, in the order of `desired`'s fields, fields only live
/// has (removals) after the others of their map. Keyed lists are matched by key (item order is
/// not a change); other lists by position.
pub(crate) fn full_changes(lists: &ListKeys, live: &Value, desired: &Value) -> Vec<Change> {
    let mut changes = Vec::new();
    compare(lists, live, desired, &FieldPath::root(), &mut changes);
    changes
}

fn compare(
    lists: &ListKeys,
    live: &Value,
    desired: &Value,
    path: &FieldPath,
    out: &mut Vec<Change>,
) {
    match (live, desired) {
        (Value::Object(have), Value::Object(wanted)) => {
            for (key, value) in wanted {
                let child = path.key(key);
                match have.get(key) {
                    Some(live_value) => compare(lists, live_value, value, &child, out),
                    None => out.push(Change::add(child, value.clone())),
                }
            }
            for (key, value) in have {
                if !wanted.contains_key(key) {
                    out.push(Change::remove(path.key(key), value.clone()));
                }
            }
        }
        (Value::Array(have), Value::Array(wanted)) => compare_lists(lists, have, wanted, path, out),
        _ => {
            if !same_value(path, desired, live) {
                out.push(Change::replace(path.clone(), live.clone(), desired.clone()));
            }
        }
    }
}

fn compare_lists(
    lists: &ListKeys,
    have: &[Value],
    wanted: &[Value],
    path: &FieldPath,
    out: &mut Vec<Change>,
) {
    if let Some((wanted_keys, have_keys)) = keyed(lists, path, wanted, have) {
        // Each live item matches at most once, so duplicate keys (env allows them) pair up
        // in order instead of all landing on the first.
        let mut matched = vec![false; have.len()];
        for (item, key) in wanted.iter().zip(wanted_keys) {
            let position = have_keys
                .iter()
                .enumerate()
                .position(|(n, candidate)| !matched[n] && keys_equal(candidate, &key));
            let item_path = path.child(PathSegment::Item(key));
            match position {
                Some(n) => {
                    matched[n] = true;
                    compare(lists, &have[n], item, &item_path, out);
                }
                None => out.push(Change::add(item_path, item.clone())),
            }
        }
        for ((item, key), was_matched) in have.iter().zip(have_keys).zip(matched) {
            if !was_matched {
                out.push(Change::remove(
                    path.child(PathSegment::Item(key)),
                    item.clone(),
                ));
            }
        }
        return;
    }
    for n in 0..have.len().max(wanted.len()) {
        let item_path = path.child(PathSegment::Index(n));
        match (have.get(n), wanted.get(n)) {
            (Some(live_item), Some(item)) => compare(lists, live_item, item, &item_path, out),
            (None, Some(item)) => out.push(Change::add(item_path, item.clone())),
            (Some(live_item), None) => out.push(Change::remove(item_path, live_item.clone())),
            (None, None) => {}
        }
    }
}
