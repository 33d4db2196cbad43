//! `kubectl gitops sync [RESOURCE...]` (SPEC §6): server-side apply of `--rev` with preflight,
//! ordering, ApplySet tracking, prune and health waits. Rolling back is `sync --rev <older>`.
//! Resources a live Flux or Argo CD object reconciles are handed to it, and a rollback of them
//! needs `--suspend` (SPEC §11).

use std::io::{IsTerminal, Write};
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use super::{GlobalArgs, OutputFormat, closed_pipe, exit};
use crate::cluster::ClusterClient;
use crate::ops;
use crate::ops::sync::{ControllerStep, SyncOptions, SyncOutcome, SyncPlan};
use crate::output::progress::Progress;
use crate::output::sync::{self as sync_out, write_plan, write_result};
use crate::output::{short_sha, stdout_color, use_color};

/// `sync` flags (SPEC §6).
#[derive(Debug, Clone, Args)]
pub struct SyncArgs {
    /// Only these resources, written as kubectl writes them: deploy/web, deployment.apps/web, cm/settings
    #[arg(value_name = "RESOURCE")]
    pub resources: Vec<String>,
    /// Delete Orphaned members of the environment's ApplySet after every apply succeeded
    #[arg(long)]
    pub prune: bool,
    /// Do everything but the writes; exit 1 when something would change, 0 when not
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask for confirmation (required when stdin is not a terminal)
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// After applying, wait until workloads are healthy
    #[arg(long)]
    pub wait: bool,
    /// How long --wait waits (e.g. 90s, 5m, 1h)
    #[arg(long, value_name = "D", default_value = "5m", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Refuse fields another manager owns instead of taking them over
    #[arg(long)]
    pub no_force: bool,
    /// Concurrent requests within a wave [default: config's sync.concurrency, then 16]
    #[arg(long, value_name = "N")]
    pub concurrency: Option<usize>,
    /// Suspend the Flux Kustomization/HelmRelease (spec.suspend: true), or turn off the Argo CD
    /// Application's automated sync, that reconciles the targeted resources, then apply them
    /// here; says how to resume. Needed to sync a revision other than the one the controller
    /// tracks (a rollback); `revert` is the rollback the controller keeps
    #[arg(long)]
    pub suspend: bool,
}

impl Default for SyncArgs {
    fn default() -> Self {
        SyncArgs {
            resources: Vec::new(),
            prune: false,
            dry_run: false,
            yes: false,
            wait: false,
            timeout: Duration::from_secs(300),
            no_force: false,
            concurrency: None,
            suspend: false,
        }
    }
}

/// Parses `90s`, `5m`, `1h`, `1h30m`, `250ms`, or plain seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("{s:?} is not a duration; write e.g. 90s, 5m or 1h30m");
    let s = s.trim();
    if s.is_empty() {
        return Err(bad());
    }
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .ok_or_else(bad)?;
        let value: f64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_len] {
            "ms" => value / 1000.0,
            "s" => value,
            "m" => value * 60.0,
            "h" => value * 3600.0,
            _ => return Err(bad()),
        };
        total += Duration::from_secs_f64(seconds);
        rest = &rest[unit_len..];
    }
    Ok(total)
}

/// Runs `sync`; returns the exit code: 0 done (or nothing to do), 1 changes pending
/// (`--dry-run`), 2 error or refused (nothing written when refused), 3 `--wait` timed out.
pub fn run(global: &GlobalArgs, args: &SyncArgs, display: &str) -> anyhow::Result<i32> {
    if global.offline {
        anyhow::bail!(
            "`{display} sync` writes to the cluster and cannot run with --offline; drop --offline"
        );
    }
    if matches!(global.output, OutputFormat::Wide | OutputFormat::Porcelain) {
        anyhow::bail!(
            "`{display} sync` does not support -o {}; use -o text, json or yaml",
            global.output.name()
        );
    }
    let opts = SyncOptions {
        target: super::target(global)?,
        resources: args.resources.clone(),
        only: Vec::new(),
        concurrency: args.concurrency,
        force: !args.no_force,
        prune: args.prune,
        suspend: args.suspend,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(sync(global, args, display, &opts))
}

async fn sync(
    global: &GlobalArgs,
    args: &SyncArgs,
    display: &str,
    opts: &SyncOptions,
) -> anyhow::Result<i32> {
    let cluster = ClusterClient::connect(
        opts.target.kubeconfig.as_deref(),
        opts.target.context.as_deref(),
    )
    .await?;
    let shown_path = if opts.target.path.is_empty() {
        "."
    } else {
        opts.target.path.as_str()
    };
    let plan = {
        let _progress = Progress::start(format!(
            "planning sync of {shown_path} at {}",
            opts.target.rev
        ));
        ops::sync::plan(&cluster, opts).await?
    };
    let color = stdout_color(global.color);
    let err_color = use_color(
        global.color,
        std::io::stderr().is_terminal(),
        std::env::var("NO_COLOR").ok().as_deref(),
        std::env::var("TERM").ok().as_deref(),
    );
    let mut err = std::io::stderr();
    for warning in &plan.warnings {
        writeln!(err, "warning: {warning}")?;
    }

    if !plan.failures.is_empty() {
        return refuse_failed_plan(global, display, &plan, color);
    }
    if plan.is_rollback() {
        writeln!(
            err,
            "note: syncing {} while HEAD is {}: the cluster will differ from HEAD until you sync HEAD again",
            short_sha(&plan.revision.id),
            short_sha(&plan.head.id)
        )?;
    }

    if args.dry_run {
        {
            let mut out = std::io::stdout().lock();
            if closed_pipe(
                write_plan(&mut out, &plan, global.output, color).and_then(|()| Ok(out.flush()?)),
            )? {
                return Ok(dry_run_code(&plan));
            }
        }
        writeln!(err, "dry run: {}", sync_out::plan_counts(&plan))?;
        return Ok(dry_run_code(&plan));
    }

    if !args.yes && !confirmed(&plan, err_color)? {
        return Ok(exit::ERROR);
    }
    for request in plan
        .controllers
        .iter()
        .filter(|c| c.step == ControllerStep::Suspend)
    {
        let count = request.members.len();
        writeln!(
            err,
            "{}: suspending it before applying the {count} {} it reconciles",
            request.owner,
            if count == 1 { "resource" } else { "resources" }
        )?;
    }

    let result = {
        let progress = Progress::start(format!(
            "syncing {} resources to {}",
            plan.resources.len() + plan.prune.len(),
            plan.context
        ));
        let result = ops::sync::execute(&cluster, &plan, &|done, total, row| {
            tracing::debug!(done, total, resource = %row.id, result = ?row.result, "synced");
        })
        .await;
        drop(progress);
        result
    };
    {
        let mut out = std::io::stdout().lock();
        if closed_pipe(
            write_result(&mut out, &result, global.output, color).and_then(|()| Ok(out.flush()?)),
        )? {
            return Ok(result.exit_code());
        }
    }
    for error in &result.errors {
        match &error.id {
            Some(id) => writeln!(err, "error: {id}: {}", error.message)?,
            None => writeln!(err, "error: {}", error.message)?,
        }
    }
    writeln!(err, "{}", sync_out::result_summary(&result))?;
    let code = result.exit_code();
    if code != exit::OK {
        let applied = result
            .resources
            .iter()
            .filter(|r| matches!(r.result, SyncOutcome::Created | SyncOutcome::Configured))
            .count();
        writeln!(
            err,
            "sync incomplete: {applied} applied; the rest (skipped or failed, listed above) were not; run `{display} sync` again to finish"
        )?;
        return Ok(code);
    }
    if plan.is_rollback() {
        writeln!(
            err,
            "rolled back to {}: the cluster now differs from HEAD ({})",
            short_sha(&plan.revision.id),
            short_sha(&plan.head.id)
        )?;
    }
    if args.wait {
        return wait_healthy(&cluster, &plan, args.timeout).await;
    }
    Ok(exit::OK)
}

/// The preflight refused resources: the plan (JSON/YAML) and one error line each; nothing is
/// written.
fn refuse_failed_plan(
    global: &GlobalArgs,
    display: &str,
    plan: &SyncPlan,
    color: bool,
) -> anyhow::Result<i32> {
    let mut err = std::io::stderr();
    if matches!(global.output, OutputFormat::Json | OutputFormat::Yaml) {
        let mut out = std::io::stdout().lock();
        if closed_pipe(write_plan(&mut out, plan, global.output, color))? {
            return Ok(exit::ERROR);
        }
    }
    for failure in &plan.failures {
        match &failure.id {
            Some(id) => writeln!(err, "error: {id}: {}", failure.message)?,
            None => writeln!(err, "error: {}", failure.message)?,
        }
    }
    writeln!(
        err,
        "preflight failed for {} of {} resources: nothing written; fix them and run `{display} sync` again",
        plan.failures.len(),
        plan.resources.len() + plan.failures.len()
    )?;
    Ok(exit::ERROR)
}

/// Asks on the terminal whether to apply `plan`; refuses without a terminal (`--yes` is the
/// way for scripts). `Ok(false)`: nothing is to be written.
fn confirmed(plan: &SyncPlan, err_color: bool) -> anyhow::Result<bool> {
    let mut err = std::io::stderr();
    let terminal = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    if !terminal {
        writeln!(
            err,
            "error: refusing to sync without confirmation: stdin is not a terminal; pass --yes to sync ({}), or --dry-run to see the plan. Nothing written.",
            sync_out::plan_counts(plan)
        )?;
        return Ok(false);
    }
    write!(err, "{}", sync_out::plan_text(plan, false, err_color))?;
    write!(err, "Apply these changes? [y/N] ")?;
    err.flush()?;
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .context("cannot read the answer")?;
    if !matches!(answer.trim(), "y" | "Y" | "yes" | "Yes" | "YES") {
        writeln!(err, "sync cancelled: nothing written")?;
        return Ok(false);
    }
    Ok(true)
}

/// `--wait`: until the synced workloads are healthy, or `timeout` (exit 3).
async fn wait_healthy(
    cluster: &ClusterClient,
    plan: &SyncPlan,
    timeout: Duration,
) -> anyhow::Result<i32> {
    let mut err = std::io::stderr();
    let _progress = Progress::start("waiting for workloads to become healthy");
    let unhealthy = ops::sync::wait_healthy(cluster, plan, timeout).await?;
    if !unhealthy.is_empty() {
        for u in &unhealthy {
            writeln!(err, "timeout: {}: {}", u.id, u.reason)?;
        }
        writeln!(
            err,
            "{} of the synced resources not healthy after {:?}; check them with `kubectl describe`, or raise --timeout",
            unhealthy.len(),
            timeout
        )?;
        return Ok(exit::TIMEOUT);
    }
    writeln!(err, "all workloads healthy")?;
    Ok(exit::OK)
}

/// `--dry-run`: 1 when something would change, else 0.
fn dry_run_code(plan: &SyncPlan) -> i32 {
    if plan.changes() > 0 {
        exit::DIFFERENCES
    } else {
        exit::OK
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_like_kubectl() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("12"), Ok(Duration::from_secs(12)));
        assert!(parse_duration("5 minutes").is_err());
        assert!(parse_duration("").is_err());
    }
}
