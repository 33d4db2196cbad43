//! `kubectl gitops sandbox` (SPEC §10): the embedded API server in the foreground.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::{Termination, exit};
use crate::sandbox::{Sandbox, SandboxOptions};

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

pub(crate) fn run(args: SandboxArgs) -> anyhow::Result<i32> {
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
        let mut termination = Termination::listen()?;
        let sandbox = Sandbox::start(opts).await?;
        {
            let mut out = std::io::stdout().lock();
            writeln!(out, "ready {}", sandbox.kubeconfig().display())?;
            out.flush()?;
        }
        tracing::info!(server = %sandbox.url(), "sandbox serving; stop with Ctrl-C");
        termination.wait().await?;
        sandbox.shutdown().await?;
        Ok(exit::OK)
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractions_are_checked() {
        assert_eq!(parse_fraction("0.15"), Ok(0.15));
        assert!(parse_fraction("1.5").is_err());
        assert!(parse_fraction("x").is_err());
    }
}
