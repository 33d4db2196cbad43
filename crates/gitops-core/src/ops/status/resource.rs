//! [`evaluate_resource`]: one row of a report evaluated again, with its texts.

use kube::core::ApiResource;
use serde_json::Value;

use crate::drift::{Strategy, compare_client};
use gitops_cluster::{ClusterClient, ClusterError};
use gitops_git::EnvRepo;
use gitops_render::RenderCache;
use k8s_model::{DriftState, ResourceId, Source, split_api_version};

use super::rows::{
    compared_row, dry_run_row, error_row, orphan_row, owns_unsent_fields, shown_yaml,
};
use super::{ResourceStatus, StatusError, StatusOptions, blocking, discovered_scope};

/// Evaluates one resource of a report again, with both texts of its diff (`live_yaml`,
/// `desired_yaml`) exactly as [`evaluate_with`](super::evaluate_with) makes them with [`StatusOptions::texts`]: for
/// the UI's Detail pane, whose evaluations leave texts out. Renders only the resource's source
/// file (its kustomize unit, if any), GETs the live object and, for the server strategy, makes
/// the same dry-run decision. `api_version` and `source` come from the report's row (`source`
/// is `None` for an orphan). `lastCommit` and `matchesRevision` are left out.
pub async fn evaluate_resource(
    cluster: &ClusterClient,
    opts: &StatusOptions,
    id: &ResourceId,
    api_version: &str,
    source: Option<&Source>,
) -> Result<ResourceStatus, StatusError> {
    let repo_dir = opts.target.repo.clone();
    let rev = opts.target.rev.clone();
    let (repo, commit) = blocking(move || {
        let repo = EnvRepo::open(&repo_dir)?;
        let commit = repo.resolve(&rev)?;
        Ok((repo, commit))
    })
    .await?;
    // The resource's group decides its identity; the file's other kinds are not compared.
    let discovery = cluster.discovery_of([id.group.as_str()]).await?;
    let mut render_opts = opts.target.render_options(Some(cluster)).await;
    render_opts.scope = discovered_scope(&discovery);
    render_opts.cache = RenderCache::on_disk(&repo.git_dir());
    let path = opts.target.path.clone();
    let file = source.map(|s| s.file.clone());
    let (manifest, rules) = blocking(move || match file {
        Some(file) => {
            let rendered = gitops_render::render_file(&repo, commit, &render_opts, &file)?;
            Ok((rendered.manifests, rendered.config.ignore_differences))
        }
        None => {
            let config = gitops_render::load_config(&repo, commit, &path)?;
            Ok((Vec::new(), config.ignore_differences))
        }
    })
    .await?;
    let manifest = manifest.into_iter().find(|m| &m.id == id);
    let rules = rules.as_slice();
    let gone = |what: String| StatusError::Gone {
        what,
        revision: opts.target.rev.clone(),
    };

    let Some(manifest) = manifest else {
        if let Some(source) = source {
            return Err(gone(format!(
                "{} is no longer defined in {}",
                id, source.file
            )));
        }
        // An orphan: its live object alone.
        let (group, version) = split_api_version(api_version);
        let resource = discovery
            .resolve(group, version, &id.kind)
            .map_err(|not_served| gone(not_served.message(api_version, &id.kind)))?
            .resource
            .clone();
        let live = list_one(cluster, &resource, id.namespace.as_deref(), &id.name)
            .await?
            .ok_or_else(|| gone(format!("{id} no longer exists in the cluster")))?;
        return Ok(orphan_row(id.clone(), &live, rules, true));
    };

    let (group, version) = split_api_version(&manifest.api_version);
    let resource = match discovery.resolve(group, version, &manifest.id.kind) {
        Ok(kind) => kind.resource.clone(),
        Err(not_served) => {
            let mut row = ResourceStatus::new(&manifest, DriftState::Unknown);
            row.error = Some(not_served.message(&manifest.api_version, &manifest.id.kind));
            row.desired_yaml = shown_yaml(&manifest.id, None, &manifest.object, rules);
            return Ok(row);
        }
    };
    let live = match list_one(
        cluster,
        &resource,
        manifest.id.namespace.as_deref(),
        &manifest.id.name,
    )
    .await
    {
        Ok(Some(live)) => live,
        Ok(None) => {
            let mut row = ResourceStatus::new(&manifest, DriftState::Missing);
            row.desired_yaml = shown_yaml(&manifest.id, None, &manifest.object, rules);
            return Ok(row);
        }
        Err(error) => {
            let mut row = ResourceStatus::new(&manifest, DriftState::Error);
            row.error = Some(error.to_string());
            return Ok(row);
        }
    };
    let client = compare_client(&manifest.id, &manifest.object, &live, rules);
    Ok(match (opts.strategy, client) {
        (_, Err(error)) => error_row(&manifest, Some(&live), &error),
        (Strategy::Client, Ok(comparison)) => {
            compared_row(&manifest, &live, comparison, Strategy::Client, true)
        }
        (Strategy::Server, Ok(comparison))
            if !comparison.is_drifted() && !owns_unsent_fields(&live, &manifest.object) =>
        {
            compared_row(&manifest, &live, comparison, Strategy::Server, true)
        }
        (Strategy::Server, Ok(comparison)) => {
            dry_run_row(
                cluster, &manifest, &resource, &live, comparison, rules, true,
            )
            .await
        }
    })
}

/// One object as [`evaluate_with`](super::evaluate_with) sees it: through a LIST (`fieldSelector=metadata.name`),
/// whose items differ from a GET's answer in shape (the server leaves `apiVersion` and `kind`
/// out of built-in kinds' items; the cluster client puts them first), so that the texts made
/// from it are the same. `None` when it does not exist.
async fn list_one(
    cluster: &ClusterClient,
    resource: &ApiResource,
    namespace: Option<&str>,
    name: &str,
) -> Result<Option<Value>, ClusterError> {
    // Transient failures (5xx, 429) are retried: a row re-checked after a live change, or
    // the Detail pane's texts, must not turn into an error on one.
    let page = cluster.list_by_name(resource, namespace, name).await?;
    let item = match page {
        Value::Object(mut page) => match page.remove("items") {
            Some(Value::Array(items)) => items
                .into_iter()
                .find(|item| item.pointer("/metadata/name").and_then(Value::as_str) == Some(name)),
            _ => None,
        },
        _ => None,
    };
    Ok(item.map(|item| gitops_cluster::with_type_meta(item, resource)))
}
