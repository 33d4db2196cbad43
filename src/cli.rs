//! Command-line interface: clap definitions and dispatch, one function per subcommand.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::sandbox::{Sandbox, SandboxOptions};

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
    /// Run an embedded Kubernetes API server on 127.0.0.1 for trials, the demo and tests
    Sandbox(SandboxArgs),
    /// Print the version and the git commit of the build
    Version,
    /// Print a shell completion script
    Completion {
        /// Shell to complete for
        shell: clap_complete::Shell,
    },
}

/// `sandbox` flags (SPEC §10).
#[derive(Debug, Clone, Args)]
pub struct SandboxArgs {
    /// Port on 127.0.0.1 (0 picks any free port)
    #[arg(long, default_value_t = 0, value_name = "P")]
    pub port: u16,
    /// Write the kubeconfig here [default: a new temp directory]
    #[arg(long, value_name = "FILE")]
    pub kubeconfig_out: Option<PathBuf>,
    /// Keep objects across restarts in this file
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Kubernetes version to report (major.minor); kubectl's version dispatcher picks by it
    #[arg(long, default_value = "1.33", value_name = "X.Y")]
    pub kube_version: String,
    /// Answer this fraction of requests with 500 (fault injection)
    #[arg(long, default_value_t = 0.0, value_name = "F", value_parser = parse_fraction)]
    pub fail_rate: f64,
    /// Answer this fraction of requests with 429 and Retry-After: 1 (fault injection)
    #[arg(long, default_value_t = 0.0, value_name = "F", value_parser = parse_fraction)]
    pub throttle_rate: f64,
    /// Add this many milliseconds to every response
    #[arg(long, default_value_t = 0, value_name = "MS")]
    pub latency: u64,
    /// Close each watch after N events (fault injection)
    #[arg(long, value_name = "N")]
    pub drop_watches_after: Option<u64>,
    /// Milliseconds a Deployment's status takes to follow its spec
    #[arg(long, default_value_t = 500, value_name = "MS")]
    pub rollout_delay: u64,
}

fn parse_fraction(s: &str) -> Result<f64, String> {
    let f: f64 = s.parse().map_err(|_| {
        format!("{s:?} is not a number; give a fraction between 0 and 1, e.g. 0.15")
    })?;
    if (0.0..=1.0).contains(&f) {
        Ok(f)
    } else {
        Err(format!("{s} is outside 0..1; give a fraction, e.g. 0.15"))
    }
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
    match cli.command {
        Some(Command::Version) => version(&cli.global),
        Some(Command::Completion { shell }) => completion(shell, display),
        Some(Command::Sandbox(args)) => sandbox(args),
        None => anyhow::bail!(
            "the terminal UI is not built yet; run `{display} --help` for the commands there are"
        ),
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
    clap_complete::generate(shell, &mut cmd, bin, &mut std::io::stdout());
    Ok(exit::OK)
}

fn sandbox(args: SandboxArgs) -> anyhow::Result<i32> {
    let opts = SandboxOptions {
        port: args.port,
        kubeconfig_out: args.kubeconfig_out,
        state: args.state,
        kube_version: args.kube_version,
        fail_rate: args.fail_rate,
        throttle_rate: args.throttle_rate,
        latency_ms: args.latency,
        drop_watches_after: args.drop_watches_after,
        rollout_delay_ms: args.rollout_delay,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let sandbox = Sandbox::start(opts).await?;
        {
            let mut out = std::io::stdout().lock();
            writeln!(out, "ready {}", sandbox.kubeconfig().display())?;
            out.flush()?;
        }
        tracing::info!(server = %sandbox.url(), "sandbox serving; stop with Ctrl-C");
        wait_for_termination().await?;
        sandbox.shutdown().await?;
        Ok(exit::OK)
    })
}

/// Resolves on SIGINT or SIGTERM.
async fn wait_for_termination() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.context("cannot watch SIGINT")?,
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c()
        .await
        .context("cannot watch Ctrl-C")?;
    Ok(())
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
    fn fractions_are_checked() {
        assert_eq!(parse_fraction("0.15"), Ok(0.15));
        assert!(parse_fraction("1.5").is_err());
        assert!(parse_fraction("x").is_err());
    }

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
