//! Writes: server-side apply (real or dry-run, forced or not) and delete, with the same bounded
//! retries as reads. A 409 from a non-forced apply is [`ClusterError::is_conflict`].

use std::sync::atomic::Ordering;

use kube::core::params::{DeleteParams, Patch, PatchParams, PropagationPolicy};
use kube::core::{ApiResource, DynamicObject, Resource};
use serde_json::Value;

use super::{ClusterClient, ClusterError, FIELD_MANAGER, describe};

/// How an apply is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApplyMode {
    /// Take over fields other managers own (`force=true`).
    pub force: bool,
    /// `dryRun=All`: validate and return the result without persisting it.
    pub dry_run: bool,
}

impl ClusterError {
    /// Whether a non-forced apply was refused because another manager owns a field (409).
    pub fn is_conflict(&self) -> bool {
        self.code() == Some(409)
    }
}

impl ClusterClient {
    /// Server-side apply of `object` with field manager `kubectl-gitops`; returns the object
    /// as the server made it (or would make it, for a dry-run).
    pub async fn apply(
        &self,
        resource: &ApiResource,
        namespace: Option<&str>,
        name: &str,
        object: &Value,
        mode: ApplyMode,
    ) -> Result<Value, ClusterError> {
        let url = DynamicObject::url_path(resource, namespace);
        let verb = if mode.dry_run {
            "server-side apply dry-run of"
        } else {
            "server-side apply of"
        };
        let what = describe(verb, resource, namespace, name);
        let mut params = PatchParams::apply(FIELD_MANAGER);
        if mode.force {
            params = params.force();
        }
        if mode.dry_run {
            params = params.dry_run();
            self.stats.dry_runs.fetch_add(1, Ordering::Relaxed);
        }
        self.with_retry(&what, || {
            let request =
                kube::core::Request::new(url.clone()).patch(name, &params, &Patch::Apply(object));
            async move {
                let request = request.map_err(kube::Error::BuildRequest)?;
                self.client.request::<Value>(request).await
            }
        })
        .await
    }

    /// JSON merge patch (RFC 7386) of one object with field manager `kubectl-gitops`, as
    /// `kubectl patch --type=merge` sends it (`flux reconcile` and `flux suspend` patch their
    /// objects so); `dry_run` validates it (admission, RBAC) without persisting it.
    pub async fn merge_patch(
        &self,
        resource: &ApiResource,
        namespace: Option<&str>,
        name: &str,
        patch: &Value,
        dry_run: bool,
    ) -> Result<Value, ClusterError> {
        let url = DynamicObject::url_path(resource, namespace);
        let verb = if dry_run {
            "merge patch dry-run of"
        } else {
            "merge patch of"
        };
        let what = describe(verb, resource, namespace, name);
        let mut params = PatchParams {
            field_manager: Some(FIELD_MANAGER.to_owned()),
            ..PatchParams::default()
        };
        if dry_run {
            params = params.dry_run();
            self.stats.dry_runs.fetch_add(1, Ordering::Relaxed);
        }
        self.with_retry(&what, || {
            let request =
                kube::core::Request::new(url.clone()).patch(name, &params, &Patch::Merge(patch));
            async move {
                let request = request.map_err(kube::Error::BuildRequest)?;
                self.client.request::<Value>(request).await
            }
        })
        .await
    }

    /// Deletes one object (background propagation, as kubectl's prune); `Ok(false)` when it
    /// was already gone.
    pub async fn delete(
        &self,
        resource: &ApiResource,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<bool, ClusterError> {
        let url = DynamicObject::url_path(resource, namespace);
        let what = describe("delete", resource, namespace, name);
        let params = DeleteParams {
            propagation_policy: Some(PropagationPolicy::Background),
            ..DeleteParams::default()
        };
        let result = self
            .with_retry(&what, || {
                let request = kube::core::Request::new(url.clone()).delete(name, &params);
                async move {
                    let request = request.map_err(kube::Error::BuildRequest)?;
                    self.client.request::<Value>(request).await
                }
            })
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(error) if error.is_not_found() => Ok(false),
            Err(error) => Err(error),
        }
    }
}
