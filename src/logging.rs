//! Logging to stderr and the top-level error report.

use std::io::IsTerminal;

/// The workspace's crates, by the names tracing targets start with.
const OUR_CRATES: &[&str] = &[
    "kubectl_gitops",
    "gitops_core",
    "gitops_cluster",
    "gitops_render",
    "gitops_git",
    "k8s_model",
    "kube_sandbox",
];

/// Installs the stderr logger; `verbose` counts `-v` flags.
pub fn init(verbose: u8) {
    // Our crates at the chosen level; dependencies silent by default (their failures reach the
    // user through our errors, with the next step) and one step quieter than ours with -v.
    let (others, ours) = match verbose {
        0 => ("off", "warn"),
        1 => ("warn", "info"),
        2 => ("info", "debug"),
        _ => ("debug", "trace"),
    };
    let directives = std::iter::once(others.to_owned())
        .chain(OUR_CRATES.iter().map(|krate| format!("{krate}={ours}")))
        .collect::<Vec<_>>()
        .join(",");
    let filter = tracing_subscriber::EnvFilter::try_from_env("KUBECTL_GITOPS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&directives));
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

#[cfg(test)]
mod logged_crates {
    use super::OUR_CRATES;

    #[test]
    fn every_workspace_crate_logs_at_our_level() {
        let crates = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("crates");
        let mut seen = 0;
        for entry in std::fs::read_dir(crates).unwrap() {
            let name = entry.unwrap().file_name();
            let name = name.to_string_lossy().replace('-', "_");
            assert!(
                OUR_CRATES.contains(&name.as_str()),
                "{name} not in OUR_CRATES"
            );
            seen += 1;
        }
        assert_eq!(
            seen + 1,
            OUR_CRATES.len(),
            "a crate in OUR_CRATES no longer exists"
        );
    }
}
