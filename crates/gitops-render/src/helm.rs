//! Helm chart units (SPEC §3): a directory holding `Chart.yaml` is rendered with
//! `helm template` from the commit's tree, never read as manifests. Each rendered resource keeps
//! the chart file it came from (helm's `# Source:` comments).
//!
//! helm is `$HELM_BINARY`, else `helm` on `PATH`, as Argo CD's repo server finds it. Without it
//! the unit is one error naming the chart and what to install.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use k8s_model::Source;

use super::RenderError;
use super::documents::{parse_yaml_document, split_documents};
use super::kustomize::{BUILD_TIMEOUT, Unit, Workspace, run_with_timeout};

/// The helm binary: `$HELM_BINARY`, else `helm` on `PATH`.
pub fn default_helm() -> PathBuf {
    std::env::var_os("HELM_BINARY")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("helm"))
}

/// The release name a chart directory renders under: its directory name (Argo CD uses the
/// Application's name, which is not known for a bare chart).
pub fn release_name(unit: &Unit) -> String {
    let name = unit.dir.rsplit('/').next().unwrap_or("");
    if name.is_empty() {
        "release".to_owned()
    } else {
        name.to_ascii_lowercase()
    }
}

/// Renders one chart unit with `helm template <release> <dir> --namespace <ns> --include-crds`
/// and maps each resource to the chart file named by its `# Source:` comment.
pub fn build(
    unit: &Unit,
    workspace: &Workspace,
    helm: &Path,
    namespace: &str,
) -> Result<Vec<(Value, Source)>, RenderError> {
    let unit_dir = if unit.dir.is_empty() {
        ".".to_owned()
    } else {
        unit.dir.clone()
    };
    let unit_error = |message: String| RenderError {
        file: unit_dir.clone(),
        line: None,
        message,
    };
    let mut command = Command::new(helm);
    command
        .arg("template")
        .arg(release_name(unit))
        .arg(workspace.path().join(&unit.dir))
        .arg("--namespace")
        .arg(namespace)
        .arg("--include-crds")
        .stdin(Stdio::null());
    let output = run_with_timeout(command, BUILD_TIMEOUT).map_err(|e| {
        unit_error(format!(
            "{unit_dir} is a Helm chart (it holds Chart.yaml) and helm is needed to render it: \
             cannot run {}: {e} (install helm 3, or set HELM_BINARY to its path)",
            helm.display()
        ))
    })?;
    let Some(output) = output else {
        return Err(unit_error(format!(
            "helm template did not finish within {}s",
            BUILD_TIMEOUT.as_secs()
        )));
    };
    if !output.status.success() {
        let stderr = workspace.relative(&output.stderr);
        return Err(unit_error(format!(
            "helm template failed: {}",
            stderr.trim()
        )));
    }
    let text = String::from_utf8(output.stdout)
        .map_err(|_| unit_error("helm template printed text that is not UTF-8".to_owned()))?;
    let mut out = Vec::new();
    for (index, segment) in split_documents(&text).into_iter().enumerate() {
        let body = &text[segment.bytes.clone()];
        let value = parse_yaml_document(body).map_err(|e| {
            unit_error(format!(
                "cannot parse the output of helm template: {} (document {index})",
                e.message
            ))
        })?;
        let Some(value) = value else { continue };
        let file = body
            .lines()
            .find_map(|l| l.strip_prefix("# Source: "))
            .map(|source| chart_file(&unit.dir, source.trim()))
            .unwrap_or_else(|| unit.kustomization.clone());
        out.push((
            value,
            Source {
                file,
                document: index,
                line: 1,
                end_line: 1,
            },
        ));
    }
    Ok(out)
}

/// The repo path of a `# Source:` comment's file: helm names it `<chart name>/templates/...`
/// (subcharts `<chart>/charts/<sub>/templates/...`); the chart name is the unit's directory.
fn chart_file(dir: &str, source: &str) -> String {
    let rest = source.split_once('/').map_or(source, |(_, rest)| rest);
    if dir.is_empty() {
        rest.to_owned()
    } else {
        format!("{dir}/{rest}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kustomize::UnitKind;

    #[test]
    fn sources_map_to_the_charts_files() {
        assert_eq!(
            chart_file("apps/guestbook", "guestbook/templates/svc.yaml"),
            "apps/guestbook/templates/svc.yaml"
        );
        assert_eq!(
            chart_file("", "guestbook/charts/redis/templates/a.yaml"),
            "charts/redis/templates/a.yaml"
        );
        let unit = Unit {
            dir: "apps/Helm-Guestbook".into(),
            kustomization: "apps/Helm-Guestbook/Chart.yaml".into(),
            kind: UnitKind::Helm,
        };
        assert_eq!(release_name(&unit), "helm-guestbook");
    }
}
