//! `kubectl gitops demo` (SPEC §10): a sample environment repo with history, the sandbox in
//! process, an older commit synced, some live drift, and the UI on top. Needs no cluster.

use gitops_core::Target;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

use super::{GlobalArgs, Termination, exit};
use crate::demo::{Demo, ENV_PATH};
use crate::output::progress::Progress;

/// `demo` flags (SPEC §10).
#[derive(Debug, Clone, Default, Args)]
pub struct DemoArgs {
    /// Keep the sample repo and kubeconfig after exit and print where they are
    #[arg(long)]
    pub keep: bool,
    /// No UI: set up, print `ready <kubeconfig> <repo>`, serve until SIGINT/SIGTERM (tests, scripts)
    #[arg(
        long,
        hide = true,
        env = "KUBECTL_GITOPS_DEMO_NO_UI",
        value_parser = clap::builder::FalseyValueParser::new()
    )]
    pub no_ui: bool,
}

/// Runs the demo; returns the exit code. Everything lives in one new temp directory, removed on
/// exit unless `--keep`.
pub fn run(global: &GlobalArgs, args: &DemoArgs, display: &str) -> anyhow::Result<i32> {
    if let Some(flag) = environment_flag(global) {
        anyhow::bail!(
            "`{display} demo` makes its own repo and cluster and takes no {flag}; \
             to look at your environment, run `{display}` there"
        );
    }
    let dir = std::env::temp_dir().join(format!(
        "kubectl-gitops-demo-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    ));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let result = run_in(&dir, global, args, display, &runtime);
    if !args.keep {
        match std::fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                eprintln!(
                    "warning: cannot remove the demo directory {}: {e}",
                    dir.display()
                );
            }
            _ => {}
        }
    }
    result
}

/// The flag that points the demo elsewhere, if any was given.
fn environment_flag(global: &GlobalArgs) -> Option<&'static str> {
    if global.repo.is_some() {
        Some("-C/--repo")
    } else if global.path.is_some() {
        Some("--path")
    } else if global.kubeconfig.is_some() {
        Some("--kubeconfig")
    } else if global.context.is_some() {
        Some("--context")
    } else if global.offline {
        Some("--offline")
    } else {
        None
    }
}

fn run_in(
    dir: &Path,
    global: &GlobalArgs,
    args: &DemoArgs,
    display: &str,
    runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<i32> {
    // Listening before the setup: a signal sent while it runs ends the demo once it is ready
    // instead of killing the process with files left behind.
    let mut termination = runtime.block_on(async { Termination::listen() })?;
    let demo = {
        let _progress = Progress::start("setting up the demo: sample repo, sandbox, sync, drift");
        runtime
            .block_on(Demo::start(dir, args.keep))
            .context("cannot set up the demo")?
    };
    tracing::info!(
        repo = %demo.repo().display(),
        kubeconfig = %demo.kubeconfig().display(),
        synced = %demo.synced().id,
        "demo ready"
    );
    let reopen = Reopen::of(&demo, display);
    let result = if args.no_ui {
        serve(&demo, &reopen, runtime, &mut termination)
    } else {
        open_ui(&demo, global, &reopen, runtime, &mut termination)
    };
    runtime
        .block_on(demo.shutdown())
        .context("cannot stop the demo sandbox")?;
    let code = result?;
    if args.keep {
        let mut out = std::io::stdout().lock();
        reopen.write_kept(&mut out)?;
        out.flush()?;
    }
    Ok(code)
}

/// `--no-ui`: announce the paths on stdout, serve until SIGINT/SIGTERM.
fn serve(
    demo: &Demo,
    reopen: &Reopen,
    runtime: &tokio::runtime::Runtime,
    termination: &mut Termination,
) -> anyhow::Result<i32> {
    {
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "ready {} {}",
            demo.kubeconfig().display(),
            demo.repo().display()
        )?;
        out.flush()?;
    }
    eprintln!(
        "demo serving; try `{}` (stop with Ctrl-C)",
        reopen.command("status")
    );
    runtime.block_on(termination.wait())?;
    Ok(exit::OK)
}

/// Opens the terminal UI on the demo (on this thread: the UI runs its own runtime while the
/// sandbox keeps serving from `runtime`'s workers); returns when the user quits. Without a
/// terminal it serves as `--no-ui` does.
fn open_ui(
    demo: &Demo,
    global: &GlobalArgs,
    reopen: &Reopen,
    runtime: &tokio::runtime::Runtime,
    termination: &mut Termination,
) -> anyhow::Result<i32> {
    let opts = crate::tui::UiOptions {
        target: Target {
            repo: demo.repo().to_path_buf(),
            path: ENV_PATH.to_owned(),
            kubeconfig: Some(demo.kubeconfig().to_path_buf()),
            ..Target::default()
        },
        theme: global.theme.clone(),
        ..crate::tui::UiOptions::default()
    };
    match crate::tui::run(opts) {
        Err(crate::tui::UiError::NotATerminal) => {
            eprintln!(
                "note: no terminal for the UI; serving the demo until Ctrl-C instead, try:\n  {}",
                reopen.command("status")
            );
            serve(demo, reopen, runtime, termination)
        }
        other => Ok(other?),
    }
}

/// Where the demo's files are and the command lines that reach them.
struct Reopen {
    display: String,
    dir: PathBuf,
    repo: PathBuf,
    kubeconfig: PathBuf,
    state: Option<PathBuf>,
}

impl Reopen {
    fn of(demo: &Demo, display: &str) -> Reopen {
        Reopen {
            display: display.to_owned(),
            dir: demo.dir().to_path_buf(),
            repo: demo.repo().to_path_buf(),
            kubeconfig: demo.kubeconfig().to_path_buf(),
            state: demo.state().map(Path::to_path_buf),
        }
    }

    /// `<display> -C <repo> --path envs/demo --kubeconfig <file> <subcommand>`.
    fn command(&self, subcommand: &str) -> String {
        let line = format!(
            "{} -C {} --path {ENV_PATH} --kubeconfig {}",
            self.display,
            quoted(&self.repo),
            quoted(&self.kubeconfig)
        );
        if subcommand.is_empty() {
            line
        } else {
            format!("{line} {subcommand}")
        }
    }

    /// What `--keep` prints once the demo stopped: the paths, and how to bring it back.
    fn write_kept(&self, out: &mut impl Write) -> std::io::Result<()> {
        writeln!(out, "demo kept in {}", self.dir.display())?;
        writeln!(
            out,
            "  repo:       {} (--path {ENV_PATH})",
            self.repo.display()
        )?;
        writeln!(out, "  kubeconfig: {}", self.kubeconfig.display())?;
        if let Some(state) = &self.state {
            writeln!(out, "  state:      {}", state.display())?;
            writeln!(
                out,
                "The sandbox stopped with the demo. To reopen it, start the sandbox again from \
                 its state (it rewrites the kubeconfig with its new port), then the UI:"
            )?;
            writeln!(
                out,
                "  {} sandbox --state {} --kubeconfig-out {} &",
                self.display,
                quoted(state),
                quoted(&self.kubeconfig)
            )?;
            writeln!(out, "  {}", self.command(""))?;
        }
        writeln!(out, "Remove it with: rm -rf {}", quoted(&self.dir))?;
        Ok(())
    }
}

/// A path as a shell word: single-quoted when it holds anything but plain characters.
fn quoted(path: &Path) -> String {
    let text = path.display().to_string();
    let plain = text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+:@%,=".contains(c));
    if plain && !text.is_empty() {
        text
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_shell_words() {
        assert_eq!(
            quoted(Path::new("/tmp/kubectl-gitops-demo-1a2b")),
            "/tmp/kubectl-gitops-demo-1a2b"
        );
        assert_eq!(quoted(Path::new("/tmp/my demo")), "'/tmp/my demo'");
        assert_eq!(quoted(Path::new("/tmp/it's")), r"'/tmp/it'\''s'");
    }
}
