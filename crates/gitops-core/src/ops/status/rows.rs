//! The rows of a report: how a manifest and its live object become a [`ResourceStatus`].

use kube::core::ApiResource;
use serde_json::Value;

use crate::drift::merge_key::key_default;
use crate::drift::{Comparison, DriftError, IgnoreSet, Strategy};
use crate::drift::{compare_server, prepare_objects, to_yaml};
use gitops_cluster::{ClusterClient, FIELD_MANAGER};
use gitops_render::RenderError;
use k8s_model::fieldset::{FieldSet, PathElement, item_has_key};
use k8s_model::normalize::{IGNORED_ANNOTATIONS, IGNORED_LABELS, REVISION_ANNOTATION};
use k8s_model::{DriftState, IgnoreRule, Manifest, ResourceId, Source};

use super::{ResourceOwner, ResourceStatus};

impl ResourceStatus {
    pub(super) fn new(manifest: &Manifest, state: DriftState) -> ResourceStatus {
        ResourceStatus {
            source: Some(manifest.source.clone()),
            owner: manifest.owner.clone().map(ResourceOwner::Controller),
            ..ResourceStatus::blank(manifest.id.clone(), &manifest.api_version, state)
        }
    }

    /// A row of `id` in `state` that knows nothing else yet: no source, fields, commits,
    /// live revision, error or texts.
    pub fn blank(id: ResourceId, api_version: &str, state: DriftState) -> ResourceStatus {
        ResourceStatus {
            id,
            api_version: api_version.to_owned(),
            state,
            strategy: None,
            fields: Vec::new(),
            changes: Vec::new(),
            source: None,
            last_commit: None,
            live_revision: None,
            owner: None,
            matches_revision: None,
            live_resource_version: None,
            error: None,
            render_error: None,
            notes: Vec::new(),
            live_yaml: None,
            desired_yaml: None,
        }
    }

    fn with_live(mut self, live: &Value) -> ResourceStatus {
        self.live_revision = live
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(REVISION_ANNOTATION))
            .and_then(Value::as_str)
            .map(str::to_owned);
        self.live_resource_version = live
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .map(str::to_owned);
        self
    }
}

pub(super) fn compared_row(
    manifest: &Manifest,
    live: &Value,
    mut comparison: Comparison,
    strategy: Strategy,
    texts: bool,
) -> ResourceStatus {
    comparison.attribute_live_fields(&manifest.id, live);
    let mut row = ResourceStatus::new(manifest, comparison.state()).with_live(live);
    row.strategy = Some(strategy);
    if texts {
        match (comparison.live_yaml(), comparison.desired_yaml()) {
            (Ok(live_yaml), Ok(desired_yaml)) => {
                row.live_yaml = Some(live_yaml);
                row.desired_yaml = Some(desired_yaml);
            }
            (Err(error), _) | (_, Err(error)) => row.notes.push(error.to_string()),
        }
    }
    row.fields = comparison.fields;
    row.changes = comparison.changes;
    row
}

/// Why the API server would refuse the manifest's name or namespace (its name validation per
/// kind, as the server checks on create), with the file:line and the next step; `None` when
/// they are valid.
pub(super) fn invalid_name(manifest: &Manifest) -> Option<String> {
    use k8s_model::names::{NameRule, dns1123_label};
    let id = &manifest.id;
    let rule = NameRule::of(&id.group, &id.kind);
    let problems = rule.check(&id.name);
    let rule = rule.describe();
    let (field, value, rule, problems) = match &id.namespace {
        _ if !problems.is_empty() => ("metadata.name", id.name.as_str(), rule, problems),
        Some(ns) if !dns1123_label(ns).is_empty() => (
            "metadata.namespace",
            ns.as_str(),
            "RFC 1123 label",
            dns1123_label(ns),
        ),
        _ => return None,
    };
    Some(format!(
        "{}:{}: {field} {value:?} of this {} is not a valid {rule}: {}; the API server refuses it, rename it",
        manifest.source.file,
        manifest.source.line,
        id.kind,
        problems.join("; ")
    ))
}

pub(super) fn error_row(
    manifest: &Manifest,
    live: Option<&Value>,
    error: &DriftError,
) -> ResourceStatus {
    let mut row = ResourceStatus::new(manifest, DriftState::Error);
    if let Some(live) = live {
        row = row.with_live(live);
    }
    row.error = Some(error.to_string());
    row
}

/// Dry-runs one candidate and compares server-side; 403 falls back to the client comparison
/// already made, any other failure is an Error row with the server's message.
pub(super) async fn dry_run_row(
    cluster: &ClusterClient,
    manifest: &Manifest,
    resource: &ApiResource,
    live: &Value,
    client: Comparison,
    rules: &[IgnoreRule],
    texts: bool,
) -> ResourceStatus {
    // Sync does not send ignored fields, so neither does its dry-run.
    let mut sent = manifest.object.clone();
    match IgnoreSet::from_rules(rules, &manifest.id, Some(live)) {
        Ok(ignore) => ignore.strip(&mut sent),
        Err(error) => return error_row(manifest, Some(live), &error),
    }
    let result = cluster
        .apply_dry_run(
            resource,
            manifest.id.namespace.as_deref(),
            &manifest.id.name,
            &sent,
        )
        .await;
    match result {
        Ok(dry_run) => {
            match compare_server(&manifest.id, &manifest.object, live, &dry_run, rules) {
                Ok(comparison) => compared_row(manifest, live, comparison, Strategy::Server, texts),
                Err(error) => error_row(manifest, Some(live), &error),
            }
        }
        Err(error) if error.is_forbidden() => {
            let mut row = compared_row(manifest, live, client, Strategy::Client, texts);
            row.notes.push(format!(
                "server-side dry-run forbidden ({}); compared client-side",
                error.server_message()
            ));
            row
        }
        Err(error) => {
            let mut row = ResourceStatus::new(manifest, DriftState::Error).with_live(live);
            row.error = Some(error.server_message());
            row
        }
    }
}

pub(super) fn orphan_row(
    id: ResourceId,
    live: &Value,
    rules: &[IgnoreRule],
    texts: bool,
) -> ResourceStatus {
    let api_version = live
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let live_yaml = if texts {
        shown_yaml(&id, Some(live), live, rules)
    } else {
        None
    };
    let row = ResourceStatus {
        live_yaml,
        ..ResourceStatus::blank(id, api_version, DriftState::Orphaned)
    };
    row.with_live(live)
}

/// Puts each render error on the rows it concerns: the rows of the document or unit it names
/// (a HelmRelease whose chart did not render: its own row), then the rows those own (the
/// chart's objects, compared with the deployed release instead). The first error a row meets
/// stays.
pub(super) fn attach_render_errors(rows: &mut [ResourceStatus], errors: &[RenderError]) {
    for error in errors {
        let unit_dir = format!("{}/", error.file);
        let in_error = |source: &Source| {
            (source.file == error.file
                && error
                    .line
                    .is_none_or(|line| source.line <= line && line <= source.end_line))
                || source.file.starts_with(&unit_dir)
        };
        let failed: Vec<ResourceId> = rows
            .iter()
            .filter(|r| r.source.as_ref().is_some_and(in_error))
            .map(|r| r.id.clone())
            .collect();
        let text = error.to_string();
        for row in rows.iter_mut() {
            let owned = matches!(&row.owner, Some(ResourceOwner::Controller(owner)) if failed.contains(&owner.id));
            if owned || row.source.as_ref().is_some_and(in_error) {
                row.render_error.get_or_insert_with(|| text.clone());
            }
        }
    }
}

/// An object normalized, stripped and masked, as YAML; `None` if it cannot be written.
pub(super) fn shown_yaml(
    id: &ResourceId,
    raw_live: Option<&Value>,
    object: &Value,
    rules: &[IgnoreRule],
) -> Option<String> {
    let [prepared] = prepare_objects(id, raw_live, [object], rules).ok()?;
    to_yaml(&prepared).ok()
}

/// Whether the live object's managedFields show a field our manager applied that `desired`
/// no longer sets: a dry-run would remove it, so the client comparison alone cannot say Synced.
/// Tracking keys sync adds (ApplySet label, revision and source annotations) do not count.
pub(super) fn owns_unsent_fields(live: &Value, desired: &Value) -> bool {
    let entries = live
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    entries
        .iter()
        .filter(|entry| {
            entry.get("manager").and_then(Value::as_str) == Some(FIELD_MANAGER)
                && entry.get("operation").and_then(Value::as_str) == Some("Apply")
                && entry
                    .get("subresource")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
        })
        .any(
            |entry| match entry.get("fieldsV1").map(FieldSet::from_fields_v1) {
                Some(Ok(set)) => set_exceeds(&set, desired, &[]),
                // Unreadable: let the server decide.
                Some(Err(_)) => true,
                None => false,
            },
        )
}

/// Whether `set` names a field `desired` lacks. `path` holds the map keys above, to spot the
/// tracking keys under `metadata.labels` / `metadata.annotations`.
fn set_exceeds(set: &FieldSet, desired: &Value, path: &[&str]) -> bool {
    set.entries()
        .any(|(element, child)| match (element, desired) {
            (PathElement::Field(name), Value::Object(map)) => {
                let tracking = match path {
                    ["metadata", "labels"] => IGNORED_LABELS.contains(&name.as_str()),
                    ["metadata", "annotations"] => IGNORED_ANNOTATIONS.contains(&name.as_str()),
                    _ => false,
                };
                if tracking {
                    return false;
                }
                let mut below = path.to_vec();
                below.push(name);
                match map.get(name) {
                    // A map desired lacks altogether: what is below decides, since tracking
                    // keys live in maps (labels, annotations) a manifest may not have.
                    None if !child.is_empty() => {
                        set_exceeds(child, &Value::Object(serde_json::Map::new()), &below)
                    }
                    None => true,
                    Some(value) => set_exceeds(child, value, &below),
                }
            }
            (PathElement::Key(key), Value::Array(items)) => {
                let item = items
                    .iter()
                    .find(|item| item_has_key(item, key, key_default));
                item.is_none_or(|item| set_exceeds(child, item, &[]))
            }
            (PathElement::Value(value), Value::Array(items)) => !items.contains(value),
            (PathElement::Index(n), Value::Array(items)) => items
                .get(*n)
                .is_none_or(|item| set_exceeds(child, item, &[])),
            // The shapes disagree: not provably unchanged.
            _ => true,
        })
}
