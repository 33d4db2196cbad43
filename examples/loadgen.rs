//! Load client for the sandbox throughput benchmark (`bench/README.md`).
//!
//! Every mode prints one JSON object of figures on stdout. The throughput modes run `--concurrency`
//! workers sharing one kube-rs client (one connection pool) for `--seconds`, capped at
//! `--max-ops`, after a short warm-up that opens the connections.

#[path = "bench_support/cluster.rs"]
mod cluster;
#[path = "bench_support/manifests.rs"]
mod manifests;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use futures::StreamExt;
use futures::future::BoxFuture;
use kube::Client;
use kube::api::{GetParams, ListParams};
use kube::core::Request;
use serde_json::{Value, json};

use cluster::Kinds;
use manifests::AppSpec;

/// Sandbox load client.
#[derive(Debug, Parser)]
#[command(name = "loadgen")]
struct Cli {
    #[command(subcommand)]
    command: Mode,
}

#[derive(Debug, Subcommand)]
enum Mode {
    /// GETs of one ConfigMap
    Get(Throughput),
    /// GETs of a list of `--objects` ConfigMaps
    List {
        #[command(flatten)]
        run: Throughput,
        /// Objects in the listed namespace
        #[arg(long, default_value_t = 100)]
        objects: usize,
    },
    /// Server-side applies, each creating a new ConfigMap
    Apply(Throughput),
    /// Server-side applies of unchanged ConfigMaps (one per worker)
    Reapply(Throughput),
    /// Time from spawning `sandbox --port 0` to its `ready` line
    Startup {
        /// The kubectl-gitops binary
        #[arg(long)]
        bin: PathBuf,
        /// Runs; the median is reported
        #[arg(long, default_value_t = 20)]
        runs: usize,
        /// Directory for the kubeconfigs the runs write
        #[arg(long)]
        work_dir: PathBuf,
    },
    /// Resident memory of a sandbox after loading `--objects` ConfigMaps and Deployments
    Memory {
        /// Kubeconfig of the sandbox
        #[arg(long)]
        kubeconfig: PathBuf,
        /// Process id of the sandbox
        #[arg(long)]
        pid: u32,
        /// Objects to load, half ConfigMaps, half Deployments
        #[arg(long, default_value_t = 10_000)]
        objects: usize,
        /// Requests in flight at once
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// Milliseconds to wait after loading, so Deployment status updates land
        #[arg(long, default_value_t = 2000)]
        settle_ms: u64,
    },
}

/// Flags of the throughput modes.
#[derive(Debug, Clone, Args)]
struct Throughput {
    /// Kubeconfig of the sandbox
    #[arg(long)]
    kubeconfig: PathBuf,
    /// Workers with a request in flight
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Measured duration
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Stop earlier after this many requests
    #[arg(long, default_value_t = 1_000_000)]
    max_ops: u64,
    /// Namespace the objects go to (created if missing)
    #[arg(long, default_value = "bench")]
    namespace: String,
}

fn main() -> anyhow::Result<()> {
    let mode = Cli::parse().command;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        match mode {
            Mode::Get(run) => get_one(run).await,
            Mode::List { run, objects } => get_list(run, objects).await,
            Mode::Apply(run) => apply_distinct(run).await,
            Mode::Reapply(run) => reapply(run).await,
            // Blocking, but nothing else runs on the runtime meanwhile.
            Mode::Startup {
                bin,
                runs,
                work_dir,
            } => startup(&bin, runs.max(1), &work_dir),
            Mode::Memory {
                kubeconfig,
                pid,
                objects,
                concurrency,
                settle_ms,
            } => memory(&kubeconfig, pid, objects, concurrency.max(1), settle_ms).await,
        }
    })
}

// ---------------------------------------------------------------------------------------------
// Throughput driver

/// One request of a benchmark: worker index and that worker's request number.
type Op = Arc<dyn Fn(usize, u64) -> BoxFuture<'static, anyhow::Result<()>> + Send + Sync>;

/// What a timed run measured.
struct Figures {
    ops: u64,
    errors: u64,
    first_error: Option<String>,
    seconds: f64,
    latencies_us: Vec<u32>,
}

impl Figures {
    fn to_json(&self, case: &str, concurrency: usize) -> Value {
        let mut lat = self.latencies_us.clone();
        lat.sort_unstable();
        let pct = |p: f64| -> f64 {
            if lat.is_empty() {
                return 0.0;
            }
            let i = ((lat.len() as f64 - 1.0) * p).round() as usize;
            f64::from(lat[i]) / 1000.0
        };
        json!({
            "case": case,
            "ops": self.ops,
            "errors": self.errors,
            "firstError": self.first_error,
            "seconds": self.seconds,
            "perSec": (self.ops - self.errors) as f64 / self.seconds.max(1e-9),
            "concurrency": concurrency,
            "p50Ms": pct(0.5),
            "p99Ms": pct(0.99),
        })
    }
}

/// Runs `op` on `concurrency` workers until `seconds` pass or `max_ops` requests were sent.
async fn drive(op: Op, concurrency: usize, seconds: f64, max_ops: u64) -> Figures {
    let issued = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(seconds);
    let workers: Vec<_> = (0..concurrency.max(1))
        .map(|w| {
            let op = op.clone();
            let issued = issued.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut errors = 0u64;
                let mut first_error = None;
                let mut n = 0u64;
                while Instant::now() < deadline && issued.fetch_add(1, Ordering::Relaxed) < max_ops
                {
                    let t = Instant::now();
                    if let Err(e) = op(w, n).await {
                        errors += 1;
                        first_error.get_or_insert_with(|| format!("{e:#}"));
                    }
                    latencies.push(t.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                    n += 1;
                }
                (latencies, errors, first_error)
            })
        })
        .collect();
    let mut figures = Figures {
        ops: 0,
        errors: 0,
        first_error: None,
        seconds: 0.0,
        latencies_us: Vec::new(),
    };
    for worker in workers {
        match worker.await {
            Ok((lat, errors, first)) => {
                figures.ops += lat.len() as u64;
                figures.latencies_us.extend(lat);
                figures.errors += errors;
                if figures.first_error.is_none() {
                    figures.first_error = first;
                }
            }
            Err(e) => {
                figures.errors += 1;
                figures
                    .first_error
                    .get_or_insert_with(|| format!("worker failed: {e}"));
            }
        }
    }
    figures.seconds = started.elapsed().as_secs_f64();
    figures
}

/// Warm-up (connections opened, caches filled), then the measured run; prints the figures.
async fn measure(case: &str, run: &Throughput, warm: Op, op: Op) -> anyhow::Result<()> {
    let warm_up = drive(warm, run.concurrency, 0.5, 2_000).await;
    if warm_up.errors == warm_up.ops && warm_up.ops > 0 {
        bail!(
            "{case}: every warm-up request failed; first: {}",
            warm_up.first_error.unwrap_or_default()
        );
    }
    let figures = drive(op, run.concurrency, run.seconds, run.max_ops).await;
    println!("{}", figures.to_json(case, run.concurrency));
    Ok(())
}

async fn setup(run: &Throughput) -> anyhow::Result<Kinds> {
    let kinds = Kinds::new(cluster::client_from(&run.kubeconfig).await?);
    kinds
        .apply(
            &manifests::namespace(&run.namespace),
            cluster::FIELD_MANAGER,
        )
        .await?;
    Ok(kinds)
}

/// A realistic ConfigMap (about 1 KB of data) named `name` in `namespace`.
fn config_map(namespace: &str, name: &str) -> Value {
    let app = app_spec(namespace, name, 0);
    let mut cm = manifests::config_map(&app, &manifests::config_data(&app, 50, 30));
    cm["metadata"]["name"] = Value::String(name.to_string());
    cm
}

fn app_spec(namespace: &str, name: &str, n: usize) -> AppSpec {
    AppSpec {
        namespace: namespace.into(),
        name: name.into(),
        image_repo: format!("registry.example.com/{namespace}/{name}"),
        version: (1, (n % 10) as u32, (n % 17) as u32),
        replicas: 1 + (n % 5) as u32,
        env: vec![
            ("LOG_LEVEL".into(), "info".into()),
            ("WORKERS".into(), (2 + n % 7).to_string()),
            ("FEATURE_NEW_CHECKOUT".into(), "false".into()),
            ("OTEL_SERVICE_NAME".into(), name.into()),
        ],
        cpu_millis: 100,
        memory_mib: 128,
        port: 8080,
        uses_config: true,
    }
}

fn get_request(client: &Client, path: String, name: Option<String>) -> Op {
    let client = client.clone();
    Arc::new(move |_, _| {
        let client = client.clone();
        let request = Request::new(path.clone());
        let name = name.clone();
        Box::pin(async move {
            let req = match &name {
                Some(name) => request.get(name, &GetParams::default())?,
                None => request.list(&ListParams::default())?,
            };
            // The body is read but not decoded: the figure is the server's, not serde's.
            client.request_text(req).await?;
            Ok(())
        })
    })
}

async fn get_one(run: Throughput) -> anyhow::Result<()> {
    let kinds = setup(&run).await?;
    kinds
        .apply(
            &config_map(&run.namespace, "bench-get"),
            cluster::FIELD_MANAGER,
        )
        .await?;
    let path = format!("/api/v1/namespaces/{}/configmaps", run.namespace);
    let op = get_request(kinds.client(), path, Some("bench-get".into()));
    measure("get", &run, op.clone(), op).await
}

async fn get_list(run: Throughput, objects: usize) -> anyhow::Result<()> {
    let kinds = setup(&run).await?;
    let names: Vec<String> = (0..objects).map(|i| format!("bench-list-{i:05}")).collect();
    let results: Vec<Result<(), cluster::ClusterError>> = futures::stream::iter(names.iter())
        .map(|n| {
            let kinds = kinds.clone();
            let cm = config_map(&run.namespace, n);
            async move { kinds.apply(&cm, cluster::FIELD_MANAGER).await }
        })
        .buffer_unordered(run.concurrency.max(1))
        .collect()
        .await;
    results.into_iter().collect::<Result<Vec<()>, _>>()?;
    let path = format!("/api/v1/namespaces/{}/configmaps", run.namespace);
    let op = get_request(kinds.client(), path, None);
    measure(&format!("list{objects}"), &run, op.clone(), op).await
}

fn apply_op(
    kinds: &Kinds,
    namespace: &str,
    name: impl Fn(usize, u64) -> String + Send + Sync + 'static,
) -> Op {
    let kinds = kinds.clone();
    let namespace = namespace.to_string();
    Arc::new(move |w, n| {
        let kinds = kinds.clone();
        let object = config_map(&namespace, &name(w, n));
        Box::pin(async move { Ok(kinds.apply(&object, cluster::FIELD_MANAGER).await?) })
    })
}

async fn apply_distinct(run: Throughput) -> anyhow::Result<()> {
    let kinds = setup(&run).await?;
    // A per-process tag keeps names distinct when the case runs twice against one sandbox.
    let tag = std::process::id();
    let warm = apply_op(&kinds, &run.namespace, move |w, n| {
        format!("warm-{tag}-{w}-{n}")
    });
    let op = apply_op(&kinds, &run.namespace, move |w, n| {
        format!("apply-{tag}-{w}-{n}")
    });
    measure("apply", &run, warm, op).await
}

async fn reapply(run: Throughput) -> anyhow::Result<()> {
    let kinds = setup(&run).await?;
    // The warm-up creates each worker's object; the measured run applies it unchanged.
    let op = apply_op(&kinds, &run.namespace, |w, _| format!("reapply-{w}"));
    measure("reapply", &run, op.clone(), op).await
}

// ---------------------------------------------------------------------------------------------
// Startup and memory

fn startup(bin: &Path, runs: usize, work_dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(work_dir)?;
    let mut times_ms = Vec::with_capacity(runs);
    for run in 0..runs {
        let kubeconfig = work_dir.join(format!("startup-{run}.kubeconfig"));
        let started = Instant::now();
        let mut child = Command::new(bin)
            .args(["sandbox", "--port", "0", "--kubeconfig-out"])
            .arg(&kubeconfig)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot run {}", bin.display()))?;
        let stdout = child.stdout.take().context("no stdout from the sandbox")?;
        let (tx, rx) = std::sync::mpsc::channel();
        // A reader thread, so a sandbox that never gets ready costs a timeout, not a hang.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                match line {
                    Ok(l) if l.starts_with("ready ") => {
                        let _ = tx.send(Instant::now());
                        return;
                    }
                    Ok(_) => continue,
                    Err(_) => return,
                }
            }
        });
        let ready = rx.recv_timeout(Duration::from_secs(10));
        let _ = child.kill();
        let _ = child.wait();
        match ready {
            Ok(at) => times_ms.push(at.duration_since(started).as_secs_f64() * 1000.0),
            Err(_) => bail!("run {run}: the sandbox printed no `ready` line within 10 s"),
        }
    }
    let mut sorted = times_ms.clone();
    sorted.sort_by(f64::total_cmp);
    let median = if sorted.len() % 2 == 1 {
        sorted[sorted.len() / 2]
    } else {
        (sorted[sorted.len() / 2 - 1] + sorted[sorted.len() / 2]) / 2.0
    };
    println!(
        "{}",
        json!({
            "case": "startup",
            "runs": runs,
            "medianMs": median,
            "minMs": sorted[0],
            "maxMs": sorted[sorted.len() - 1],
            "runsMs": times_ms,
        })
    );
    Ok(())
}

/// `VmRSS` and `VmHWM` of `pid` in MiB, from /proc.
fn memory_of(pid: u32) -> anyhow::Result<(f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("cannot read /proc/{pid}/status; is the sandbox running?"))?;
    let field = |name: &str| -> anyhow::Result<f64> {
        let line = status
            .lines()
            .find(|l| l.starts_with(name))
            .with_context(|| format!("no {name} in /proc/{pid}/status"))?;
        let kb: f64 = line
            .split_whitespace()
            .nth(1)
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("cannot read {line:?}"))?;
        Ok(kb / 1024.0)
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

async fn memory(
    kubeconfig: &Path,
    pid: u32,
    objects: usize,
    concurrency: usize,
    settle_ms: u64,
) -> anyhow::Result<()> {
    const NAMESPACES: usize = 10;
    let (baseline_rss, _) = memory_of(pid)?;
    let kinds = Kinds::new(cluster::client_from(kubeconfig).await?);
    for i in 0..NAMESPACES {
        kinds
            .apply(
                &manifests::namespace(&format!("mem-{i}")),
                cluster::FIELD_MANAGER,
            )
            .await?;
    }
    let started = Instant::now();
    let results: Vec<Result<(), cluster::ClusterError>> = futures::stream::iter(0..objects)
        .map(|i| {
            let kinds = kinds.clone();
            let namespace = format!("mem-{}", i % NAMESPACES);
            let name = format!("app-{i:05}");
            let object = if i % 2 == 0 {
                config_map(&namespace, &name)
            } else {
                manifests::deployment(&app_spec(&namespace, &name, i))
            };
            async move { kinds.apply(&object, cluster::FIELD_MANAGER).await }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let load_seconds = started.elapsed().as_secs_f64();
    let errors: Vec<String> = results
        .into_iter()
        .filter_map(Result::err)
        .map(|e| e.to_string())
        .collect();
    tokio::time::sleep(Duration::from_millis(settle_ms)).await;
    let (rss, hwm) = memory_of(pid)?;
    // Counted after the reading: a list allocates in the server too.
    let stored = count_stored(&kinds, NAMESPACES).await?;
    println!(
        "{}",
        json!({
            "case": "memory",
            "objects": objects,
            "stored": stored,
            "errors": errors.len(),
            "firstError": errors.first(),
            "loadSeconds": load_seconds,
            "appliesPerSec": objects as f64 / load_seconds.max(1e-9),
            "baselineRssMb": baseline_rss,
            "rssMb": rss,
            "hwmMb": hwm,
        })
    );
    Ok(())
}

/// Objects named `app-*` in the `mem-*` namespaces, as the server lists them.
async fn count_stored(kinds: &Kinds, namespaces: usize) -> anyhow::Result<usize> {
    let mut stored = 0;
    for i in 0..namespaces {
        for (api_version, kind) in [("v1", "ConfigMap"), ("apps/v1", "Deployment")] {
            let api = kinds
                .api(api_version, kind, Some(&format!("mem-{i}")))
                .await?;
            let list = api
                .list(&ListParams::default())
                .await
                .with_context(|| format!("list {kind} in mem-{i}"))?;
            stored += list
                .items
                .iter()
                .filter(|o| {
                    o.metadata
                        .name
                        .as_deref()
                        .is_some_and(|n| n.starts_with("app-"))
                })
                .count();
        }
    }
    Ok(stored)
}
