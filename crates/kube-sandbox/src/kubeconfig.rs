//! The kubeconfig written for a running sandbox.

use std::io::Write;
use std::path::Path;

/// Kubeconfig text for a sandbox at `server` (`http://127.0.0.1:<port>`): cluster, user and
/// context all named `sandbox`, namespace `default`.
pub fn render(server: &str) -> String {
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: sandbox
  cluster:
    server: {server}
users:
- name: sandbox
  user:
    token: sandbox-token
contexts:
- name: sandbox
  context:
    cluster: sandbox
    user: sandbox
    namespace: default
current-context: sandbox
preferences: {{}}
"
    )
}

/// Writes the kubeconfig readable by the owner only, as kubectl does.
pub fn write(path: &Path, server: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut file = opts.open(path)?;
    file.write_all(render(server).as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubeconfig_names_the_sandbox_context() {
        let text = render("http://127.0.0.1:1234");
        let doc: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
        assert_eq!(doc["current-context"], "sandbox");
        assert_eq!(
            doc["clusters"][0]["cluster"]["server"],
            "http://127.0.0.1:1234"
        );
        assert_eq!(doc["contexts"][0]["context"]["namespace"], "default");
        assert_eq!(doc["users"][0]["user"]["token"], "sandbox-token");
    }

    #[test]
    fn write_creates_parent_dirs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/kubeconfig");
        write(&path, "http://127.0.0.1:1").unwrap();
        assert!(
            std::fs::read_to_string(&path)
                .unwrap()
                .contains("127.0.0.1:1")
        );
    }
}
