//! `kubectl gitops blame RESOURCE` (SPEC §7): each line of the resource's document with the
//! commit that last changed it and a drift mark from the live object; `--live` the other way.

use std::io::Write;

use anyhow::Context;
use clap::Args;

use super::{GlobalArgs, closed_pipe, exit};
use crate::ops::blame::{BlameError, BlameOptions, blame_reporting_render_errors};
use crate::output::blame::{BlameView, write_blame};
use crate::output::progress::Progress;
use crate::output::{OutputFormat, stdout_color};

/// `blame` flags (SPEC §7).
#[derive(Debug, Clone, Default, Args)]
pub struct BlameArgs {
    /// The resource, written as kubectl writes it: deploy/web, deployment.apps/web, cm/settings
    #[arg(value_name = "RESOURCE")]
    pub resource: String,
    /// Blame the live object: each line to the commit that set the value, or the field manager
    #[arg(long)]
    pub live: bool,
}

/// Runs `blame`; returns the exit code.
pub fn run(global: &GlobalArgs, args: &BlameArgs, display: &str) -> anyhow::Result<i32> {
    if global.output == OutputFormat::Wide {
        anyhow::bail!(
            "`{display} blame` does not support -o wide; use -o text, porcelain, json or yaml"
        );
    }
    let opts = BlameOptions {
        target: super::target(global)?,
        resource: args.resource.clone(),
        live: args.live,
        offline: global.offline,
    };
    let (report, unrendered) = {
        let _progress = Progress::start(format!("blaming {} at {}", args.resource, global.rev));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        match runtime.block_on(blame_reporting_render_errors(&opts)) {
            Ok(found) => found,
            Err(BlameError::Cluster(error)) => {
                anyhow::bail!(
                    "{error}; or use --offline for the git side alone (`{display} blame {} --offline`)",
                    args.resource
                )
            }
            Err(error) => return Err(error.into()),
        }
    };
    let view = BlameView {
        format: global.output,
        color: stdout_color(global.color),
    };
    let mut out = std::io::stdout().lock();
    closed_pipe(write_blame(&mut out, &report, &view).and_then(|()| Ok(out.flush()?)))?;
    // SPEC §3: a file that does not render is an error for that file only; the blame above
    // stands, and the exit code says error.
    if unrendered.is_empty() {
        return Ok(exit::OK);
    }
    for error in &unrendered {
        eprintln!("error: {error}");
    }
    Ok(exit::ERROR)
}
