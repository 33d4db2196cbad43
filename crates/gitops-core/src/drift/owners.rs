//! Who set each live field, from the object's managedFields: the lookup blame's `~` lines and
//! `diff`'s `liveManager`/`liveTime` share (SPEC §5, §7).

use serde_json::Value;

use k8s_model::fieldset::{FieldSet, PathElement};
use k8s_model::path::{FieldPath, PathSegment};

/// The managedFields entry that last wrote a live field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldOwner {
    /// Field manager (`kubectl`, `kube-controller-manager`, `ops-team`).
    pub manager: String,
    /// `Apply` or `Update`, when the entry says.
    pub operation: Option<String>,
    /// When the manager last wrote its fields (RFC 3339), when the entry says.
    pub time: Option<String>,
}

/// The managedFields of a live object, parsed once: who owns which fields.
#[derive(Debug, Default)]
pub struct FieldOwners {
    entries: Vec<(FieldOwner, FieldSet)>,
}

impl FieldOwners {
    /// The entries of `live`'s `metadata.managedFields` (entries that cannot be read are left
    /// out: they own nothing we can name).
    pub fn of(live: &Value) -> FieldOwners {
        let entries = live
            .pointer("/metadata/managedFields")
            .and_then(Value::as_array)
            .map(|entries| entries.iter().filter_map(owner_entry).collect())
            .unwrap_or_default();
        FieldOwners { entries }
    }

    /// The manager that last wrote the field at `path` (list items of keyed lists named by
    /// their merge keys, as drift's changes name them), or the nearest ancestor owned whole
    /// (an atomic list or map); `None` when no manager owns it (a server default).
    pub fn owner_of(&self, path: &FieldPath) -> Option<&FieldOwner> {
        let elements = path_elements(path);
        (1..=elements.len()).rev().find_map(|len| {
            let prefix = &elements[..len];
            self.entries
                .iter()
                .filter(|(_, set)| {
                    if len == elements.len() {
                        set.has_prefix(prefix)
                    } else {
                        // An ancestor owned whole (an atomic list or map) owns what is in it; one
                        // with owned children (a keyed item) leaves the others to defaulting.
                        set.has(prefix) && !set.has_descendant(prefix)
                    }
                })
                .max_by(|a, b| a.0.time.cmp(&b.0.time))
                .map(|(owner, _)| owner)
        })
    }
}

/// The owner of the field at `path` of the live object `live` (as the API server returns it,
/// managedFields included); `None` when no manager owns it. Parses managedFields each call:
/// for many paths of one object, use [`FieldOwners`].
pub fn live_owner(live: &Value, path: &FieldPath) -> Option<FieldOwner> {
    FieldOwners::of(live).owner_of(path).cloned()
}

fn owner_entry(entry: &Value) -> Option<(FieldOwner, FieldSet)> {
    let set = FieldSet::from_fields_v1(entry.get("fieldsV1")?).ok()?;
    let text = |k: &str| entry.get(k).and_then(Value::as_str).map(str::to_owned);
    let owner = FieldOwner {
        manager: text("manager").unwrap_or_default(),
        operation: text("operation"),
        time: text("time"),
    };
    Some((owner, set))
}

fn path_elements(path: &FieldPath) -> Vec<PathElement> {
    path.0
        .iter()
        .map(|segment| match segment {
            PathSegment::Key(k) => PathElement::Field(k.clone()),
            PathSegment::Index(i) => PathElement::Index(*i),
            PathSegment::Item(key) => {
                let mut key = key.clone();
                key.sort_by(|a, b| a.0.cmp(&b.0));
                PathElement::Key(key)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn live() -> Value {
        json!({"metadata": {"labels": {"app": "web", "team": "ops"}, "managedFields": [
            {"manager": "kubectl-client-side-apply", "operation": "Update",
             "time": "2026-01-01T00:00:00Z",
             "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                 "f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {
                 "k:{\"name\":\"web\"}": {".": {}, "f:name": {}, "f:image": {},
                     "f:args": {}}}}}}}},
            {"manager": "ops-team", "operation": "Apply", "time": "2026-01-03T00:00:00Z",
             "fieldsV1": {"f:metadata": {"f:labels": {"f:team": {}}},
                 "f:spec": {"f:template": {"f:spec": {"f:containers": {
                 "k:{\"name\":\"sidecar\"}": {".": {}, "f:name": {}, "f:image": {}}}}}}}},
            {"manager": "kubectl", "operation": "Update", "time": "2026-01-02T00:00:00Z",
             "fieldsV1": {"f:spec": {"f:replicas": {}}}}
        ]}})
    }

    fn containers() -> FieldPath {
        FieldPath::root()
            .key("spec")
            .key("template")
            .key("spec")
            .key("containers")
    }

    fn manager_time(path: &FieldPath) -> Option<(String, Option<String>)> {
        live_owner(&live(), path).map(|o| (o.manager, o.time))
    }

    #[test]
    fn owners_of_fields_keyed_items_and_map_keys() {
        let at = |m: &str, t: &str| Some((m.to_owned(), Some(t.to_owned())));
        let item =
            |name: &str| containers().child(PathSegment::Item(vec![("name".into(), json!(name))]));
        let cases = [
            // Two managers own it: the latest write wins.
            (
                FieldPath::root().key("spec").key("replicas"),
                at("kubectl", "2026-01-02T00:00:00Z"),
            ),
            (
                item("web").key("image"),
                at("kubectl-client-side-apply", "2026-01-01T00:00:00Z"),
            ),
            (
                item("sidecar").key("image"),
                at("ops-team", "2026-01-03T00:00:00Z"),
            ),
            // The whole item: whoever owns fields in it.
            (item("sidecar"), at("ops-team", "2026-01-03T00:00:00Z")),
            // An atomic list owns its items.
            (
                item("web").key("args").child(PathSegment::Index(1)),
                at("kubectl-client-side-apply", "2026-01-01T00:00:00Z"),
            ),
            (
                FieldPath::root().key("metadata").key("labels").key("team"),
                at("ops-team", "2026-01-03T00:00:00Z"),
            ),
            (
                FieldPath::root().key("metadata").key("labels").key("app"),
                at("kubectl-client-side-apply", "2026-01-01T00:00:00Z"),
            ),
            // Owned by nobody: a server default.
            (item("web").key("imagePullPolicy"), None),
            (
                FieldPath::root().key("spec").key("revisionHistoryLimit"),
                None,
            ),
        ];
        for (path, want) in cases {
            assert_eq!(manager_time(&path), want, "{path}");
        }
        let owner = live_owner(&live(), &item("sidecar").key("image")).unwrap();
        assert_eq!(owner.operation.as_deref(), Some("Apply"));
    }

    #[test]
    fn no_or_unreadable_managed_fields_own_nothing() {
        let path = FieldPath::root().key("spec").key("replicas");
        assert_eq!(live_owner(&json!({"spec": {"replicas": 1}}), &path), None);
        let bad = json!({"metadata": {"managedFields": [{"manager": "x", "fieldsV1": "nope"}]}});
        assert_eq!(live_owner(&bad, &path), None);
    }
}
