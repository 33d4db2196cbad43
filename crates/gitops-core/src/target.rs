//! The environment a command works on: SPEC §2's global flags, declared once.

use std::path::PathBuf;

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
