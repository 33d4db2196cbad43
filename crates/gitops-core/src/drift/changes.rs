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

/// Whether [`full_changes`] would find any change: the same walk, stopped at the first one
/// (a caller that shows text hunks needs only to know that the objects differ).
pub(crate) fn any_change(lists: &ListKeys, live: &Value, desired: &Value) -> bool {
    let mut found = AnyChange(false);
    compare(lists, live, desired, &FieldPath::root(), &mut found);
    found.0
}

/// Where [`compare`] puts the changes it finds.
trait Changes {
    fn push(&mut self, change: Change);
    /// Whether the walk may stop: nothing more is wanted.
    fn done(&self) -> bool;
}

impl Changes for Vec<Change> {
    fn push(&mut self, change: Change) {
        Vec::push(self, change);
    }
    fn done(&self) -> bool {
        false
    }
}

/// Only whether there is a change.
struct AnyChange(bool);

impl Changes for AnyChange {
    fn push(&mut self, _change: Change) {
        self.0 = true;
    }
    fn done(&self) -> bool {
        self.0
    }
}

/// The plain way of [`full_changes`]: every field walked, equal subtrees included; the same
/// answer (tested), slower on large objects.
#[cfg(test)]
pub(crate) fn full_changes_walking_all(
    lists: &ListKeys,
    live: &Value,
    desired: &Value,
) -> Vec<Change> {
    WALK_ALL.set(true);
    let changes = full_changes(lists, live, desired);
    WALK_ALL.set(false);
    changes
}

#[cfg(test)]
thread_local! {
    static WALK_ALL: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether two values may be skipped as equal ([`compare`]'s shortcut).
fn skip(live: &Value, desired: &Value) -> bool {
    #[cfg(test)]
    if WALK_ALL.get() {
        return false;
    }
    live == desired
}

fn compare(
    lists: &ListKeys,
    live: &Value,
    desired: &Value,
    path: &FieldPath,
    out: &mut impl Changes,
) {
    match (live, desired) {
        (Value::Object(have), Value::Object(wanted)) => {
            for (key, value) in wanted {
                if out.done() {
                    return;
                }
                match have.get(key) {
                    // Equal values hold no change (each comparison below is reflexive):
                    // most of two versions of a large object is equal, and this skips it
                    // without building a path for each of its fields.
                    Some(live_value) if skip(live_value, value) => {}
                    Some(live_value) => compare(lists, live_value, value, &path.key(key), out),
                    None => out.push(Change::add(path.key(key), value.clone())),
                }
            }
            for (key, value) in have {
                if out.done() {
                    return;
                }
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
    out: &mut impl Changes,
) {
    if let Some((wanted_keys, have_keys)) = keyed(lists, path, wanted, have) {
        // Each live item matches at most once, so duplicate keys (env allows them) pair up
        // in order instead of all landing on the first.
        let mut matched = vec![false; have.len()];
        for (item, key) in wanted.iter().zip(wanted_keys) {
            if out.done() {
                return;
            }
            let position = have_keys
                .iter()
                .enumerate()
                .position(|(n, candidate)| !matched[n] && keys_equal(candidate, &key));
            let item_path = path.child(PathSegment::Item(key));
            match position {
                Some(n) => {
                    matched[n] = true;
                    if !skip(&have[n], item) {
                        compare(lists, &have[n], item, &item_path, out);
                    }
                }
                None => out.push(Change::add(item_path, item.clone())),
            }
        }
        for ((item, key), was_matched) in have.iter().zip(have_keys).zip(matched) {
            if out.done() {
                return;
            }
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
        if out.done() {
            return;
        }
        let item_path = || path.child(PathSegment::Index(n));
        match (have.get(n), wanted.get(n)) {
            (Some(live_item), Some(item)) if skip(live_item, item) => {}
            (Some(live_item), Some(item)) => compare(lists, live_item, item, &item_path(), out),
            (None, Some(item)) => out.push(Change::add(item_path(), item.clone())),
            (Some(live_item), None) => out.push(Change::remove(item_path(), live_item.clone())),
            (None, None) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The shortcut over equal subtrees gives the plain walk's answer: for every pair of a
    /// set of Deployments (keyed lists with a duplicate key, quantities written two ways,
    /// nested maps, lists by position, fields added and removed), in both directions.
    #[test]
    fn skipping_equal_subtrees_gives_the_plain_walks_answer() {
        let base = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web", "tier": "front"}},
            "spec": {"replicas": 2, "template": {"spec": {
                "containers": [
                    {"name": "app", "image": "app:1", "args": ["a", "b"],
                     "env": [{"name": "A", "value": "1"}, {"name": "A", "value": "2"},
                             {"name": "B", "value": "x"}],
                     "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}},
                    {"name": "side", "image": "side:1"}
                ],
                "volumes": [{"name": "v", "emptyDir": {"sizeLimit": "1Gi"}}]
            }}}
        });
        let edits: [fn(&mut Value); 10] = [
            |_| {},
            |v| v["spec"]["replicas"] = json!(3),
            |v| {
                v["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"] =
                    json!("1000m")
            },
            |v| v["spec"]["template"]["spec"]["containers"][0]["env"][1]["value"] = json!("3"),
            |v| {
                let containers = v["spec"]["template"]["spec"]["containers"]
                    .as_array_mut()
                    .unwrap();
                containers.reverse();
            },
            |v| v["spec"]["template"]["spec"]["containers"][0]["args"] = json!(["a"]),
            |v| {
                v["metadata"]["labels"]
                    .as_object_mut()
                    .unwrap()
                    .remove("tier");
                v["metadata"]["annotations"] = json!({"n": "1"});
            },
            |v| {
                v["spec"]["template"]["spec"]["volumes"][0]["emptyDir"]["sizeLimit"] =
                    json!("1024Mi")
            },
            |v| {
                let env = v["spec"]["template"]["spec"]["containers"][0]["env"]
                    .as_array_mut()
                    .unwrap();
                env.swap(0, 2);
                env.push(json!({"name": "C", "value": "new"}));
            },
            |v| v["spec"]["template"] = json!({"spec": {"containers": []}}),
        ];
        let versions: Vec<Value> = edits
            .iter()
            .map(|edit| {
                let mut value = base.clone();
                edit(&mut value);
                value
            })
            .collect();
        let lists = ListKeys::of("apps", "Deployment");
        let mut differing = 0;
        for live in &versions {
            for desired in &versions {
                let fast = full_changes(&lists, live, desired);
                assert_eq!(fast, full_changes_walking_all(&lists, live, desired));
                assert_eq!(any_change(&lists, live, desired), !fast.is_empty());
                differing += usize::from(!fast.is_empty());
            }
        }
        // Most pairs differ; a quantity written another way does not.
        assert!(differing > 60, "{differing}");
        assert!(full_changes(&lists, &versions[0], &versions[2]).is_empty());
    }
}
