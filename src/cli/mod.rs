//! Command-line interface: clap definitions and dispatch, one function per subcommand.

use gitops_core::Target;
use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

use crate::ops::status::{StatusOptions, StatusReport};
use crate::output::diff::{DiffView, run_external, write_diff};
use crate::output::progress::Progress;
use crate::output::status::{self as status_out, StatusView, write_status};
use crate::output::{DiffPalette, OutputError, stdout_color, terminal_width};

pub mod blame;
#[cfg(feature = "sandbox")]
pub mod demo;
pub mod history;
pub mod rev_diff;
pub mod revert;
#[cfg(feature = "sandbox")]
pub mod sandbox;
pub mod sync;
pub mod ui;

/// Exit codes shared by every command (SPEC §5).
pub mod exit {
    /// OK / in sync.
    pub const OK: i32 = 0;
    /// Differences found.
    pub const DIFFERENCES: i32 = 1;
    /// Error or refused.
    pub const ERROR: i32 = 2;
    /// Timed out waiting for health.
    pub const TIMEOUT: i32 = 3;
}

/// GitOps for kubectl: drift, history, blame, sync and revert between a git repo and a cluster.
#[derive(Debug, Parser)]
#[command(name = "kubectl-gitops", version = crate::version::VERSION_LINE, propagate_version = true)]
pub struct Cli {
    /// Flags every subcommand takes.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// Terminal UI flags, for `kubectl gitops` without a subcommand.
    #[command(flatten)]
    pub ui: ui::UiArgs,
    /// The subcommand; none opens the terminal UI.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Global flags (SPEC §2).
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Path to the kubeconfig file [default: $KUBECONFIG, then ~/.kube/config]
    #[arg(long, global = true, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context to use [default: the current context]
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// Namespace for manifests that set none [default: the context's, then "default"]
    #[arg(short = 'n', long, global = true, value_name = "NS")]
    pub namespace: Option<String>,
    /// Environment repo: any directory inside a work tree, or a bare repo [default: the repo containing the cwd]
    #[arg(short = 'C', long, global = true, value_name = "DIR")]
    pub repo: Option<PathBuf>,
    /// Directory of the repo that holds this environment [default: repo root]
    #[arg(long, global = true, value_name = "SUBDIR")]
    pub path: Option<PathBuf>,
    /// Commit to compare, sync or blame (anything git rev-parse takes for a commit)
    #[arg(long, global = true, value_name = "REV", default_value = "HEAD")]
    pub rev: String,
    /// Output format: text, json, yaml; some commands add wide, porcelain
    #[arg(
        short = 'o',
        long,
        global = true,
        value_name = "FMT",
        default_value = "text"
    )]
    pub output: OutputFormat,
    /// When to colour output: auto, always, never (NO_COLOR set means never)
    #[arg(long, global = true, value_name = "WHEN", default_value = "auto")]
    pub color: ColorWhen,
    /// UI and diff theme: a built-in name or a theme file [default: $KUBECTL_GITOPS_THEME, then dark]
    #[arg(long, global = true, value_name = "NAME|FILE")]
    pub theme: Option<String>,
    /// More logging on stderr (repeatable: -v, -vv, -vvv)
    #[arg(short = 'v', long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Git only: make no cluster calls
    #[arg(long, global = true)]
    pub offline: bool,
}

pub use crate::output::{ColorWhen, OutputFormat};

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// One row per resource: its state (Synced, Drifted, Missing, Orphaned, Unknown, Error) at --rev
    #[command(after_help = STATUS_EXIT_CODES)]
    Status(StatusArgs),
    /// Unified YAML diff per resource: live -> what sync would make it (honours KUBECTL_EXTERNAL_DIFF); with --from REV, the rendered environment at REV -> --rev
    #[command(after_help = STATUS_EXIT_CODES)]
    Diff(DiffArgs),
    /// The commits that changed the environment (or RESOURCE), newest first, with resource changes
    History(history::HistoryArgs),
    /// Each line of RESOURCE with the commit that last changed it and live drift marks
    Blame(blame::BlameArgs),
    /// Apply --rev to the cluster with server-side apply (rolling back is `sync --rev <older>`)
    #[command(
        after_help = "Beside a controller: resources a live Flux Kustomization or HelmRelease, or Argo CD Application, reconciles are not applied here; that controller is asked instead (Flux: the reconcile.fluxcd.io/requestedAt annotation, as `flux reconcile`; Argo CD: a sync operation of the revision, as `argocd app sync`), after the other applies. Syncing a revision other than the one it tracks (a rollback) is refused unless --suspend, which suspends it first and applies here; `kubectl gitops revert` is the rollback the controller keeps.\n\nExit status: 0 ok, 1 changes pending (--dry-run), 2 error or refused, 3 timed out waiting (--wait)."
    )]
    Sync(sync::SyncArgs),
    /// Make a new commit that undoes COMMIT, as `git revert` does (never pushes)
    Revert(revert::RevertArgs),
    /// Open the terminal UI (the same as no subcommand)
    Ui(ui::UiArgs),
    /// Open the UI on a sample repo and an in-process sandbox: needs no cluster, no kubectl
    #[cfg(feature = "sandbox")]
    Demo(demo::DemoArgs),
    /// Run an embedded Kubernetes API server on 127.0.0.1 for trials, the demo and tests
    #[cfg(feature = "sandbox")]
    Sandbox(sandbox::SandboxArgs),
    /// Print the version and the git commit of the build
    Version,
    /// Print a shell completion script
    Completion {
        /// Shell to complete for
        shell: clap_complete::Shell,
    },
}

const STATUS_EXIT_CODES: &str = "Exit status: 0 in sync, 1 differences found, 2 error (a resource or file could not be evaluated).";

/// `--diff-strategy` values (SPEC §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiffStrategy {
    /// Server-side apply dry-run compared with live: what `kubectl diff --server-side` shows.
    Server,
    /// No write calls (read-only credentials): every desired field must hold live.
    Client,
}

impl From<DiffStrategy> for crate::drift::Strategy {
    fn from(value: DiffStrategy) -> Self {
        match value {
            DiffStrategy::Server => crate::drift::Strategy::Server,
            DiffStrategy::Client => crate::drift::Strategy::Client,
        }
    }
}

/// `status` flags (SPEC §5).
#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    /// How drift is determined: server (dry-run apply) or client (no writes)
    #[arg(long, value_name = "STRATEGY", default_value = "server")]
    pub diff_strategy: DiffStrategy,
    /// Only these resources, written as kubectl writes them: deploy/web, deployment.apps/web, cm/settings
    #[arg(value_name = "RESOURCE")]
    pub resources: Vec<String>,
}

/// `diff` flags (SPEC §5).
#[derive(Debug, Clone, Args)]
pub struct DiffArgs {
    /// How drift is determined: server (dry-run apply) or client (no writes)
    #[arg(long, value_name = "STRATEGY", default_value = "server")]
    pub diff_strategy: DiffStrategy,
    /// Show live and git side by side, fitted to the terminal width
    #[arg(long)]
    pub side_by_side: bool,
    /// Lines of context around each change
    #[arg(short = 'U', long, value_name = "N", default_value_t = crate::diff::DEFAULT_CONTEXT)]
    pub unified: usize,
    /// Compare the environment rendered at REV with it at --rev (default HEAD), no cluster: what a merge would change (-o markdown for a pull-request comment)
    #[arg(long, value_name = "REV")]
    pub from: Option<String>,
    /// With --from: also compare with the live cluster (not supported yet)
    #[arg(long, requires = "from")]
    pub live: bool,
    /// With --from: neither read nor keep renders and comparisons under the git dir
    #[arg(long, requires = "from")]
    pub no_cache: bool,
    /// Only these resources, written as kubectl writes them: deploy/web, deployment.apps/web, cm/settings
    #[arg(value_name = "RESOURCE")]
    pub resources: Vec<String>,
}

/// The name users type: `kubectl gitops` when run as the kubectl plugin binary.
pub fn display_name(argv0: Option<&OsString>) -> String {
    let stem = argv0
        .map(PathBuf::from)
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "kubectl-gitops".into());
    if stem == "kubectl-gitops" {
        "kubectl gitops".into()
    } else {
        stem
    }
}

/// The clap command with usage text naming the program as the user invoked it.
pub fn command(display: &str) -> clap::Command {
    Cli::command()
        .bin_name(display.to_string())
        .display_name(display.to_string())
}

/// Parses `args` (argv[0] first) and runs the command; returns the process exit code.
pub fn run(args: Vec<OsString>) -> i32 {
    let display = display_name(args.first());
    let matches = match command(&display).try_get_matches_from(&args) {
        Ok(m) => m,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::ERROR
            } else {
                exit::OK
            };
            let _ = e.print();
            return code;
        }
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return exit::ERROR;
        }
    };
    crate::logging::init(cli.global.verbose);
    match dispatch(cli, &display) {
        Ok(code) => code,
        Err(err) => {
            crate::logging::report_error(&err);
            exit::ERROR
        }
    }
}

fn dispatch(cli: Cli, display: &str) -> anyhow::Result<i32> {
    let markdown_ok = matches!(&cli.command, Some(Command::Diff(args)) if args.from.is_some());
    if cli.global.output == OutputFormat::Markdown && !markdown_ok {
        anyhow::bail!(
            "-o markdown is written by `{display} diff --from REV` only; use -o text, json or yaml here"
        );
    }
    match cli.command {
        Some(Command::Version) => version(&cli.global),
        Some(Command::Completion { shell }) => completion(shell, display),
        #[cfg(feature = "sandbox")]
        Some(Command::Sandbox(args)) => sandbox::run(args),
        Some(Command::Status(args)) => status(&cli.global, &args, display),
        Some(Command::Diff(args)) => diff(&cli.global, &args, display),
        Some(Command::History(args)) => history::run(&cli.global, &args, display),
        Some(Command::Blame(args)) => blame::run(&cli.global, &args, display),
        Some(Command::Sync(args)) => sync::run(&cli.global, &args, display),
        Some(Command::Revert(args)) => revert::run(&cli.global, &args, display),
        Some(Command::Ui(args)) => ui::run(&cli.global, &args, display),
        #[cfg(feature = "sandbox")]
        Some(Command::Demo(args)) => demo::run(&cli.global, &args, display),
        None => ui::run(&cli.global, &cli.ui, display),
    }
}

fn version(global: &GlobalArgs) -> anyhow::Result<i32> {
    let mut out = std::io::stdout().lock();
    match global.output {
        OutputFormat::Json | OutputFormat::Yaml => {
            let doc = serde_json::json!({
                "apiVersion": "kubectl-gitops/v1",
                "kind": "Version",
                "version": crate::version::VERSION,
                "gitCommit": crate::version::GIT_COMMIT,
            });
            if global.output == OutputFormat::Json {
                serde_json::to_writer_pretty(&mut out, &doc)?;
                writeln!(out)?;
            } else {
                write!(out, "{}", serde_saphyr::to_string(&doc)?)?;
            }
        }
        _ => writeln!(
            out,
            "kubectl-gitops {} (git {})",
            crate::version::VERSION,
            crate::version::GIT_COMMIT
        )?,
    }
    Ok(exit::OK)
}

fn completion(shell: clap_complete::Shell, display: &str) -> anyhow::Result<i32> {
    // Shells complete executables, so the script is for the binary name even when usage text
    // says `kubectl gitops`.
    let bin = if display == "kubectl gitops" {
        "kubectl-gitops"
    } else {
        display
    };
    let mut cmd = Cli::command();
    // clap_complete panics when its writer fails, so render into memory and write once:
    // a reader that stops early (`| head`) ends the command quietly.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, bin, &mut script);
    match std::io::stdout().lock().write_all(&script) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(exit::OK),
        other => other
            .context("cannot write the completion script")
            .map(|()| exit::OK),
    }
}

/// The environment the global flags name (SPEC §2): `-C` (else the current directory),
/// `--path` (`/`-separated), `--rev`, `-n`, `--kubeconfig`, `--context`, and the kubectl that
/// runs us as a plugin (it sets `KUBECTL_PATH`; kustomize builds use that kubectl).
pub fn target(global: &GlobalArgs) -> anyhow::Result<Target> {
    let repo = match &global.repo {
        Some(dir) => dir.clone(),
        None => std::env::current_dir().context("cannot read the current directory")?,
    };
    let path = global
        .path
        .as_deref()
        .map(|p| p.to_string_lossy().replace('\\', "/"))
        .unwrap_or_default();
    Ok(Target {
        repo,
        path,
        rev: global.rev.clone(),
        namespace: global.namespace.clone(),
        kubeconfig: global.kubeconfig.clone(),
        context: global.context.clone(),
        kubectl: std::env::var_os("KUBECTL_PATH").map(PathBuf::from),
    })
}

/// Evaluates `--rev` of the environment against the cluster, with a spinner on stderr while
/// it runs.
fn evaluate(
    global: &GlobalArgs,
    strategy: DiffStrategy,
    resources: &[String],
    display: &str,
    command: &str,
    texts: bool,
) -> anyhow::Result<StatusReport> {
    // matchesRevision is in the JSON and YAML documents only.
    let matches_revision = matches!(global.output, OutputFormat::Json | OutputFormat::Yaml);
    if global.offline {
        anyhow::bail!(
            "`{display} {command}` compares git with the cluster and cannot run with --offline; \
             drop --offline, or use `{display} history` / `{display} blame` for git-only views"
        );
    }
    let opts = StatusOptions {
        target: target(global)?,
        strategy: strategy.into(),
        resources: resources.to_vec(),
        texts,
        matches_revision,
        ..StatusOptions::default()
    };
    let path = &opts.target.path;
    let shown_path = if path.is_empty() { "." } else { path.as_str() };
    let _progress = Progress::start(format!("evaluating {shown_path} at {}", global.rev));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let report = runtime.block_on(crate::ops::status::evaluate(&opts))?;
    let stats = &report.stats;
    tracing::info!(
        resources = report.resources.len(),
        lists = stats.lists,
        dry_runs = stats.dry_runs,
        dry_runs_skipped = stats.dry_runs_skipped,
        commits_walked = stats.commits_walked,
        "evaluated"
    );
    Ok(report)
}

fn status(global: &GlobalArgs, args: &StatusArgs, display: &str) -> anyhow::Result<i32> {
    let report = evaluate(
        global,
        args.diff_strategy,
        &args.resources,
        display,
        "status",
        false,
    )?;
    let view = StatusView {
        format: global.output,
        color: stdout_color(global.color),
        now: chrono::Utc::now(),
    };
    {
        let mut out = std::io::stdout().lock();
        if closed_pipe(write_status(&mut out, &report, &view).and_then(|()| Ok(out.flush()?)))? {
            return Ok(report.exit_code());
        }
    }
    let mut err = std::io::stderr().lock();
    for line in status_out::diagnostics(&report) {
        writeln!(err, "{line}")?;
    }
    if matches!(global.output, OutputFormat::Text | OutputFormat::Wide) {
        writeln!(err, "{}", status_out::summary_line(&report))?;
    }
    Ok(report.exit_code())
}

/// `Ok(true)` when stdout was closed by the reader (`| head`): like other Unix tools, stop
/// quietly instead of reporting an error.
pub fn closed_pipe(result: Result<(), OutputError>) -> anyhow::Result<bool> {
    match result {
        Ok(()) => Ok(false),
        Err(OutputError::Io(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(true),
        Err(OutputError::Json(e)) if e.io_error_kind() == Some(std::io::ErrorKind::BrokenPipe) => {
            Ok(true)
        }
        Err(e) => Err(e.into()),
    }
}

/// The diff colours for `--theme` / `$KUBECTL_GITOPS_THEME` (SPEC §9).
pub(crate) fn diff_palette(global: &GlobalArgs) -> anyhow::Result<DiffPalette> {
    let name = global
        .theme
        .clone()
        .or_else(|| {
            std::env::var("KUBECTL_GITOPS_THEME")
                .ok()
                .filter(|t| !t.is_empty())
        })
        .unwrap_or_else(|| "dark".into());
    if let Some(palette) = DiffPalette::builtin(&name) {
        return Ok(palette);
    }
    if std::path::Path::new(&name).is_file() {
        // Theme files carry the UI's keys; the CLI diff keeps the default colours for them.
        tracing::info!(theme = %name, "theme files style the UI; the CLI diff uses the dark colours");
        return Ok(DiffPalette::default());
    }
    anyhow::bail!("unknown theme {name:?}; use dark, light or high-contrast, or a theme file path")
}

fn diff(global: &GlobalArgs, args: &DiffArgs, display: &str) -> anyhow::Result<i32> {
    if let Some(from) = &args.from {
        return rev_diff::run(global, args, from, display);
    }
    if global.output == OutputFormat::Wide {
        anyhow::bail!(
            "`{display} diff` does not support -o wide; use -o text, json, yaml or porcelain"
        );
    }
    let palette = diff_palette(global)?;
    let report = evaluate(
        global,
        args.diff_strategy,
        &args.resources,
        display,
        "diff",
        true,
    )?;
    let external = std::env::var("KUBECTL_EXTERNAL_DIFF")
        .ok()
        .filter(|v| !v.trim().is_empty());
    let mut code = report.exit_code();
    match external {
        Some(spec) if global.output == OutputFormat::Text => {
            let scratch = std::env::temp_dir().join(format!(
                "kubectl-gitops-diff-{}",
                uuid::Uuid::new_v4().simple()
            ));
            let result = run_external(&spec, &report, &scratch);
            let _ = std::fs::remove_dir_all(&scratch);
            let program_code = result?;
            // kubectl passes the program's status on; above 1 it is the program's failure,
            // which in our exit codes is an error.
            code = match program_code {
                0 | 1 if code == exit::ERROR => exit::ERROR,
                0 | 1 => program_code,
                other => {
                    eprintln!("error: {spec:?} (KUBECTL_EXTERNAL_DIFF) exited with status {other}");
                    exit::ERROR
                }
            };
        }
        _ => {
            let view = DiffView {
                format: global.output,
                color: stdout_color(global.color),
                side_by_side: args.side_by_side,
                width: terminal_width(),
                context: args.unified,
                palette,
            };
            let mut out = std::io::stdout().lock();
            if closed_pipe(write_diff(&mut out, &report, &view).and_then(|()| Ok(out.flush()?)))? {
                return Ok(code);
            }
        }
    }
    let mut err = std::io::stderr().lock();
    for line in status_out::diagnostics(&report) {
        writeln!(err, "{line}")?;
    }
    Ok(code)
}

/// SIGINT and SIGTERM, listened for from creation on: create it before announcing readiness,
/// so a signal sent right after `ready` is not lost to the default handler.
pub struct Termination {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Termination {
    /// Installs the handlers (within a tokio runtime).
    pub fn listen() -> anyhow::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Termination {
                interrupt: signal(SignalKind::interrupt()).context("cannot watch SIGINT")?,
                terminate: signal(SignalKind::terminate()).context("cannot watch SIGTERM")?,
            })
        }
        #[cfg(not(unix))]
        Ok(Termination {})
    }

    /// Resolves on the first SIGINT or SIGTERM.
    pub async fn wait(&mut self) -> anyhow::Result<()> {
        #[cfg(unix)]
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
        #[cfg(not(unix))]
        tokio::signal::ctrl_c()
            .await
            .context("cannot watch Ctrl-C")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_binary_is_shown_as_kubectl_subcommand() {
        assert_eq!(
            display_name(Some(&"/usr/bin/kubectl-gitops".into())),
            "kubectl gitops"
        );
        assert_eq!(display_name(Some(&"./kgo".into())), "kgo");
    }

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
