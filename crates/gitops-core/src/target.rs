//! The environment a command works on: SPEC §2's global flags, declared once.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use gitops_cluster::{ClusterClient, ClusterError};
use gitops_render::{LiveObjects, RenderOptions};
use serde_json::Value;

/// Where the environment's desired state is in git and which cluster holds its live state
/// (`-C`, `--path`, `--rev`, `-n`, `--kubeconfig`, `--context`, and the kubectl that builds
/// kustomize units). Every use case's options and the UI's start from one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `-C`: any directory inside the environment repo (or a bare repo).
    pub repo: PathBuf,
    /// `--path`: the environment's directory in the repo, `/`-separated, `""` for the root.
    pub path: String,
    /// `--rev`: the commit (for sync, an older one rolls back).
    pub rev: String,
    /// `-n`: namespace for manifests that set none (and for RESOURCE filters); `None` for the
    /// context's.
    pub namespace: Option<String>,
    /// `--kubeconfig`; `None` for `$KUBECONFIG`, then `~/.kube/config`.
    pub kubeconfig: Option<PathBuf>,
    /// `--context`; `None` for the current context.
    pub context: Option<String>,
    /// kubectl for kustomize units; `None` for `$KUBECTL_PATH`, else `kubectl` on `PATH`.
    pub kubectl: Option<PathBuf>,
}

impl Default for Target {
    /// The current directory's repo, its root, `HEAD`, the kubeconfig's current context.
    fn default() -> Self {
        Target {
            repo: PathBuf::from("."),
            path: String::new(),
            rev: "HEAD".to_owned(),
            namespace: None,
            kubeconfig: None,
            context: None,
            kubectl: None,
        }
    }
}

impl Target {
    /// `--path` as the repo spells it: `/`-separated, no `./`, no trailing `/` (`""` for the
    /// root).
    pub fn env_path(&self) -> String {
        gitops_git::normalize_path(&self.path)
    }

    /// The same environment at another revision (the UI's selected commit).
    pub fn at(&self, rev: impl Into<String>) -> Target {
        Target {
            rev: rev.into(),
            ..self.clone()
        }
    }

    /// How the environment renders: `--path`, the kubectl for kustomize units, and for
    /// manifests that set no namespace `-n`, else the context's, else `default`. The context's
    /// is `cluster`'s; without a client (offline) it is read from the kubeconfig, with no
    /// request. Scopes are the built-in table's and the cache is in memory until the caller
    /// sets others. With a cluster, what the environment's controllers read live and it does
    /// not define (a Flux `substituteFrom` ConfigMap or Secret) is read from that cluster
    /// ([`RenderOptions::live`]); without one (offline) it is not.
    pub(crate) async fn render_options(&self, cluster: Option<&ClusterClient>) -> RenderOptions {
        let context_namespace = match cluster {
            Some(cluster) => Some(cluster.default_namespace().to_owned()),
            None if self.namespace.is_none() => {
                gitops_cluster::context_namespace(
                    self.kubeconfig.as_deref(),
                    self.context.as_deref(),
                )
                .await
            }
            None => None,
        };
        let namespace = self
            .namespace
            .clone()
            .or(context_namespace)
            .unwrap_or_else(|| "default".to_owned());
        let mut render_opts = RenderOptions::new(self.path.clone(), namespace);
        render_opts.kubectl = self.kubectl.clone();
        if cluster.is_some() {
            render_opts.live = Some(live_objects(self.kubeconfig.clone(), self.context.clone()));
        }
        render_opts
    }
}

/// A read of [`live_objects`]: the object, `None` when absent, or why it could not be read.
type LiveRead = Result<Option<Value>, String>;

/// [`RenderOptions::live`] for the cluster of `kubeconfig` and `context`: each object is read
/// once per command (every render of the command, a history's commits included, sees the same
/// value), on demand (most environments never need one).
///
/// Why a thread and a runtime of its own for each read, rather than the command's client: a
/// render calls this synchronously from wherever it runs — plain threads of its own, the
/// blocking pool, `block_in_place` on a multi-thread runtime, and, in the UI, the one thread
/// that drives its current-thread runtime (the head render stays on the evaluating thread).
/// The command's client needs that runtime to make progress (its request buffer is a task
/// there), so waiting on it from the thread that drives it would deadlock, and
/// `Handle::block_on` panics on a runtime's own thread. A fresh thread is in no runtime, and
/// its runtime is driven by the wait itself, so the read depends on none of the caller's.
/// Prefetching instead is not possible: which objects are needed is known only while
/// rendering (a Kustomization may apply another that names them).
fn live_objects(kubeconfig: Option<PathBuf>, context: Option<String>) -> LiveObjects {
    let read: Mutex<HashMap<(String, String, String), LiveRead>> = Mutex::default();
    Arc::new(move |kind: &str, namespace: &str, name: &str| {
        let key = (kind.to_owned(), namespace.to_owned(), name.to_owned());
        let mut known = read.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(hit) = known.get(&key) {
            return hit.clone();
        }
        let fetched = std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    read_live(
                        kubeconfig.as_deref(),
                        context.as_deref(),
                        kind,
                        namespace,
                        name,
                    )
                })
                .join()
                .unwrap_or_else(|_| Err(format!("reading {kind} {namespace}/{name} failed")))
        });
        known.insert(key, fetched.clone());
        fetched
    })
}

/// One core object of the cluster, read on this (runtime-free) thread.
fn read_live(
    kubeconfig: Option<&Path>,
    context: Option<&str>,
    kind: &str,
    namespace: &str,
    name: &str,
) -> LiveRead {
    let plural = match kind {
        "ConfigMap" => "configmaps",
        "Secret" => "secrets",
        other => return Err(format!("kind {other} is not read from the cluster")),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a thread to read the cluster: {e}"))?;
    let resource = gitops_cluster::core_resource(kind, plural);
    let result = runtime.block_on(async {
        let cluster = ClusterClient::connect(kubeconfig, context).await?;
        cluster.get(&resource, Some(namespace), name).await
    });
    result.map_err(|error| read_error(&error, plural, namespace))
}

/// A failed read of [`read_live`] as the render's error shows it: the request and the
/// server's reason, then what to do.
fn read_error(error: &ClusterError, plural: &str, namespace: &str) -> String {
    let next = match error {
        ClusterError::Api { code: 403, .. } => format!(
            "; grant get on {plural} in namespace {namespace} (`kubectl auth can-i get \
             {plural} -n {namespace}`), or define it in the environment"
        ),
        ClusterError::Unreachable { .. } | ClusterError::Kubeconfig { .. } => {
            "; or define it in the environment, or pass --offline".to_owned()
        }
        _ => "; retry, or define it in the environment".to_owned(),
    };
    format!("{error}{next}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forbidden_read_names_the_permission_to_grant() {
        let error = ClusterError::Api {
            what: "get v1 secrets vars in flux-system".to_owned(),
            code: 403,
            reason: "Forbidden".to_owned(),
            message:
                "secrets \"vars\" is forbidden: User \"viewer\" cannot get resource \"secrets\""
                    .to_owned(),
        };
        assert_eq!(
            read_error(&error, "secrets", "flux-system"),
            "get v1 secrets vars in flux-system: secrets \"vars\" is forbidden: User \"viewer\" \
             cannot get resource \"secrets\" (403 Forbidden); grant get on secrets in namespace \
             flux-system (`kubectl auth can-i get secrets -n flux-system`), or define it in the \
             environment"
        );
    }

    #[test]
    fn at_changes_the_revision_only() {
        let target = Target {
            path: "envs/prod".into(),
            namespace: Some("web".into()),
            context: Some("kind".into()),
            ..Target::default()
        };
        let older = target.at("HEAD~3");
        assert_eq!(older.rev, "HEAD~3");
        assert_eq!(
            Target {
                rev: "HEAD".into(),
                ..older
            },
            target
        );
    }
}
