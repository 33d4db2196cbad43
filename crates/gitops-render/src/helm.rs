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
    let chart = ChartTemplate {
        chart: &workspace.path().join(&unit.dir),
        release_name: &release_name(unit),
        namespace,
        values_files: &[],
        values: None,
        include_crds: true,
        include_hooks: true,
        api_versions: &[],
        set: &[],
    };
    let documents = template(helm, &chart).map_err(|e| {
        unit_error(match e {
            TemplateError::NoHelm(e) => format!(
                "{unit_dir} is a Helm chart (it holds Chart.yaml) and helm is needed to render it: \
                 cannot run {}: {e} (install helm 3, or set HELM_BINARY to its path)",
                helm.display()
            ),
            TemplateError::Failed(stderr) => {
                format!(
                    "helm template failed: {}",
                    workspace.relative(stderr.as_bytes())
                )
            }
            other => other.to_string(),
        })
    })?;
    Ok(documents
        .into_iter()
        .map(
            |TemplatedDocument {
                 value,
                 source,
                 index,
             }| {
                let file = source
                    .map(|source| chart_file(&unit.dir, &source))
                    .unwrap_or_else(|| unit.kustomization.clone());
                (
                    value,
                    Source {
                        file,
                        document: index,
                        line: 1,
                        end_line: 1,
                    },
                )
            },
        )
        .collect())
}

/// What [`template`] renders: a chart (a directory or a `.tgz`) with values, as one release.
#[derive(Debug, Clone, Copy)]
pub struct ChartTemplate<'a> {
    /// The chart directory or archive.
    pub chart: &'a Path,
    /// The release name (`.Release.Name`).
    pub release_name: &'a str,
    /// The release namespace (`--namespace`, `.Release.Namespace`).
    pub namespace: &'a str,
    /// Values files, in order (`-f`), over the chart's own `values.yaml`.
    pub values_files: &'a [PathBuf],
    /// Values over the files (written to a temp file, passed last).
    pub values: Option<&'a Value>,
    /// `--include-crds`: the chart's `crds/` directory.
    pub include_crds: bool,
    /// Hooks (`helm.sh/hook` objects) in the output; `false` passes `--no-hooks`.
    pub include_hooks: bool,
    /// API versions beyond helm's built-in ones for `.Capabilities.APIVersions`
    /// (`--api-versions`): `group/version` and `group/version/Kind`.
    pub api_versions: &'a [String],
    /// `--set` values after the values files, in order (Argo CD's `parameters`).
    pub set: &'a [SetValue],
}

/// One `--set name=value` (`--set-string` when `force_string`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetValue {
    /// `name=value`, as helm's `--set` reads it.
    pub text: String,
    /// Passed as `--set-string`: the value stays a string.
    pub force_string: bool,
}

/// Why [`template`] gave nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// helm could not be started (the message is the OS's).
    #[error("cannot run helm: {0} (install helm 3, or set HELM_BINARY to its path)")]
    NoHelm(String),
    /// helm ran longer than the build timeout.
    #[error("helm template did not finish within {}s", BUILD_TIMEOUT.as_secs())]
    Timeout,
    /// helm failed; its error output.
    #[error("helm template failed: {0}")]
    Failed(String),
    /// The values could not be written, or the output not read.
    #[error("{0}")]
    Output(String),
}

/// One document of `helm template`'s output.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplatedDocument {
    /// The object.
    pub value: Value,
    /// The chart path of its `# Source:` comment (`<chart>/templates/x.yaml`).
    pub source: Option<String>,
    /// Its index among the output's documents (empty ones counted).
    pub index: usize,
}

/// `helm template` of one chart: each document of the output, empty ones skipped. For Flux
/// HelmReleases and Argo CD helm sources alike: the caller decides release name, namespace,
/// values, CRDs and hooks.
pub fn template(
    helm: &Path,
    chart: &ChartTemplate<'_>,
) -> Result<Vec<TemplatedDocument>, TemplateError> {
    let mut command = Command::new(helm);
    command
        .arg("template")
        .arg(chart.release_name)
        .arg(chart.chart)
        .arg("--namespace")
        .arg(chart.namespace)
        .stdin(Stdio::null());
    if chart.include_crds {
        command.arg("--include-crds");
    }
    if !chart.include_hooks {
        command.arg("--no-hooks");
    }
    for api_version in chart.api_versions {
        command.arg("--api-versions").arg(api_version);
    }
    for file in chart.values_files {
        command.arg("--values").arg(file);
    }
    // Kept until helm has read it.
    let values_file = match chart.values {
        Some(values) => {
            let mut file = tempfile::Builder::new()
                .prefix("kubectl-gitops-values-")
                .suffix(".json")
                .tempfile()
                .map_err(|e| TemplateError::Output(format!("cannot write the values: {e}")))?;
            // JSON is YAML: helm reads it as a values file.
            serde_json::to_writer(&mut file, values)
                .map_err(|e| TemplateError::Output(format!("cannot write the values: {e}")))?;
            command.arg("--values").arg(file.path());
            Some(file)
        }
        None => None,
    };
    for set in chart.set {
        let flag = if set.force_string {
            "--set-string"
        } else {
            "--set"
        };
        command.arg(flag).arg(&set.text);
    }
    let output = run_with_timeout(command, BUILD_TIMEOUT)
        .map_err(|e| TemplateError::NoHelm(e.to_string()))?;
    drop(values_file);
    let output = output.ok_or(TemplateError::Timeout)?;
    if !output.status.success() {
        return Err(TemplateError::Failed(
            String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        ));
    }
    let text = String::from_utf8(output.stdout).map_err(|_| {
        TemplateError::Output("helm template printed text that is not UTF-8".to_owned())
    })?;
    let mut out = Vec::new();
    for (index, segment) in split_documents(&text).into_iter().enumerate() {
        let body = &text[segment.bytes.clone()];
        let value = parse_yaml_document(body).map_err(|e| {
            TemplateError::Output(format!(
                "cannot parse the output of helm template: {} (document {index})",
                e.message
            ))
        })?;
        let Some(value) = value else { continue };
        let source = body
            .lines()
            .find_map(|l| l.strip_prefix("# Source: "))
            .map(|source| source.trim().to_owned());
        out.push(TemplatedDocument {
            value,
            source,
            index,
        });
    }
    Ok(out)
}

/// The repo path of a `# Source:` comment's file: helm names it `<chart name>/templates/...`
/// (subcharts `<chart>/charts/<sub>/templates/...`); the chart name is the unit's directory.
pub(crate) fn chart_file(dir: &str, source: &str) -> String {
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
