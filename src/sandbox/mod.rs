//! The embedded Kubernetes API server (SPEC §10): a stand-in for kube-apiserver on 127.0.0.1
//! that real `kubectl` and kube-rs accept, for trials, the demo and the test suite.
//!
//! Layering inside the sandbox:
//! - `kinds`: what is served (built-in kinds, kinds from CRDs);
//! - `schema`, `fieldset`, `apply`, `patch`: pure object algebra (SSA, managedFields, patches);
//! - `defaults`, `validation`, `controller`, `table`, `openapi`: pure per-kind behaviour;
//! - `store`: objects, resourceVersions, the watch event log, persistence;
//! - `server`: HTTP, routing, Status errors, faults; the only module doing network I/O.

pub mod apply;
pub mod controller;
pub mod defaults;
pub mod fieldset;
pub mod kinds;
pub mod naming;
pub mod openapi;
pub mod patch;
pub mod quantity;
pub mod schema;
pub mod server;
pub mod store;
pub mod table;
pub mod validation;

use std::net::SocketAddr;
use std::path::PathBuf;

/// How to run a sandbox: the `kubectl gitops sandbox` flags.
#[derive(Debug, Clone)]
pub struct SandboxOptions {
    /// TCP port on 127.0.0.1; 0 picks any free port.
    pub port: u16,
    /// Where to write the kubeconfig; `None`: a file in a fresh temp dir.
    pub kubeconfig_out: Option<PathBuf>,
    /// Keep objects across restarts in this file.
    pub state: Option<PathBuf>,
    /// Kubernetes version reported by `/version`, `major.minor` (kubectl's dispatcher picks by it).
    pub kube_version: String,
    /// Fraction of requests answered 500.
    pub fail_rate: f64,
    /// Fraction of requests answered 429 with `Retry-After: 1`.
    pub throttle_rate: f64,
    /// Milliseconds added to every response.
    pub latency_ms: u64,
    /// Close each watch after this many events.
    pub drop_watches_after: Option<u64>,
    /// How long a Deployment's status takes to follow its spec.
    pub rollout_delay_ms: u64,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        SandboxOptions {
            port: 0,
            kubeconfig_out: None,
            state: None,
            kube_version: "1.33".into(),
            fail_rate: 0.0,
            throttle_rate: 0.0,
            latency_ms: 0,
            drop_watches_after: None,
            rollout_delay_ms: 500,
        }
    }
}

/// Errors starting or running the sandbox.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The port could not be bound.
    #[error(
        "cannot listen on 127.0.0.1:{port}: {source}; pick another --port (0 picks a free one)"
    )]
    Bind {
        /// Requested port.
        port: u16,
        /// Cause.
        source: std::io::Error,
    },
    /// The state file could not be read or written.
    #[error("sandbox state file {path}: {message}")]
    State {
        /// State file.
        path: PathBuf,
        /// What went wrong and what to do.
        message: String,
    },
    /// The kubeconfig could not be written.
    #[error("cannot write kubeconfig {path}: {source}")]
    Kubeconfig {
        /// Kubeconfig path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
}

/// A running sandbox; dropping it (or `shutdown`) stops serving and flushes `--state`.
pub struct Sandbox {
    addr: SocketAddr,
    kubeconfig: PathBuf,
    // the server helper owns the rest
}

impl Sandbox {
    /// Binds, loads state, starts serving in background tasks of the current tokio runtime.
    pub async fn start(_opts: SandboxOptions) -> Result<Sandbox, SandboxError> {
        todo!("sandbox server")
    }

    /// The address served, `127.0.0.1:<port>`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Path of the kubeconfig written for this sandbox.
    pub fn kubeconfig(&self) -> &std::path::Path {
        &self.kubeconfig
    }

    /// Stops serving, closes watches, flushes `--state`.
    pub async fn shutdown(self) -> Result<(), SandboxError> {
        todo!("sandbox server")
    }
}
