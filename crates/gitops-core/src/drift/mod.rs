//! The drift engine: desired × live → differing fields and structured changes (SPEC §4, §5).
//! Pure code, no I/O: the cluster layer fetches live objects and dry-run results, the render
//! layer provides desired objects, and `status`/`diff` call one of the two entry points.
//!
//! # Using it
//!
//! - Server strategy (default): after a server-side apply dry-run of the desired object,
//!   [`compare_server`] with the desired object, the live object and the dry-run result.
//! - Client strategy (read-only credentials, or the fallback after a 403 on the dry-run):
//!   [`compare_client`] with the desired and the live object.
//!
//! Pass objects as the API server returns them (managedFields included: the
//! `managedFieldsManagers` ignore rules read them) and the config's `ignoreDifferences`; both
//! entry points normalize (SPEC §4), strip ignored fields, and mask Secrets before comparing, so
//! every value in the returned [`Comparison`] — changes, objects, `Debug` — is safe to print.
//! [`Comparison::is_drifted`] decides `Synced`/`Drifted`, [`Comparison::fields`] is `status`'s
//! field list, [`Comparison::changes`] is `diff -o json`'s, and [`Comparison::live_yaml`] /
//! [`Comparison::desired_yaml`] are the two sides of the text diff.
//! [`Comparison::attribute_live_fields`] names on each change the manager that set the live
//! field ([`owners`], the lookup blame uses too).
//!
//! Sync does not send ignored fields: [`IgnoreSet::strip`] on the object before applying.
//! Objects shown outside a comparison (Missing, Orphaned, `blame --live`) go through
//! [`prepare_objects`] first.

pub mod changes;
pub mod client;
pub mod fields_v1;
pub mod ignore;
pub mod merge_key;
pub mod owners;
pub mod yaml_out;

use std::borrow::Cow;

use serde::Serialize;
use serde_json::Value;

pub use ignore::IgnoreSet;
pub use k8s_model::fieldset::FieldSetError as FieldsV1Error;

use k8s_model::mask::SecretMasker;
use k8s_model::normalize::{is_secret, normalize, normalized};
use k8s_model::path::{FieldPath, PathSegment};
use k8s_model::quantity::{quantities_equal, values_equal};
use k8s_model::{DriftState, IgnoreRule, ResourceId};
use merge_key::ListKeys;

/// Errors of the drift engine.
#[derive(Debug, thiserror::Error)]
pub enum DriftError {
    /// An `ignoreDifferences` JSON pointer that is not RFC 6901.
    #[error(
        "ignoreDifferences: invalid JSON pointer {pointer:?}; write it as /spec/replicas, with \
         '~' escaped as '~0' and '/' as '~1'"
    )]
    InvalidPointer {
        /// The pointer as written in the config file.
        pointer: String,
    },
    /// A live managedFields entry that cannot be read.
    #[error("{resource}: managedFields of manager {manager:?} cannot be read: {source}")]
    FieldsV1 {
        /// The resource (`<group>/<Kind>/<ns>/<name>`).
        resource: String,
        /// The manager whose entry is malformed.
        manager: String,
        /// What is wrong.
        source: FieldsV1Error,
    },
    /// An object that cannot be written as YAML.
    #[error("cannot render the object as YAML: {0}")]
    Yaml(#[from] Box<serde_saphyr::SerializeError>),
}

/// Which way drift was determined (SPEC §4 `--diff-strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// Server-side apply dry-run compared with live.
    Server,
    /// Desired fields checked against live, no write calls.
    Client,
}

/// What a change does to the live object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeOp {
    /// The field is not live; sync sets it.
    Add,
    /// The field is live only; sync removes it.
    Remove,
    /// The field is live with another value; sync changes it.
    Replace,
}

/// One field-level change, `{path, op, live, desired, liveManager, liveOperation, liveTime}` in
/// `diff -o json` (SPEC §5); `live` is `null` for `add`, `desired` is `null` for `remove`; the
/// `live*` owner fields are `null` until [`Comparison::attribute_live_fields`], for `add`, and
/// for fields no manager owns.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    /// Dotted path of the field.
    pub path: FieldPath,
    /// What sync does to it.
    pub op: ChangeOp,
    /// Live value (masked for Secrets).
    pub live: Option<Value>,
    /// Desired value (masked for Secrets).
    pub desired: Option<Value>,
    /// The field manager that set the live field (managedFields).
    pub live_manager: Option<String>,
    /// How it set it: `Apply` or `Update`.
    pub live_operation: Option<String>,
    /// When (RFC 3339), as managedFields records it.
    pub live_time: Option<String>,
}

impl Change {
    pub(crate) fn add(path: FieldPath, desired: Value) -> Change {
        Change {
            path,
            op: ChangeOp::Add,
            live: None,
            desired: Some(desired),
            live_manager: None,
            live_operation: None,
            live_time: None,
        }
    }

    pub(crate) fn remove(path: FieldPath, live: Value) -> Change {
        Change {
            path,
            op: ChangeOp::Remove,
            live: Some(live),
            desired: None,
            live_manager: None,
            live_operation: None,
            live_time: None,
        }
    }

    fn replace(path: FieldPath, live: Value, desired: Value) -> Change {
        Change {
            path,
            op: ChangeOp::Replace,
            live: Some(live),
            desired: Some(desired),
            live_manager: None,
            live_operation: None,
            live_time: None,
        }
    }
}

/// The result of comparing one resource. Every value in it is normalized, stripped of ignored
/// fields and, for Secrets, masked.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Comparison {
    /// How it was determined.
    pub strategy: Strategy,
    /// Differing field paths, dotted (`spec.replicas`), one per change.
    pub fields: Vec<String>,
    /// The changes sync would make.
    pub changes: Vec<Change>,
    /// The live side of the text diff.
    #[serde(skip)]
    pub live: Value,
    /// The other side: the dry-run result (server), or live with the desired fields laid over
    /// it (client, an approximation of what sync would make it).
    #[serde(skip)]
    pub desired: Value,
}

impl Comparison {
    fn new(strategy: Strategy, changes: Vec<Change>, live: Value, desired: Value) -> Comparison {
        Comparison {
            strategy,
            fields: changes
                .iter()
                .map(|change| change.path.to_string())
                .collect(),
            changes,
            live,
            desired,
        }
    }

    /// Whether a sync would change the live object.
    pub fn is_drifted(&self) -> bool {
        !self.changes.is_empty()
    }

    /// `Drifted` or `Synced`.
    pub fn state(&self) -> DriftState {
        if self.is_drifted() {
            DriftState::Drifted
        } else {
            DriftState::Synced
        }
    }

    /// Names, on each change of a field that is live, the manager, operation and time that set
    /// it, from `raw_live`'s managedFields (the live object as the server returned it). A
    /// Secret's `data.K` set through `stringData` is owned as `stringData.K`.
    pub fn attribute_live_fields(&mut self, id: &ResourceId, raw_live: &Value) {
        if self.changes.iter().all(|change| change.op == ChangeOp::Add) {
            return;
        }
        let owners = owners::FieldOwners::of(raw_live);
        let secret = id.group.is_empty() && id.kind == "Secret";
        for change in self.changes.iter_mut().filter(|c| c.op != ChangeOp::Add) {
            let owner = owners.owner_of(&change.path).or_else(|| {
                let mut path = change.path.clone();
                match path.0.first_mut() {
                    Some(PathSegment::Key(first)) if secret && first == "data" => {
                        *first = "stringData".to_owned();
                        owners.owner_of(&path)
                    }
                    _ => None,
                }
            });
            if let Some(owner) = owner {
                change.live_manager = Some(owner.manager.clone());
                change.live_operation = owner.operation.clone();
                change.live_time = owner.time.clone();
            }
        }
    }

    /// The live side as YAML, for text diffs.
    pub fn live_yaml(&self) -> Result<String, DriftError> {
        to_yaml(&self.live)
    }

    /// The desired side as YAML, for text diffs.
    pub fn desired_yaml(&self) -> Result<String, DriftError> {
        to_yaml(&self.desired)
    }
}

/// Client strategy: does `live` hold every field `desired` sets? `desired` is the manifest as
/// rendered, `live` the object as the server returns it.
pub fn compare_client(
    id: &ResourceId,
    desired: &Value,
    live: &Value,
    rules: &[IgnoreRule],
) -> Result<Comparison, DriftError> {
    let [desired, live] = prepare_objects(id, Some(live), [desired, live], rules)?;
    let lists = ListKeys::of(&id.group, &id.kind);
    let changes = client::client_changes(&lists, &desired, &live);
    // Live already satisfies every desired field: laid over it, they keep their live form,
    // so the projection is live itself (not built field by field, cloning big values at
    // every level).
    let projected = if changes.is_empty() {
        live.clone()
    } else {
        client::overlay(&lists, &desired, &live, &FieldPath::root())
    };
    Ok(Comparison::new(Strategy::Client, changes, live, projected))
}

/// Server strategy: every difference between `live` and `dry_run` (the server-side apply
/// dry-run result of `desired`). `desired` only takes part in masking, so that a Secret value
/// gets the same mask wherever it appears.
pub fn compare_server(
    id: &ResourceId,
    desired: &Value,
    live: &Value,
    dry_run: &Value,
    rules: &[IgnoreRule],
) -> Result<Comparison, DriftError> {
    let [_desired, live, dry_run] =
        prepare_objects(id, Some(live), [desired, live, dry_run], rules)?;
    let lists = ListKeys::of(&id.group, &id.kind);
    let changes = changes::full_changes(&lists, &live, &dry_run);
    Ok(Comparison::new(Strategy::Server, changes, live, dry_run))
}

/// Makes objects of one resource safe and ready to show or compare, as both entry points do:
/// normalizes them, strips the fields ignore rules exclude (`raw_live`: the live object as the
/// server returned it, for managedFields; `None` when there is none), and masks Secrets
/// together, in the order given. For what is shown outside a comparison: a Missing resource's
/// desired object, an Orphaned one's live object, `blame --live`.
///
/// `apiVersion` and `kind` missing from an object (list items from the API server lack them)
/// are taken from the first object that has them: they are identity, not drift.
pub fn prepare_objects<const N: usize>(
    id: &ResourceId,
    raw_live: Option<&Value>,
    objects: [&Value; N],
    rules: &[IgnoreRule],
) -> Result<[Value; N], DriftError> {
    prepare_objects_cow(id, raw_live, objects.map(Cow::Borrowed), rules)
}

/// [`prepare_objects`] of objects some of which the caller gives away (`Cow::Owned`): those
/// are normalized in place ([`normalize`]) instead of copied ([`normalized`]), which gives the
/// same object (tested in `k8s_model::normalize`). `diff --from` owns both renders' objects
/// and needs them only once: a copy of each was a twentieth of a cold run.
pub fn prepare_objects_cow<const N: usize>(
    id: &ResourceId,
    raw_live: Option<&Value>,
    objects: [Cow<'_, Value>; N],
    rules: &[IgnoreRule],
) -> Result<[Value; N], DriftError> {
    let ignore = IgnoreSet::from_rules(rules, id, raw_live)?;
    let secret = id.group.is_empty() && id.kind == "Secret";
    let type_meta: Vec<(&str, Value)> = ["apiVersion", "kind"]
        .into_iter()
        .filter_map(|field| {
            let value = objects.iter().find_map(|object| object.get(field))?;
            Some((field, value.clone()))
        })
        .collect();
    let mut masker = SecretMasker::new();
    Ok(objects.map(|object| {
        let mut object = match object {
            Cow::Borrowed(object) => normalized(object),
            Cow::Owned(mut object) => {
                normalize(&mut object);
                object
            }
        };
        if let Value::Object(map) = &mut object
            && type_meta.iter().any(|(field, _)| !map.contains_key(*field))
        {
            // Rebuilt so that apiVersion and kind lead, where YAML readers expect them.
            let mut with_type = serde_json::Map::new();
            for (field, value) in &type_meta {
                let own = map.remove(*field);
                with_type.insert((*field).to_owned(), own.unwrap_or_else(|| value.clone()));
            }
            with_type.append(map);
            *map = with_type;
        }
        ignore.strip(&mut object);
        if secret || is_secret(&object) {
            masker.mask_secret(&mut object);
        }
        object
    }))
}

/// Whether two leaf values are equal at `path`: quantity fields by value (`1000m` = `1`),
/// numbers by value everywhere (`1` = `1.0`), anything else exactly.
fn same_value(path: &FieldPath, a: &Value, b: &Value) -> bool {
    if is_quantity_field(path) {
        return quantities_equal(a, b);
    }
    values_equal(a, b)
}

/// Fields holding resource quantities: container and PVC `resources.limits/requests`,
/// `emptyDir.sizeLimit`, ResourceQuota `spec.hard`, LimitRange `spec.limits[].{max, min,
/// default, defaultRequest, maxLimitRequestRatio}`, PV `spec.capacity`, Pod `overhead`,
/// RuntimeClass `overhead.podFixed`.
fn is_quantity_field(path: &FieldPath) -> bool {
    let keys: Vec<&str> = path.keys().collect();
    matches!(
        keys.as_slice(),
        [.., "sizeLimit"]
            | [.., "resources", "limits" | "requests", _]
            | [.., "spec", "hard" | "capacity" | "overhead", _]
            | [.., "podFixed", _]
            | [
                ..,
                "limits",
                "max" | "min" | "default" | "defaultRequest" | "maxLimitRequestRatio",
                _
            ]
    )
}

/// Renders an object as YAML for text diffs: block style, keys in stored order.
pub fn to_yaml(object: &Value) -> Result<String, DriftError> {
    to_yaml_with(object, &mut yaml_out::Scalars::default())
}

/// [`to_yaml`], with the scalars serde-saphyr writes kept in `scalars` across calls (the two
/// sides of a comparison share most of them): [`yaml_out`] writes what it knows, serde-saphyr
/// the rest ([`to_yaml_plain`]); the same bytes either way.
pub fn to_yaml_with(object: &Value, scalars: &mut yaml_out::Scalars) -> Result<String, DriftError> {
    match yaml_out::to_yaml(object, scalars) {
        Some(text) => Ok(text),
        None => to_yaml_plain(object),
    }
}

/// The plain way of [`to_yaml`]: serde-saphyr writes the whole object.
pub fn to_yaml_plain(object: &Value) -> Result<String, DriftError> {
    serde_saphyr::to_string(object).map_err(|error| DriftError::Yaml(Box::new(error)))
}

#[cfg(test)]
mod tests;
