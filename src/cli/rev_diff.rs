//! `kubectl gitops diff --from REV [--rev REV2] [RESOURCE...]` (SPEC §5): the rendered
//! environment at two commits, compared resource by resource, with no cluster.

use std::io::Write;

use anyhow::Context;

use super::{DiffArgs, GlobalArgs, OutputFormat, closed_pipe, diff_palette, target};
use crate::ops::rev_diff::{RevisionDiff, RevisionDiffOptions, Texts, diff_revisions};
use crate::output::diff::DiffView;
use crate::output::progress::Progress;
use crate::output::rev_diff::{summary_line, write_rev_diff};
use crate::output::{short_sha, stdout_color, terminal_width};

/// Runs `diff --from`; returns the exit code: 0 no differences, 1 differences, 2 a unit that
/// did not render (the rest is still compared and printed).
pub fn run(global: &GlobalArgs, args: &DiffArgs, from: &str, display: &str) -> anyhow::Result<i32> {
    if args.live {
        anyhow::bail!(
            "`{display} diff --from --live` is not supported yet; drop --live to compare the two \
             commits as rendered, or run `{display} diff --rev REV` to compare one commit with the cluster"
        );
    }
    if global.output == OutputFormat::Wide {
        anyhow::bail!(
            "`{display} diff --from` does not support -o wide; use -o text, json, yaml, porcelain or markdown"
        );
    }
    let palette = diff_palette(global)?;
    let color = stdout_color(global.color) && global.output != OutputFormat::Markdown;
    // Plain text and Markdown show hunks only (kept with each comparison); colour needs the
    // whole texts to highlight them, side by side their line counts.
    let texts = match global.output {
        OutputFormat::Text if color || args.side_by_side => Texts::Full,
        OutputFormat::Text | OutputFormat::Markdown => Texts::Hunks(args.unified),
        _ => Texts::None,
    };
    let opts = RevisionDiffOptions {
        target: target(global)?,
        from: from.to_owned(),
        resources: args.resources.clone(),
        texts,
        cache: !args.no_cache,
    };
    let report = {
        let _progress = Progress::start(format!("rendering {from} and {}", global.rev));
        // One worker: the comparison runs on this thread (block_on) and its own threads, so
        // more workers would only be started and stopped (about half a millisecond each in a
        // warm run of ten).
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        runtime.block_on(diff_revisions(&opts))?
    };
    let view = DiffView {
        format: global.output,
        color,
        side_by_side: args.side_by_side,
        width: terminal_width(),
        context: args.unified,
        palette,
    };
    let rerun = rerun_command(&report, global, display);
    let code = report.exit_code();
    {
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        if closed_pipe(
            write_rev_diff(&mut out, &report, &view, &rerun).and_then(|()| Ok(out.flush()?)),
        )? {
            return Ok(code);
        }
    }
    let mut err = std::io::stderr().lock();
    for error in &report.render_errors {
        writeln!(err, "error: {error}")?;
    }
    for warning in &report.warnings {
        writeln!(err, "warning: {warning}")?;
    }
    if matches!(global.output, OutputFormat::Text) {
        writeln!(err, "{}", summary_line(&report))?;
    }
    Ok(code)
}

/// The command that shows every diff of `report` (for a trimmed Markdown comment): the two
/// commits by short sha, and `--path` when set.
fn rerun_command(report: &RevisionDiff, global: &GlobalArgs, display: &str) -> String {
    let mut command = format!(
        "{display} diff --from {} --rev {}",
        short_sha(&report.from.id),
        short_sha(&report.revision.id)
    );
    if !report.path.is_empty() {
        command.push_str(&format!(" --path {}", report.path));
    }
    if let Some(ns) = &global.namespace {
        command.push_str(&format!(" -n {ns}"));
    }
    command
}
