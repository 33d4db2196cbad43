//! Version of this build.

/// Crate version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// Git commit the binary was built from, or `unknown`.
pub const GIT_COMMIT: &str = env!("KUBECTL_GITOPS_GIT_COMMIT");
/// `--version` text.
pub const VERSION_LINE: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (git ",
    env!("KUBECTL_GITOPS_GIT_COMMIT"),
    ")"
);
