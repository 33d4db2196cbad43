//! Logging to stderr and the top-level error report.

use std::io::IsTerminal;

/// Installs the stderr logger; `verbose` counts `-v` flags.
pub fn init(verbose: u8) {
    // Our crate at the chosen level; dependencies silent by default (their failures reach the
    // user through our errors, with the next step) and one step quieter than ours with -v.
    let directives = match verbose {
        0 => "off,kubectl_gitops=warn",
        1 => "warn,kubectl_gitops=info",
        2 => "info,kubectl_gitops=debug",
        _ => "debug,kubectl_gitops=trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("KUBECTL_GITOPS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(directives));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .with_target(false)
        .try_init();
}

/// Prints an error and its causes on stderr, kubectl style (`error: ...`).
pub fn report_error(err: &anyhow::Error) {
    let mut msg = format!("error: {err}");
    for cause in err.chain().skip(1) {
        msg.push_str(&format!(": {cause}"));
    }
    eprintln!("{msg}");
}
