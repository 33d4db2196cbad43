//! `kubectl gitops sync [RESOURCE...]` (SPEC §6): server-side apply of `--rev` with preflight,
//! ordering, ApplySet tracking, prune and health waits. Rolling back is `sync --rev <older>`.

use std::time::Duration;

use clap::Args;

use super::GlobalArgs;

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

/// Runs `sync`; returns the exit code.
pub fn run(global: &GlobalArgs, args: &SyncArgs, display: &str) -> anyhow::Result<i32> {
    let _ = (global, args);
    anyhow::bail!("`{display} sync` is not built yet")
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
