//! Controllers: status follows spec after `rollout_delay_ms`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::pipeline::{canonical_order, has_generation, is_builtin, with_field_manager};
use super::{Deferred, RolloutJob, finalize_namespace};
use crate::apply;
use crate::controller;
use crate::server::{Shared, guarded};
use crate::store::{ResourceKey, now_rfc3339};

/// An object a rollout is pending for.
pub type RolloutKey = (ResourceKey, String, String);

/// Runs deferred controller work in the background.
pub fn schedule(shared: Arc<Shared>, work: Deferred) {
    match work {
        Deferred::Rollout(job) => schedule_rollout(shared, job),
        Deferred::FinalizeNamespace(ns) => {
            // The namespace controller takes a moment, as on a real cluster.
            let delay = Duration::from_millis(shared.opts.rollout_delay_ms.clamp(200, 2_000));
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                finalize_namespace(&shared, &ns);
            });
        }
    }
}

/// After a restart: rollouts the previous process did not finish (status behind generation).
pub fn resume_rollouts(shared: &Arc<Shared>) {
    let mut due = Vec::new();
    {
        let store = shared.lock();
        for kind in store.kinds().iter() {
            if !(kind.status_subresource && has_generation(kind) && is_builtin(kind)) {
                continue;
            }
            for obj in store.list(&ResourceKey::of(kind), None) {
                let v = obj.value();
                let generation = v.pointer("/metadata/generation");
                if generation.is_some() && v.pointer("/status/observedGeneration") != generation {
                    due.push(RolloutJob {
                        kind: kind.clone(),
                        namespace: obj.namespace.clone(),
                        name: obj.name.clone(),
                    });
                }
            }
        }
    }
    for job in due {
        schedule_rollout(shared.clone(), job);
    }
}

/// Makes the object's status converge `rollout_delay_ms` after its last spec change; one task per
/// object however many changes come in meanwhile.
fn schedule_rollout(shared: Arc<Shared>, job: RolloutJob) {
    let delay = Duration::from_millis(shared.opts.rollout_delay_ms);
    let key: RolloutKey = (
        ResourceKey::of(&job.kind),
        job.namespace.clone(),
        job.name.clone(),
    );
    {
        let mut pending = shared
            .pending_rollouts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let already = pending
            .insert(key.clone(), Instant::now() + delay)
            .is_some();
        if already {
            return;
        }
    }
    tokio::spawn(async move {
        loop {
            let due = shared
                .pending_rollouts
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get(&key)
                .copied();
            let Some(due) = due else { return };
            let now = Instant::now();
            if due > now {
                tokio::time::sleep(due - now).await;
                continue;
            }
            shared
                .pending_rollouts
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .remove(&key);
            break;
        }
        converge(&shared, &job);
    });
}

fn converge(shared: &Shared, job: &RolloutJob) {
    let mut store = shared.lock();
    let res = ResourceKey::of(&job.kind);
    let Some(current) = store.get(&res, &job.namespace, &job.name) else {
        return;
    };
    let old = current.value();
    let Some(Some(status)) = guarded("controller::converged_status", || {
        controller::converged_status(&job.kind, &old)
    }) else {
        return;
    };
    if old.get("status") == Some(&status) {
        return;
    }
    let mut new = old.clone();
    new["status"] = status;
    let now = now_rfc3339();
    let manager = "kube-controller-manager";
    with_field_manager(&store, &job.kind, manager, &now, Some("status"), |ctx| {
        guarded("apply::record_update", || {
            apply::record_update(Some(&old), &mut new, ctx)
        })
    });
    canonical_order(&mut new);
    if let Err(e) = store.put(&res, &mut new) {
        tracing::error!("sandbox: cannot store the status of {}: {e}", job.name);
    }
}
