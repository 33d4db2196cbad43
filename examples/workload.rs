//! Workload generator for the benchmarks (`bench/README.md`).
//!
//! - `repo`: an environment repo of N realistic manifests and C commits of history, written with
//!   `git fast-import` (fixed authors and dates: the same seed gives the same hashes), then
//!   repacked as git packs objects it wrote itself (`--pack git`, the default; see [`Pack`]);
//! - `load`: applies a revision of such a repo to a cluster by server-side apply, then drifts a
//!   share of the objects the way people do by hand (`kubectl scale`, `edit`, `patch`);
//! - `big-file`: a repo with one long manifest and many commits touching it, for blame.

#[path = "bench_support/cluster.rs"]
mod cluster;
#[path = "bench_support/manifests.rs"]
mod manifests;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use futures::StreamExt;
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};

use cluster::{Kinds, ObjectId};
use manifests::{AppSpec, SplitMix64};

/// Benchmark workload generator.
#[derive(Debug, Parser)]
#[command(name = "workload")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Create an environment repo of N resources and C commits
    Repo {
        /// Resources at every commit (namespaces included)
        #[arg(long, default_value_t = 200)]
        resources: usize,
        /// Commits, the first one adding everything
        #[arg(long, default_value_t = 20)]
        commits: usize,
        /// New directory for the repo
        #[arg(long)]
        out: PathBuf,
        /// Seed: the same seed gives the same repo and commit hashes
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// How the objects are packed
        #[arg(long, value_enum, default_value_t = Pack::Git)]
        pack: Pack,
    },
    /// Apply a revision of a repo by server-side apply, then drift a share of the objects
    Load {
        /// Kubeconfig of the cluster (e.g. the one `kubectl gitops sandbox` wrote)
        #[arg(long)]
        kubeconfig: PathBuf,
        /// The environment repo
        #[arg(long)]
        repo: PathBuf,
        /// Revision to apply
        #[arg(long, default_value = "HEAD")]
        rev: String,
        /// Share of the applied objects to drift afterwards (0..1)
        #[arg(long, default_value_t = 0.0)]
        drift: f64,
        /// Requests in flight at once
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// Seed choosing which objects drift
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Count the manifests of a revision by kind, without a cluster
    Manifests {
        /// The environment repo
        #[arg(long)]
        repo: PathBuf,
        /// Revision to read
        #[arg(long, default_value = "HEAD")]
        rev: String,
    },
    /// Create a repo with one long manifest of L lines and C commits editing it
    BigFile {
        /// Lines of the file
        #[arg(long, default_value_t = 10_000)]
        lines: usize,
        /// Commits, the first one adding the file
        #[arg(long, default_value_t = 200)]
        commits: usize,
        /// New directory for the repo
        #[arg(long)]
        out: PathBuf,
        /// Seed
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Cmd::Repo {
            resources,
            commits,
            out,
            seed,
            pack,
        } => repo(resources, commits, &out, seed, pack),
        Cmd::Load {
            kubeconfig,
            repo,
            rev,
            drift,
            concurrency,
            seed,
        } => {
            if !(0.0..=1.0).contains(&drift) {
                bail!("--drift {drift} is outside 0..1; give a share such as 0.1");
            }
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(load(
                &kubeconfig,
                &repo,
                &rev,
                drift,
                concurrency.max(1),
                seed,
            ))
        }
        Cmd::Manifests { repo, rev } => {
            let mut by_kind: BTreeMap<String, usize> = BTreeMap::new();
            let docs = manifests_at(&repo, &rev)?;
            for (_, doc) in &docs {
                let id = ObjectId::of(doc)?;
                *by_kind.entry(id.kind).or_default() += 1;
            }
            println!("{}", json!({ "objects": docs.len(), "byKind": by_kind }));
            Ok(())
        }
        Cmd::BigFile {
            lines,
            commits,
            out,
            seed,
        } => big_file(lines, commits, &out, seed),
    }
}

// ---------------------------------------------------------------------------------------------
// Git output

const AUTHORS: [(&str, &str); 4] = [
    ("Alice Ops", "alice@example.com"),
    ("Bob Dev", "bob@example.com"),
    ("Carol SRE", "carol@example.com"),
    ("Dan Release", "dan@example.com"),
];
/// 2024-01-01T00:00:00Z: history starts here and advances by hours.
const EPOCH: u64 = 1_704_067_200;

/// How a generated repo's objects are packed.
///
/// `git fast-import` writes one pack in which each file version is a delta on the file version
/// written just before it, whatever its path (its documentation: "not optimal"; it advises a
/// repack). A repository whose commits were made with git, cloned or pushed, holds packs made
/// by `git pack-objects`, which deltifies versions of the same path on each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Pack {
    /// `git repack -a -d -f` after the import: deltas computed as git computes them (one
    /// thread, so the same seed gives the same pack); no commit-graph.
    Git,
    /// The pack `git fast-import` wrote, as it is.
    FastImport,
}

/// One commit for `git fast-import`.
struct CommitSpec {
    author: (&'static str, &'static str),
    time: u64,
    message: String,
    /// Files to write (path, content), then paths to delete.
    writes: Vec<(String, String)>,
    deletes: Vec<String>,
}

/// Streams commits into `git fast-import` on branch `main` of a new repo at `out`.
struct FastImport {
    out: PathBuf,
    child: std::process::Child,
    stdin: BufWriter<std::process::ChildStdin>,
    count: usize,
}

impl FastImport {
    fn create(out: &Path) -> anyhow::Result<FastImport> {
        if out.exists() && out.read_dir()?.next().is_some() {
            bail!(
                "{} exists and is not empty; give a new directory",
                out.display()
            );
        }
        std::fs::create_dir_all(out)?;
        git(out, &["init", "-q", "-b", "main"])?;
        let mut child = Command::new("git")
            .arg("-C")
            .arg(out)
            .args(["fast-import", "--quiet", "--done"])
            .stdin(Stdio::piped())
            .spawn()
            .context("cannot run git fast-import; is git installed?")?;
        let stdin = BufWriter::new(child.stdin.take().context("no stdin for git fast-import")?);
        Ok(FastImport {
            out: out.to_path_buf(),
            child,
            stdin,
            count: 0,
        })
    }

    fn commit(&mut self, c: &CommitSpec) -> anyhow::Result<()> {
        let w = &mut self.stdin;
        self.count += 1;
        let (name, email) = c.author;
        writeln!(w, "commit refs/heads/main")?;
        writeln!(w, "mark :{}", self.count)?;
        writeln!(w, "author {name} <{email}> {} +0000", c.time)?;
        writeln!(w, "committer {name} <{email}> {} +0000", c.time)?;
        writeln!(w, "data {}\n{}", c.message.len(), c.message)?;
        if self.count > 1 {
            writeln!(w, "from :{}", self.count - 1)?;
        }
        for path in &c.deletes {
            writeln!(w, "D {path}")?;
        }
        for (path, content) in &c.writes {
            writeln!(w, "M 100644 inline {path}")?;
            writeln!(w, "data {}\n{content}", content.len())?;
        }
        writeln!(w)?;
        Ok(())
    }

    /// Ends the import and checks the head out; returns the head commit id.
    fn finish(mut self) -> anyhow::Result<String> {
        writeln!(self.stdin, "done")?;
        self.stdin.flush()?;
        drop(self.stdin);
        let status = self.child.wait()?;
        if !status.success() {
            bail!(
                "git fast-import failed ({status}) in {}",
                self.out.display()
            );
        }
        git(&self.out, &["reset", "-q", "--hard", "main"])?;
        Ok(git(&self.out, &["rev-parse", "HEAD"])?.trim().to_string())
    }
}

fn git(dir: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .with_context(|| format!("cannot run git {}", args.join(" ")))?;
    if !out.status.success() {
        bail!(
            "git {} in {}: {}",
            args.join(" "),
            dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

// ---------------------------------------------------------------------------------------------
// repo

const NAMESPACES: [&str; 6] = ["shop", "payments", "platform", "data", "edge", "ops"];
const SERVICES: [&str; 20] = [
    "api",
    "web",
    "worker",
    "gateway",
    "auth",
    "billing",
    "search",
    "cart",
    "catalog",
    "orders",
    "checkout",
    "notifier",
    "ingest",
    "reports",
    "scheduler",
    "users",
    "inventory",
    "shipping",
    "ledger",
    "profile",
];
const LOG_LEVELS: [&str; 4] = ["debug", "info", "warn", "error"];

/// One application: a Deployment, usually a Service beside it, maybe a ConfigMap and a Secret.
struct App {
    spec: AppSpec,
    /// File holding the Deployment and Service.
    file: String,
    has_service: bool,
    /// `(max_connections, timeout_seconds)` of its ConfigMap, if it has one.
    config: Option<(u32, u32)>,
    /// Password in its Secret, if it has one.
    secret: Option<String>,
    removed: bool,
}

impl App {
    fn new(index: usize, namespace: &str, rng: &mut SplitMix64) -> App {
        let base = SERVICES[index % SERVICES.len()];
        let name = match index / SERVICES.len() {
            0 => base.to_string(),
            n => format!("{base}-{n}"),
        };
        let spec = AppSpec {
            namespace: namespace.into(),
            name: name.clone(),
            image_repo: format!("registry.example.com/{namespace}/{base}"),
            version: (1, rng.below(10) as u32, rng.below(20) as u32),
            replicas: 1 + rng.below(5) as u32,
            env: vec![
                ("LOG_LEVEL".into(), "info".into()),
                ("WORKERS".into(), (2 + rng.below(7)).to_string()),
                ("FEATURE_NEW_CHECKOUT".into(), "false".into()),
                ("OTEL_SERVICE_NAME".into(), name.clone()),
            ],
            cpu_millis: 50 * (1 + rng.below(10) as u32),
            memory_mib: 64 * (1 + rng.below(16) as u32),
            port: *rng.pick(&[8080, 8000, 9090]),
            uses_config: false,
        };
        App {
            file: format!("apps/{namespace}/{name}.yaml"),
            spec,
            has_service: false,
            config: None,
            secret: None,
            removed: false,
        }
    }

    fn id(&self) -> String {
        format!("{}/{}", self.spec.namespace, self.spec.name)
    }

    fn config_file(&self) -> String {
        format!(
            "config/{}/{}-config.yaml",
            self.spec.namespace, self.spec.name
        )
    }

    fn secret_file(&self) -> String {
        format!(
            "secrets/{}/{}-credentials.yaml",
            self.spec.namespace, self.spec.name
        )
    }

    /// The files of this app and their content.
    fn files(&self) -> Vec<(String, String)> {
        let mut spec = self.spec.clone();
        spec.uses_config = self.config.is_some();
        let mut docs = vec![manifests::deployment(&spec)];
        if self.has_service {
            docs.push(manifests::service(&spec));
        }
        let mut files = vec![(self.file.clone(), manifests::to_yaml_multi(&docs))];
        if let Some((max_conn, timeout)) = self.config {
            let data = manifests::config_data(&spec, max_conn, timeout);
            files.push((
                self.config_file(),
                manifests::to_yaml(&manifests::config_map(&spec, &data)),
            ));
        }
        if let Some(password) = &self.secret {
            let data = vec![
                ("username".to_string(), spec.name.replace('-', "_")),
                ("password".to_string(), password.clone()),
            ];
            files.push((
                self.secret_file(),
                manifests::to_yaml(&manifests::secret(&spec, &data)),
            ));
        }
        files
    }
}

/// What a removed app had, so the app added in its place has as many resources.
struct Parts {
    has_service: bool,
    config: Option<(u32, u32)>,
    secret: Option<String>,
}

fn password(rng: &mut SplitMix64) -> String {
    format!("{:016x}{:016x}", rng.next_u64(), rng.next_u64())
}

fn repo(resources: usize, commits: usize, out: &Path, seed: u64, pack: Pack) -> anyhow::Result<()> {
    if resources == 0 || commits == 0 {
        bail!("--resources and --commits must be at least 1");
    }
    let started = Instant::now();
    let mut rng = SplitMix64::new(seed);
    let ns_count = if resources <= 4 {
        1
    } else {
        (resources / 150 + 2).min(NAMESPACES.len())
    };
    let namespaces = &NAMESPACES[..ns_count];
    let mut left = resources - ns_count;
    let mut apps: Vec<App> = Vec::new();
    while left > 0 {
        let index = apps.len();
        let mut app = App::new(index, namespaces[index % ns_count], &mut rng);
        left -= 1;
        if left > 0 {
            app.has_service = true;
            left -= 1;
        }
        if left > 0 && index % 4 != 3 {
            app.config = Some((
                10 * (2 + rng.below(20) as u32),
                5 * (1 + rng.below(12) as u32),
            ));
            left -= 1;
        }
        if left > 0 && index.is_multiple_of(3) {
            app.secret = Some(password(&mut rng));
            left -= 1;
        }
        apps.push(app);
    }

    let mut import = FastImport::create(out)?;
    let mut tree: BTreeMap<String, String> = BTreeMap::new();
    let ns_docs: Vec<Value> = namespaces.iter().map(|n| manifests::namespace(n)).collect();
    tree.insert("namespaces.yaml".into(), manifests::to_yaml_multi(&ns_docs));
    for app in &apps {
        tree.extend(app.files());
    }
    import.commit(&CommitSpec {
        author: AUTHORS[0],
        time: EPOCH,
        message: format!("Add {} resources in {} namespaces\n", resources, ns_count),
        writes: tree.iter().map(|(p, c)| (p.clone(), c.clone())).collect(),
        deletes: vec![],
    })?;

    // A removed app comes back as a new one in the next commit, so every commit has N resources.
    let mut pending_add: Option<Parts> = None;
    let mut time = EPOCH;
    for k in 1..commits {
        time += 1800 + rng.below(4 * 3600) as u64;
        let mut touched: BTreeSet<usize> = BTreeSet::new();
        let mut gone: Vec<String> = Vec::new();
        let mut notes: Vec<String> = Vec::new();
        if let Some(Parts {
            has_service,
            config,
            secret,
        }) = pending_add.take()
        {
            let index = apps.len();
            let namespace = namespaces[rng.below(namespaces.len())];
            let mut app = App::new(index, namespace, &mut rng);
            app.has_service = has_service;
            app.config = config;
            app.secret = secret;
            notes.push(format!("{}: add", app.id()));
            touched.insert(index);
            apps.push(app);
        }
        let live: Vec<usize> = (0..apps.len()).filter(|&i| !apps[i].removed).collect();
        let changes = 1 + rng.below(3);
        for _ in 0..changes {
            let i = *rng.pick(&live);
            if touched.contains(&i) && apps[i].removed {
                continue;
            }
            let roll = rng.below(100);
            let app = &mut apps[i];
            let note = match roll {
                0..35 => {
                    let (a, b, c) = app.spec.version;
                    app.spec.version = if rng.chance(0.2) {
                        (a, b + 1, 0)
                    } else {
                        (a, b, c + 1)
                    };
                    format!("bump image to {}", app.spec.image())
                }
                35..55 => {
                    let old = app.spec.replicas;
                    app.spec.replicas = 1 + ((old as usize + rng.below(4)) % 6) as u32;
                    if app.spec.replicas == old {
                        app.spec.replicas = old % 6 + 1;
                    }
                    format!("scale to {} replicas", app.spec.replicas)
                }
                55..70 => {
                    let slot = rng.below(3);
                    let value = match slot {
                        0 => rng.pick(&LOG_LEVELS).to_string(),
                        1 => (2 + rng.below(15)).to_string(),
                        _ => (app.spec.env[2].1 == "false").to_string(),
                    };
                    app.spec.env[slot].1 = value.clone();
                    format!("set {}={value}", app.spec.env[slot].0)
                }
                70..92 if app.config.is_some() => {
                    let (max_conn, timeout) = app.config.unwrap_or((20, 30));
                    app.config = Some(if rng.chance(0.5) {
                        (max_conn + 10, timeout)
                    } else {
                        (max_conn, timeout + 5)
                    });
                    "tune database pool".to_string()
                }
                92..96 => {
                    let old = app.file.clone();
                    app.file = match old.matches('/').count() {
                        2 => format!("apps/{}/legacy/{}.yaml", app.spec.namespace, app.spec.name),
                        _ => format!("apps/{}/{}.yaml", app.spec.namespace, app.spec.name),
                    };
                    gone.push(old.clone());
                    format!("move {old} to {}", app.file)
                }
                96.. if pending_add.is_none()
                    && k + 1 < commits
                    && live.len() > 1
                    && !touched.contains(&i) =>
                {
                    app.removed = true;
                    pending_add = Some(Parts {
                        has_service: app.has_service,
                        config: app.config,
                        secret: app.secret.clone(),
                    });
                    gone.extend(app.files().into_iter().map(|(p, _)| p));
                    "remove".to_string()
                }
                _ => {
                    app.secret = app.secret.as_ref().map(|_| password(&mut rng));
                    if app.secret.is_some() {
                        "rotate credentials".to_string()
                    } else {
                        app.spec.cpu_millis += 50;
                        format!("raise cpu request to {}m", app.spec.cpu_millis)
                    }
                }
            };
            notes.push(format!("{}: {note}", app.id()));
            touched.insert(i);
        }
        let mut writes = Vec::new();
        for &i in &touched {
            if apps[i].removed {
                continue;
            }
            for (path, content) in apps[i].files() {
                if tree.get(&path) != Some(&content) {
                    tree.insert(path.clone(), content.clone());
                    writes.push((path, content));
                }
            }
        }
        let written: BTreeSet<&String> = writes.iter().map(|(p, _)| p).collect();
        let deletes: Vec<String> = gone.into_iter().filter(|p| !written.contains(p)).collect();
        for path in &deletes {
            tree.remove(path);
        }
        let mut message = notes[0].clone();
        if notes.len() > 1 {
            message = format!(
                "{message} (+{} more)\n\n{}",
                notes.len() - 1,
                notes[1..].join("\n")
            );
        }
        message.push('\n');
        import.commit(&CommitSpec {
            author: *rng.pick(&AUTHORS),
            time,
            message,
            writes,
            deletes,
        })?;
    }
    let head = import.finish()?;
    if pack == Pack::Git {
        git(
            out,
            &["-c", "pack.threads=1", "repack", "-a", "-d", "-f", "-q"],
        )?;
    }
    let summary = json!({
        "repo": out.display().to_string(),
        "pack": format!("{pack:?}"),
        "resources": resources,
        "namespaces": ns_count,
        "files": tree.len(),
        "commits": commits,
        "head": head,
        "seconds": started.elapsed().as_secs_f64(),
    });
    println!("{summary}");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// big-file

fn big_file(lines: usize, commits: usize, out: &Path, seed: u64) -> anyhow::Result<()> {
    const HEADER: [&str; 6] = [
        "apiVersion: v1",
        "kind: ConfigMap",
        "metadata:",
        "  name: feature-flags",
        "  namespace: platform",
        "data:",
    ];
    if lines <= HEADER.len() || commits == 0 {
        bail!(
            "--lines must be more than {} and --commits at least 1",
            HEADER.len()
        );
    }
    let started = Instant::now();
    let mut rng = SplitMix64::new(seed);
    let mut values: Vec<u64> = (0..lines - HEADER.len())
        .map(|_| rng.next_u64() % 100_000)
        .collect();
    let render = |values: &[u64]| {
        let mut text = HEADER.join("\n");
        text.push('\n');
        for (i, v) in values.iter().enumerate() {
            text.push_str(&format!("  flag-{i:06}: \"{v}\"\n"));
        }
        text
    };
    let path = "platform/feature-flags.yaml".to_string();
    let mut import = FastImport::create(out)?;
    import.commit(&CommitSpec {
        author: AUTHORS[0],
        time: EPOCH,
        message: format!("Add feature flags ({lines} lines)\n"),
        writes: vec![(path.clone(), render(&values))],
        deletes: vec![],
    })?;
    let mut time = EPOCH;
    for k in 1..commits {
        time += 600 + rng.below(3600) as u64;
        let edits = 1 + rng.below(8);
        for _ in 0..edits {
            let i = rng.below(values.len());
            values[i] = rng.next_u64() % 100_000;
        }
        import.commit(&CommitSpec {
            author: *rng.pick(&AUTHORS),
            time,
            message: format!("Flip {edits} feature flags (change {k})\n"),
            writes: vec![(path.clone(), render(&values))],
            deletes: vec![],
        })?;
    }
    let head = import.finish()?;
    let summary = json!({
        "repo": out.display().to_string(),
        "file": path,
        "lines": lines,
        "commits": commits,
        "head": head,
        "seconds": started.elapsed().as_secs_f64(),
    });
    println!("{summary}");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// load

/// The manifests of every `*.yaml`/`*.yml`/`*.json` file of `repo` at `rev`, in path order.
fn manifests_at(repo: &Path, rev: &str) -> anyhow::Result<Vec<(String, Value)>> {
    let listing = git(repo, &["ls-tree", "-r", "-z", "--name-only", rev])?;
    let paths: Vec<String> = listing
        .split('\0')
        .filter(|p| p.ends_with(".yaml") || p.ends_with(".yml") || p.ends_with(".json"))
        .map(str::to_string)
        .collect();
    let mut child = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["cat-file", "--batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("cannot run git cat-file")?;
    let mut stdin = child.stdin.take().context("no stdin for git cat-file")?;
    let requests: Vec<String> = paths.iter().map(|p| format!("{rev}:{p}\n")).collect();
    // Write on another thread: git answers while we still ask, and pipes are small.
    let writer = std::thread::spawn(move || -> std::io::Result<()> {
        let mut w = BufWriter::new(&mut stdin);
        for r in requests {
            w.write_all(r.as_bytes())?;
        }
        w.flush()
    });
    let mut reader = BufReader::new(child.stdout.take().context("no stdout for git cat-file")?);
    let mut docs = Vec::new();
    for path in &paths {
        let mut header = String::new();
        reader.read_line(&mut header)?;
        let size: usize = header
            .split_whitespace()
            .nth(2)
            .and_then(|s| s.parse().ok())
            .with_context(|| format!("git cat-file: unexpected answer {header:?} for {path}"))?;
        let mut blob = vec![0u8; size + 1];
        reader.read_exact(&mut blob)?;
        blob.truncate(size);
        let text =
            String::from_utf8(blob).with_context(|| format!("{path} at {rev} is not UTF-8"))?;
        let parsed: Vec<Value> = if path.ends_with(".json") {
            vec![serde_json::from_str(&text).with_context(|| format!("{path} at {rev}"))?]
        } else {
            serde_saphyr::from_multiple(&text).with_context(|| format!("{path} at {rev}"))?
        };
        docs.extend(
            parsed
                .into_iter()
                .filter(Value::is_object)
                .map(|d| (path.clone(), d)),
        );
    }
    writer
        .join()
        .map_err(|_| anyhow::anyhow!("git cat-file writer panicked"))??;
    child.wait()?;
    Ok(docs)
}

async fn load(
    kubeconfig: &Path,
    repo: &Path,
    rev: &str,
    drift: f64,
    concurrency: usize,
    seed: u64,
) -> anyhow::Result<()> {
    let docs = manifests_at(repo, rev)?;
    let client = cluster::client_from(kubeconfig).await?;
    let kinds = Kinds::new(client);
    let (namespaces, objects): (Vec<Value>, Vec<Value>) = docs
        .into_iter()
        .map(|(_, d)| d)
        .partition(|d| d["kind"] == "Namespace");
    let started = Instant::now();
    // Namespaces first: namespaced objects are refused until theirs exists.
    for batch in [&namespaces, &objects] {
        let results: Vec<anyhow::Result<()>> = futures::stream::iter(batch.iter())
            .map(|o| {
                let kinds = kinds.clone();
                async move { Ok(kinds.apply(o, cluster::FIELD_MANAGER).await?) }
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;
        let failed: Vec<String> = results
            .into_iter()
            .filter_map(|r| r.err())
            .map(|e| e.to_string())
            .collect();
        if !failed.is_empty() {
            bail!("{} applies failed; first: {}", failed.len(), failed[0]);
        }
    }
    let apply_seconds = started.elapsed().as_secs_f64();
    let applied = namespaces.len() + objects.len();

    let mut candidates: Vec<&Value> = objects
        .iter()
        .filter(|o| {
            matches!(
                o["kind"].as_str(),
                Some("Deployment" | "ConfigMap" | "Service")
            )
        })
        .collect();
    let mut rng = SplitMix64::new(seed);
    rng.shuffle(&mut candidates);
    let count = ((drift * applied as f64).round() as usize).min(candidates.len());
    let chosen = &candidates[..count];
    let drift_started = Instant::now();
    let results: Vec<anyhow::Result<Value>> = futures::stream::iter(chosen.iter().enumerate())
        .map(|(n, o)| {
            let kinds = kinds.clone();
            async move { drift_one(&kinds, o, n).await }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let mut drifted = Vec::new();
    for r in results {
        drifted.push(r?);
    }
    drifted.sort_by_key(|d| d.to_string());
    let summary = json!({
        "repo": repo.display().to_string(),
        "rev": rev,
        "applied": applied,
        "applySeconds": apply_seconds,
        "appliesPerSec": applied as f64 / apply_seconds.max(1e-9),
        "driftSeconds": drift_started.elapsed().as_secs_f64(),
        "drifted": drifted.len(),
        "drift": drifted,
    });
    println!("{summary}");
    Ok(())
}

/// Changes one live object the way a person would with kubectl; returns what was done.
async fn drift_one(kinds: &Kinds, object: &Value, n: usize) -> anyhow::Result<Value> {
    let id = ObjectId::of(object)?;
    let api = kinds
        .api(&id.api_version, &id.kind, id.namespace.as_deref())
        .await?;
    let context = || format!("drift {} {}", id.kind, id.display_name());
    // The managers are what kubectl sends: `scale` sets none, so the server names it after the
    // user agent, `kubectl`; `edit` and `patch` send `kubectl-edit` and `kubectl-patch`.
    let change = match (id.kind.as_str(), n % 2) {
        ("Deployment", 0) => {
            let replicas = object
                .pointer("/spec/replicas")
                .and_then(Value::as_u64)
                .unwrap_or(1)
                + 1;
            let pp = PatchParams {
                field_manager: Some("kubectl".into()),
                ..Default::default()
            };
            api.patch_scale(
                &id.name,
                &pp,
                &Patch::Merge(json!({ "spec": { "replicas": replicas } })),
            )
            .await
            .with_context(context)?;
            json!({ "how": "kubectl scale", "field": "spec.replicas", "value": replicas })
        }
        ("Deployment", _) => {
            let container = object
                .pointer("/spec/template/spec/containers/0")
                .context("Deployment without containers")?;
            let image = format!("{}-hotfix", container["image"].as_str().unwrap_or("image"));
            let patch = json!({ "spec": { "template": { "spec": { "containers": [
                { "name": container["name"], "image": image }
            ] } } } });
            let pp = PatchParams {
                field_manager: Some("kubectl-edit".into()),
                ..Default::default()
            };
            api.patch(&id.name, &pp, &Patch::Strategic(patch))
                .await
                .with_context(context)?;
            json!({ "how": "kubectl edit", "field": "spec.template.spec.containers[0].image", "value": image })
        }
        ("ConfigMap", _) => {
            let key = match object.pointer("/data/max_connections") {
                Some(_) => "max_connections".to_string(),
                None => object["data"]
                    .as_object()
                    .and_then(|m| m.keys().next().cloned())
                    .unwrap_or_else(|| "drift".into()),
            };
            let value = format!("{}", 1000 + n);
            let pp = PatchParams {
                field_manager: Some("kubectl-patch".into()),
                ..Default::default()
            };
            api.patch(
                &id.name,
                &pp,
                &Patch::Strategic(json!({ "data": { key.clone(): value } })),
            )
            .await
            .with_context(context)?;
            json!({ "how": "kubectl patch", "field": format!("data.{key}"), "value": value })
        }
        _ => {
            let patch = json!({ "spec": { "ports": [ { "port": 80, "targetPort": 8081 } ] } });
            let pp = PatchParams {
                field_manager: Some("kubectl-patch".into()),
                ..Default::default()
            };
            api.patch(&id.name, &pp, &Patch::Strategic(patch))
                .await
                .with_context(context)?;
            json!({ "how": "kubectl patch", "field": "spec.ports[port=80].targetPort", "value": 8081 })
        }
    };
    Ok(json!({
        "kind": id.kind,
        "namespace": id.namespace,
        "name": id.name,
        "change": change,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds_at(repo: &Path, rev: &str) -> BTreeMap<String, usize> {
        let mut by_kind = BTreeMap::new();
        for (_, doc) in manifests_at(repo, rev).unwrap() {
            *by_kind.entry(ObjectId::of(&doc).unwrap().kind).or_default() += 1;
        }
        by_kind
    }

    #[test]
    fn every_commit_holds_the_requested_resources() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("env");
        repo(150, 60, &out, 5, Pack::Git).unwrap();
        let revs = git(&out, &["rev-list", "HEAD"]).unwrap();
        let revs: Vec<&str> = revs.lines().collect();
        assert_eq!(revs.len(), 60);
        for rev in revs.iter().step_by(7) {
            let by_kind = kinds_at(&out, rev);
            assert_eq!(by_kind.values().sum::<usize>(), 150, "{rev}: {by_kind:?}");
            assert!(by_kind.len() >= 4, "{by_kind:?}");
        }
        let dates = git(&out, &["log", "--format=%at"]).unwrap();
        let dates: Vec<u64> = dates.lines().map(|d| d.parse().unwrap()).collect();
        assert!(dates.windows(2).all(|w| w[0] > w[1]), "dates must advance");
    }

    #[test]
    fn same_seed_gives_same_hashes() {
        let dir = tempfile::tempdir().unwrap();
        let head = |name: &str, seed| {
            let out = dir.path().join(name);
            repo(40, 10, &out, seed, Pack::Git).unwrap();
            git(&out, &["rev-parse", "HEAD"]).unwrap()
        };
        assert_eq!(head("a", 9), head("b", 9));
        assert_ne!(head("c", 9), head("d", 10));
    }

    /// Both packings hold the same history; `git` leaves one pack made by pack-objects, and
    /// the objects whose deltas it chose differ from fast-import's.
    #[test]
    fn git_packing_keeps_the_history_and_repacks() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("git"), dir.path().join("fast"));
        repo(60, 30, &a, 3, Pack::Git).unwrap();
        repo(60, 30, &b, 3, Pack::FastImport).unwrap();
        let log = |out: &Path| git(out, &["log", "--format=%H %T"]).unwrap();
        assert_eq!(log(&a), log(&b));
        // The pack's name is its checksum: another layout of the same objects, another name.
        let packs = |out: &Path| {
            std::fs::read_dir(out.join(".git/objects/pack"))
                .unwrap()
                .filter_map(Result::ok)
                .map(|e| e.file_name())
                .filter(|n| n.to_string_lossy().ends_with(".pack"))
                .collect::<Vec<_>>()
        };
        let (git_packs, fast_packs) = (packs(&a), packs(&b));
        assert_eq!(git_packs.len(), 1, "{git_packs:?}");
        assert_eq!(fast_packs.len(), 1, "{fast_packs:?}");
        assert_ne!(git_packs, fast_packs);
    }

    #[test]
    fn big_file_has_the_requested_lines_and_history() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("big");
        big_file(500, 12, &out, 1).unwrap();
        let text = std::fs::read_to_string(out.join("platform/feature-flags.yaml")).unwrap();
        assert_eq!(text.lines().count(), 500);
        let blamed = git(
            &out,
            &["blame", "--line-porcelain", "platform/feature-flags.yaml"],
        )
        .unwrap();
        let commits: BTreeSet<&str> = blamed
            .lines()
            .filter(|l| l.len() > 40 && l.as_bytes()[40] == b' ')
            .map(|l| &l[..40])
            .collect();
        assert!(
            commits.len() > 3,
            "blame should span several commits: {}",
            commits.len()
        );
    }
}
