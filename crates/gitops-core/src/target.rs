//! The environment a command works on: SPEC §2's global flags, declared once.

use std::path::PathBuf;

use gitops_cluster::ClusterClient;
use gitops_render::RenderOptions;

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
    /// sets others.
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
        render_opts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
