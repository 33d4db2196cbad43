//! The embedded Kubernetes API server (SPEC §10): a stand-in for kube-apiserver on 127.0.0.1
//! that real `kubectl` and kube-rs accept, for trials, the demo and the test suite.
//!
//! Layering inside the sandbox:
//! - `kinds`: what is served (built-in kinds, kinds from CRDs);
//! - `schema`, `fieldset`, `apply`, `patch`: pure object algebra (SSA, managedFields, patches);
//! - `defaults`, `validation`, `controller`, `table`, `openapi`: pure per-kind behaviour;
//! - `selectors`, `status`, `discovery`, `openapi_v2`, `protobuf`, `kubeconfig`: pure wire
//!   formats (label/field selectors, Status errors, discovery documents, kubectl 1.28's
//!   OpenAPI v2, typed protobuf bodies, the kubeconfig text);
//! - `store`: objects, resourceVersions, the watch event log, persistence;
//! - `crud`: the request semantics and the write pipeline (patch/apply → defaults →
//!   validation → managedFields → generation → store), subresources, controllers' timers;
//! - `watch`: watch streams;
//! - `server`: HTTP, routing, faults; with `watch`, the only code doing network I/O.

pub mod apply;
pub mod controller;
pub mod crud;
pub mod defaults;
pub mod discovery;
pub mod fieldset;
pub mod kinds;
pub mod kubeconfig;
pub mod naming;
pub mod openapi;
pub mod openapi_v2;
pub mod patch;
pub mod protobuf;
pub mod schema;
pub mod selectors;
pub mod server;
pub mod status;
pub mod store;
pub mod table;
pub mod validation;
pub mod watch;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use hyper_util::rt::TokioIo;

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
    shared: Arc<server::Shared>,
    stop: tokio::sync::watch::Sender<bool>,
    accept: Option<tokio::task::JoinHandle<()>>,
    /// The temp dir holding the kubeconfig when none was asked for; removed with the sandbox.
    temp_dir: Option<PathBuf>,
    stopped: bool,
}

impl Sandbox {
    /// Binds, loads state, starts serving in background tasks of the current tokio runtime.
    pub async fn start(opts: SandboxOptions) -> Result<Sandbox, SandboxError> {
        let store = match &opts.state {
            Some(path) => store::Store::open(path).map_err(|e| SandboxError::State {
                path: path.clone(),
                message: match e {
                    store::StoreError::State { message, .. } => message,
                },
            })?,
            None => store::Store::new(),
        };
        let mut store = store;
        store.set_kube_version(&opts.kube_version);
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", opts.port))
            .await
            .map_err(|source| SandboxError::Bind {
                port: opts.port,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| SandboxError::Bind {
            port: opts.port,
            source,
        })?;
        let (kubeconfig, temp_dir) = match &opts.kubeconfig_out {
            Some(p) => (p.clone(), None),
            None => {
                let dir = std::env::temp_dir()
                    .join(format!("kubectl-gitops-sandbox-{}", uuid::Uuid::new_v4()));
                (dir.join("kubeconfig"), Some(dir))
            }
        };
        kubeconfig::write(&kubeconfig, &format!("http://{addr}")).map_err(|source| {
            SandboxError::Kubeconfig {
                path: kubeconfig.clone(),
                source,
            }
        })?;
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let shared = Arc::new(server::Shared {
            store: Mutex::new(store),
            opts,
            addr,
            shutdown: stopped.clone(),
            openapi: Mutex::default(),
            pending_rollouts: Mutex::default(),
        });
        let leftover = crud::terminating_namespaces(&shared.lock());
        for ns in leftover {
            crud::schedule(shared.clone(), crud::Deferred::FinalizeNamespace(ns));
        }
        // Off the start path: it reads every workload.
        let resume = shared.clone();
        tokio::spawn(async move { crud::resume_rollouts(&resume) });
        let accept = tokio::spawn(accept_loop(listener, shared.clone(), stopped));
        Ok(Sandbox {
            addr,
            kubeconfig,
            shared,
            stop,
            accept: Some(accept),
            temp_dir,
            stopped: false,
        })
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
    pub async fn shutdown(mut self) -> Result<(), SandboxError> {
        let _ = self.stop.send(true);
        if let Some(task) = self.accept.take() {
            let _ = task.await;
        }
        self.stop_and_flush()
    }

    fn stop_and_flush(&mut self) -> Result<(), SandboxError> {
        if self.stopped {
            return Ok(());
        }
        self.stopped = true;
        let _ = self.stop.send(true);
        if let Some(task) = self.accept.take() {
            task.abort();
        }
        if let Some(dir) = self.temp_dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
        let mut store = self.shared.lock();
        store.snapshot().map_err(|e| match e {
            store::StoreError::State { path, message } => SandboxError::State { path, message },
        })
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Err(e) = self.stop_and_flush() {
            tracing::error!("sandbox: {e}");
        }
    }
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    shared: Arc<server::Shared>,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!("sandbox: accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stopped.changed() => return,
        };
        // Small request/response pairs: without this, Nagle's algorithm adds 40 ms stalls.
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let mut conn_stopped = stopped.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| server::serve(shared.clone(), req));
            // HTTP/1.1 only: the sandbox serves plain HTTP, where kubectl (Go's client) and
            // kube-rs never speak HTTP/2 (they negotiate it through TLS only).
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = conn_stopped.changed() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }
}

#[cfg(test)]
mod server_tests;
