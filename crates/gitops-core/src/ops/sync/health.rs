//! Health waits after the applies (`--wait`).

use std::time::Duration;

use futures::StreamExt;
use serde::Serialize;
use serde_json::Value;

use super::execute::condition_true;
use super::{POLL_INTERVAL, PlannedResource, SyncPlan};
use gitops_cluster::{ClusterClient, ClusterError};
use k8s_model::ResourceId;

/// A workload still not healthy when `--wait` gave up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Unhealthy {
    /// The workload.
    pub id: ResourceId,
    /// What it still lacks (`1/2 replicas available`).
    pub reason: String,
}

/// Waits until every workload of the plan is healthy (SPEC §6: Deployment, StatefulSet,
/// DaemonSet rolled out; Job complete; others present), up to `timeout`. Returns the ones
/// still unhealthy at the deadline (empty: all healthy).
pub async fn wait_healthy(
    cluster: &ClusterClient,
    plan: &SyncPlan,
    timeout: Duration,
) -> Result<Vec<Unhealthy>, ClusterError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut pending: Vec<&PlannedResource> = plan.resources.iter().collect();
    let cluster = &cluster.clone().with_concurrency(plan.concurrency);
    loop {
        let checks: Vec<(usize, Result<Option<String>, ClusterError>)> =
            futures::stream::iter(pending.iter().enumerate())
                .map(|(index, p)| async move {
                    let object = cluster
                        .get(&p.resource, p.id.namespace.as_deref(), &p.id.name)
                        .await;
                    (
                        index,
                        object.map(|o| match o {
                            None => Some("not found".to_owned()),
                            Some(o) => unhealthy_reason(&p.id, &o),
                        }),
                    )
                })
                .buffer_unordered(plan.concurrency)
                .collect()
                .await;
        let mut still = Vec::new();
        for (index, check) in checks {
            if let Some(reason) = check? {
                still.push((index, reason));
            }
        }
        still.sort();
        if still.is_empty() {
            return Ok(Vec::new());
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(still
                .into_iter()
                .map(|(index, reason)| Unhealthy {
                    id: pending[index].id.clone(),
                    reason,
                })
                .collect());
        }
        pending = still.into_iter().map(|(index, _)| pending[index]).collect();
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// Why a live workload is not healthy yet; `None` when it is.
pub(super) fn unhealthy_reason(id: &ResourceId, live: &Value) -> Option<String> {
    let int = |pointer: &str| live.pointer(pointer).and_then(Value::as_i64);
    let generation = int("/metadata/generation").unwrap_or(0);
    let observed = int("/status/observedGeneration").unwrap_or(0);
    let rolled_out = |wanted: i64, updated: i64, available: i64, total: Option<i64>| {
        if observed < generation {
            Some(format!(
                "observedGeneration {observed} behind generation {generation}"
            ))
        } else if updated < wanted {
            Some(format!("{updated}/{wanted} replicas updated"))
        } else if available < wanted {
            Some(format!("{available}/{wanted} replicas available"))
        } else if total.is_some_and(|t| t > wanted) {
            Some(format!(
                "{} old replicas pending termination",
                total.unwrap_or(0) - wanted
            ))
        } else {
            None
        }
    };
    match (id.group.as_str(), id.kind.as_str()) {
        ("apps", "Deployment") => {
            let wanted = int("/spec/replicas").unwrap_or(1);
            rolled_out(
                wanted,
                int("/status/updatedReplicas").unwrap_or(0),
                int("/status/availableReplicas").unwrap_or(0),
                int("/status/replicas"),
            )
        }
        ("apps", "StatefulSet") => {
            let wanted = int("/spec/replicas").unwrap_or(1);
            rolled_out(
                wanted,
                int("/status/updatedReplicas").unwrap_or(0),
                int("/status/availableReplicas")
                    .or_else(|| int("/status/readyReplicas"))
                    .unwrap_or(0),
                None,
            )
        }
        ("apps", "DaemonSet") => {
            let wanted = int("/status/desiredNumberScheduled").unwrap_or(0);
            rolled_out(
                wanted,
                int("/status/updatedNumberScheduled").unwrap_or(0),
                int("/status/numberAvailable").unwrap_or(0),
                None,
            )
        }
        ("batch", "Job") => (!condition_true(live, "Complete")).then(|| "not complete".to_owned()),
        _ => None,
    }
}
