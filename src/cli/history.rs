//! `kubectl gitops history [RESOURCE]` (SPEC §5): the first-parent commits that changed the
//! environment, or one resource, with their resource changes.

use std::io::Write;

use anyhow::Context;
use clap::Args;

use super::{GlobalArgs, OutputFormat, closed_pipe, exit};
use crate::ops::history::{HistoryOptions, history};
use crate::output::history::{HistoryView, write_history};
use crate::output::stdout_color;

/// `history` flags (SPEC §5).
#[derive(Debug, Clone, Default, Args)]
pub struct HistoryArgs {
    /// Only the commits that changed this resource (followed across files): deploy/web, cm/settings
    #[arg(value_name = "RESOURCE")]
    pub resource: Option<String>,
    /// Show at most N commits
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Include each change's diff
    #[arg(short = 'p', long = "patch")]
    pub patch: bool,
    /// Lines of context around each change of -p
    #[arg(short = 'U', long, value_name = "N", default_value_t = crate::diff::DEFAULT_CONTEXT)]
    pub unified: usize,
    /// Neither read nor write the history cache under the git dir
    #[arg(long)]
    pub no_cache: bool,
}

/// Writes the streamed commits as they come, in one write per burst: the buffer is flushed
/// whenever no further commit is waiting, so the first lines show at once and a fast walk
/// still costs few writes.
fn print_stream(
    rx: &std::sync::mpsc::Receiver<crate::ops::history::HistoryCommit>,
    view: &HistoryView,
) -> Result<(), crate::output::OutputError> {
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    let mut text = String::with_capacity(4096);
    while let Ok(first) = rx.recv() {
        let mut next = Some(first);
        while let Some(commit) = next {
            text.clear();
            crate::output::history::commit_text(&mut text, &commit, view);
            out.write_all(text.as_bytes())?;
            // Left to the exit, as the walk's other values are.
            std::mem::forget(commit);
            next = rx.try_recv().ok();
        }
        out.flush()?;
    }
    Ok(())
}

/// Runs `history`; returns the exit code.
pub fn run(global: &GlobalArgs, args: &HistoryArgs, display: &str) -> anyhow::Result<i32> {
    if matches!(global.output, OutputFormat::Wide | OutputFormat::Porcelain) {
        anyhow::bail!(
            "`{display} history` does not support -o {}; use -o text, json or yaml",
            global.output.name()
        );
    }
    let opts = HistoryOptions {
        target: super::target(global)?,
        resource: args.resource.clone(),
        limit: args.limit,
        patch: args.patch,
        offline: global.offline,
        use_cache: !args.no_cache,
        exiting: true,
        stream: None,
    };
    let view = HistoryView {
        format: global.output,
        color: stdout_color(global.color),
        patch: args.patch,
        context: args.unified,
    };
    // Text streams (SPEC §5): each commit is printed as soon as it is computed, newest first,
    // while older ones are still being walked; json and yaml are one document.
    let mut opts = opts;
    let printer = (view.format == OutputFormat::Text).then(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        opts.stream = Some(tx);
        std::thread::spawn(move || print_stream(&rx, &view))
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let result = runtime.block_on(history(&opts));
    // Closes the stream: the printer ends once it has written what was sent.
    drop(opts);
    if let Some(printer) = printer {
        match printer.join() {
            Ok(printed) => {
                closed_pipe(printed)?;
            }
            Err(_) => anyhow::bail!("the history printer stopped unexpectedly"),
        }
    }
    let mut report = result?;
    for warning in &report.warnings {
        eprintln!("warning: {warning}");
    }
    // Stdout is line-buffered: one write per line would cost thousands of syscalls.
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    closed_pipe(write_history(&mut out, &report, &view).and_then(|()| Ok(out.flush()?)))?;
    drop(out);
    // The process ends here: freeing a long history's changes, or waiting for the runtime's
    // idle threads, would only delay the exit.
    runtime.shutdown_background();
    let errors = std::mem::take(&mut report.errors);
    std::mem::forget(report);
    // SPEC §3: a file that does not render is an error for that file only; the history above
    // stands, and the exit code says error.
    if errors.is_empty() {
        return Ok(exit::OK);
    }
    for error in &errors {
        eprintln!("error: {error}");
    }
    Ok(exit::ERROR)
}
