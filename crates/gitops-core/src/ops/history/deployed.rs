//! The deployed revision: which commit the live state matches (SPEC §7), from the cluster.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use futures::StreamExt;
use kube::core::ApiResource;
use serde_json::Value;

use super::walk::{ChangeWalk, Objects};
use super::{History, HistoryOpsError};
use crate::drift::compare_client;
use crate::ops::status::ResourceFilter;
use gitops_cluster::{ClusterClient, ClusterError, Discovery};
use gitops_git::{EnvRepo, ObjectId};
use gitops_render::RenderOptions;
use k8s_model::{IgnoreRule, ResourceId, split_api_version};

/// Whether `live` satisfies `desired` (client comparison, SPEC §4); `None` live satisfies
/// only an absent desired.
fn satisfies(
    id: &ResourceId,
    desired: Option<&Value>,
    live: Option<&Value>,
    rules: &[IgnoreRule],
) -> bool {
    match (desired, live) {
        (None, None) => true,
        (Some(desired), Some(live)) => {
            compare_client(id, desired, live, rules).is_ok_and(|c| !c.is_drifted())
        }
        _ => false,
    }
}

/// Marks the newest listed commit the live state matches and returns its id. With RESOURCE:
/// the newest commit whose version of it live satisfies. Without: the newest commit at which
/// every resource of the environment is satisfied, tracking the environment backwards from
/// `--rev` through each commit's changes.
pub(super) fn mark_live(
    history: &mut History,
    head_objects: &Objects,
    live: &HashMap<ResourceId, Value>,
    rules: &[IgnoreRule],
    filter: Option<&ResourceFilter>,
) -> Option<String> {
    if filter.is_some() {
        for c in &mut history.commits {
            let all = c.changes.iter().all(|change| {
                satisfies(
                    &change.id,
                    change.after.as_ref(),
                    live.get(&change.id),
                    rules,
                )
            });
            if all {
                c.matches_live = true;
                return Some(c.commit.id.clone());
            }
        }
        return None;
    }
    let mut unsatisfied: BTreeSet<ResourceId> = head_objects
        .iter()
        .filter(|(id, (_, object, _))| !satisfies(id, Some(object), live.get(*id), rules))
        .map(|(id, _)| id.clone())
        .collect();
    for c in &mut history.commits {
        if unsatisfied.is_empty() {
            c.matches_live = true;
            return Some(c.commit.id.clone());
        }
        // Step to the parent's environment.
        for change in &c.changes {
            unsatisfied.remove(&change.id);
            if let Some(before) = &change.before
                && !satisfies(&change.id, Some(before), live.get(&change.id), rules)
            {
                unsatisfied.insert(change.id.clone());
            }
        }
    }
    None
}

/// (apiVersion, plural, namespace): one LIST each.
type LiveKey = (String, String, Option<String>);

/// The live objects of `wanted` (identity → apiVersion), by one LIST per kind and namespace.
/// Kinds the cluster does not serve are left out.
pub async fn live_objects(
    cluster: &ClusterClient,
    discovery: &Discovery,
    wanted: &HashMap<ResourceId, String>,
) -> Result<HashMap<ResourceId, Value>, ClusterError> {
    let mut groups: BTreeMap<LiveKey, (ApiResource, BTreeSet<ResourceId>)> = BTreeMap::new();
    for (id, api_version) in wanted {
        let (group, version) = split_api_version(api_version);
        let Ok(served) = discovery
            .resolve(group, version, &id.kind)
            .or_else(|_| discovery.preferred_kind(&id.group, &id.kind).ok_or(()))
        else {
            continue;
        };
        let resource = &served.resource;
        groups
            .entry((
                resource.api_version.clone(),
                resource.plural.clone(),
                id.namespace.clone(),
            ))
            .or_insert_with(|| (resource.clone(), BTreeSet::new()))
            .1
            .insert(id.clone());
    }
    let listed: Vec<Result<Vec<(ResourceId, Value)>, ClusterError>> = futures::stream::iter(groups)
        .map(|((_, _, namespace), (resource, ids))| async move {
            let objects = cluster.list(&resource, namespace.as_deref(), None).await?;
            Ok(objects
                .into_iter()
                .filter_map(|object| {
                    let name = object.pointer("/metadata/name")?.as_str()?;
                    let id = ids.iter().find(|id| id.name == name)?.clone();
                    Some((id, object))
                })
                .collect())
        })
        .buffer_unordered(cluster.concurrency())
        .collect()
        .await;
    let mut live = HashMap::new();
    for result in listed {
        match result {
            Ok(objects) => live.extend(objects),
            Err(error) if error.is_forbidden() => continue,
            Err(error) => return Err(error),
        }
    }
    Ok(live)
}

/// SPEC §7 `matchesRevision` for each target: the newest commit in its history (first
/// parents from `head` that changed it, at most `limit` commits that changed `--path`) whose
/// version of it the live object satisfies (client comparison). Targets not found stay out.
pub fn matches_revisions(
    repo: &EnvRepo,
    head: ObjectId,
    opts: &RenderOptions,
    targets: &HashMap<ResourceId, Value>,
    rules: &[IgnoreRule],
    limit: usize,
) -> Result<HashMap<ResourceId, String>, HistoryOpsError> {
    let mut found = HashMap::new();
    let mut remaining: BTreeSet<&ResourceId> = targets.keys().collect();
    let mut walk = ChangeWalk::new(repo, head, opts, true)?;
    for step in walk.by_ref().take(limit) {
        if remaining.is_empty() {
            break;
        }
        let step = step?;
        for change in &step.changes {
            if !remaining.contains(&change.id) {
                continue;
            }
            let Some(after) = &change.after else {
                continue;
            };
            if satisfies(&change.id, Some(after), targets.get(&change.id), rules) {
                remaining.remove(&change.id);
                found.insert(change.id.clone(), step.commit.to_string());
            }
        }
    }
    walk.finish()?;
    Ok(found)
}
