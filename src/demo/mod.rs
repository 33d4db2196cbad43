//! The demo environment (SPEC §10): a sample repo with history and drift on an in-process
//! sandbox, needing nothing installed (no cluster, no kubectl, no git CLI).
//!
//! [`Demo::start`] lays out, in one directory:
//! - `env-repo/`: the sample repo ([`sample`]), the environment at [`ENV_PATH`];
//! - `kubeconfig`: for the sandbox, which serves on 127.0.0.1 from this process;
//! - `sandbox-state.json` when asked for, so the sandbox can be restarted with `--state`;
//!
//! then syncs [`SYNCED_REV`] and makes drift by hand ([`live`]).

pub mod live;
pub mod sample;

use std::path::{Path, PathBuf};

use crate::cluster::{ClusterClient, ClusterError};
use crate::model::CommitInfo;
use crate::repo::{EnvRepo, ObjectId, RepoError};
use crate::sandbox::{Sandbox, SandboxError, SandboxOptions};

/// Directory of the environment inside the sample repo (`--path`).
pub const ENV_PATH: &str = "envs/demo";

/// The commit the demo syncs: older than HEAD, so that history has something to show and a sync
/// of HEAD is visible.
pub const SYNCED_REV: &str = "HEAD~2";

/// Name of the sample repo's directory.
pub const REPO_DIR: &str = "env-repo";

/// Name of the sandbox's kubeconfig file.
pub const KUBECONFIG_FILE: &str = "kubeconfig";

/// Name of the sandbox's state file.
pub const STATE_FILE: &str = "sandbox-state.json";

/// How long Deployments' status takes to follow their spec: short, so the demo's workloads turn
/// ready while the user looks.
const ROLLOUT_DELAY_MS: u64 = 300;

/// Errors setting up the demo; each names the file, commit or object involved.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The demo directory could not be created.
    #[error("cannot create the demo directory {dir}: {source}; set TMPDIR to a writable directory")]
    Workspace {
        /// The directory.
        dir: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The sample repo could not be written.
    #[error("cannot write the sample repo in {dir}: {what}: {message}")]
    Repo {
        /// The repo directory.
        dir: PathBuf,
        /// The step that failed (`git init`, `commit "..."`, `check out HEAD`).
        what: String,
        /// What gix said.
        message: String,
    },
    /// The sample repo could not be read back.
    #[error(transparent)]
    Read(#[from] RepoError),
    /// The environment did not render at a commit.
    #[error("cannot render {ENV_PATH} at commit {commit}: {message}")]
    Render {
        /// The commit.
        commit: ObjectId,
        /// What went wrong.
        message: String,
    },
    /// The sandbox did not start or stop cleanly.
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    /// The sandbox could not be reached.
    #[error(transparent)]
    Cluster(ClusterError),
    /// A write to the sandbox failed.
    #[error("cannot {what} in the demo sandbox: {message}")]
    Write {
        /// The write, naming the object.
        what: String,
        /// The server's message.
        message: String,
    },
}

/// A running demo: the sample repo and the sandbox serving its drifted live state.
pub struct Demo {
    dir: PathBuf,
    repo: PathBuf,
    state: Option<PathBuf>,
    synced: CommitInfo,
    head: CommitInfo,
    sandbox: Sandbox,
}

impl Demo {
    /// Creates `dir` (it must not exist yet, or be empty), writes the sample repo, starts the
    /// sandbox in this tokio runtime, syncs [`SYNCED_REV`] and makes the drift. With
    /// `keep_state`, the sandbox keeps its objects in [`STATE_FILE`] for a later
    /// `kubectl gitops sandbox --state`. On error, what was created stays for the caller to
    /// remove.
    pub async fn start(dir: &Path, keep_state: bool) -> Result<Demo, DemoError> {
        std::fs::create_dir_all(dir).map_err(|source| DemoError::Workspace {
            dir: dir.to_path_buf(),
            source,
        })?;
        let repo_dir = dir.join(REPO_DIR);
        let (repo, head, synced) = {
            let target = repo_dir.clone();
            tokio::task::spawn_blocking(move || -> Result<_, DemoError> {
                sample::write_repo(&target)?;
                let repo = EnvRepo::open(&target)?;
                let head = repo.resolve("HEAD")?;
                let synced = repo.resolve(SYNCED_REV)?;
                Ok((repo, head, synced))
            })
            .await
            .map_err(|e| DemoError::Repo {
                dir: repo_dir.clone(),
                what: "write the sample repo".into(),
                message: e.to_string(),
            })??
        };
        let state = keep_state.then(|| dir.join(STATE_FILE));
        let sandbox = Sandbox::start(SandboxOptions {
            port: 0,
            kubeconfig_out: Some(dir.join(KUBECONFIG_FILE)),
            state: state.clone(),
            rollout_delay_ms: ROLLOUT_DELAY_MS,
            ..SandboxOptions::default()
        })
        .await?;
        let client = ClusterClient::connect(Some(sandbox.kubeconfig()), None)
            .await
            .map_err(DemoError::Cluster)?;
        live::sync_commit(&client, &repo, ENV_PATH, synced).await?;
        live::make_drift(&client).await?;
        Ok(Demo {
            dir: dir.to_path_buf(),
            repo: repo_dir,
            state,
            synced: repo.commit_info(synced)?,
            head: repo.commit_info(head)?,
            sandbox,
        })
    }

    /// The directory holding everything.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The sample repo's work tree (`-C`).
    pub fn repo(&self) -> &Path {
        &self.repo
    }

    /// The sandbox's kubeconfig (`--kubeconfig`).
    pub fn kubeconfig(&self) -> &Path {
        self.sandbox.kubeconfig()
    }

    /// The sandbox's state file, when kept.
    pub fn state(&self) -> Option<&Path> {
        self.state.as_deref()
    }

    /// The commit synced to the sandbox.
    pub fn synced(&self) -> &CommitInfo {
        &self.synced
    }

    /// The sample repo's HEAD.
    pub fn head(&self) -> &CommitInfo {
        &self.head
    }

    /// Stops the sandbox, writing its state file when kept. Files stay for the caller.
    pub async fn shutdown(self) -> Result<(), DemoError> {
        self.sandbox.shutdown().await?;
        Ok(())
    }
}
