//! Blame of an object a HelmRelease's chart made (SPEC §11, issue #16): beside the commit that
//! first rendered each line as it is now, the lines of the release's `spec.values` in git that
//! set the line's value, each with the commit that wrote it. A reviewer asking "which commit
//! changed this image" gets the values line of `helmrelease.yaml` (or of the overlay patching
//! it), not the chart.
//!
//! How a rendered line is matched to values: the line's value (read from the rendered object at
//! the line's path, not from its text) is compared with every leaf of the rendered release's
//! `spec.values` (after the overlays that patch it). A leaf matches when it is the line's
//! value, or, for a value written as `<repository>:<tag>` or `<name>@<digest>` (an image), one
//! of its parts. Leaves shorter than 3 characters and booleans are not matched: too many lines
//! share them. Each matched leaf is then found in the files of the environment's inputs: the
//! lines of a `HelmRelease` document of the same name that set that path to that value (the
//! base that writes it, or the patch that overrides it).
//!
//! Not covered: values from `valuesFrom` ConfigMaps and Secrets, and values a chart derives
//! (a line computed from two values is matched only when it is one of them or an image).

use std::collections::HashMap;

use serde_json::Value;

use super::blame::{BlameError, line_paths, value_at};
use gitops_git::{EnvRepo, ObjectId, RepoError};
use k8s_model::path::{FieldPath, PathSegment};
use k8s_model::{CommitInfo, Manifest};

/// A line of a HelmRelease's values, as written in git, that sets (part of) a line's value.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ValuesLine {
    /// The file, repo-relative.
    pub file: String,
    /// Its line, from 1.
    pub line: usize,
    /// The field it sets, e.g. `spec.values.image.tag`.
    pub path: String,
    /// The commit that last changed that line (`git blame`).
    pub commit: Option<CommitInfo>,
}

/// The leaves of the release's `spec.values` a rendered value comes from: equal to it, or to
/// a part of an image reference. Trivial leaves are left out.
fn matching_leaves<'l>(value: &str, leaves: &'l [(FieldPath, String)]) -> Vec<&'l FieldPath> {
    let exact: Vec<&FieldPath> = leaves
        .iter()
        .filter(|(_, leaf)| leaf == value)
        .map(|(path, _)| path)
        .collect();
    if !exact.is_empty() {
        return exact;
    }
    let parts: Vec<&str> = value.split([':', '@']).collect();
    if parts.len() < 2 {
        return Vec::new();
    }
    leaves
        .iter()
        .filter(|(_, leaf)| parts.contains(&leaf.as_str()))
        .map(|(path, _)| path)
        .collect()
}

/// A scalar as the values compare it; `None` for maps, lists, null and booleans.
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The non-trivial scalar leaves below `value`, with their paths from `prefix`.
fn leaves(value: &Value, prefix: FieldPath, out: &mut Vec<(FieldPath, String)>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                leaves(child, prefix.child(PathSegment::Key(key.clone())), out);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                leaves(child, prefix.child(PathSegment::Index(i)), out);
            }
        }
        other => {
            if let Some(text) = scalar_text(other).filter(|t| t.chars().count() >= 3) {
                out.push((prefix, text));
            }
        }
    }
}

/// For each line of `text` (the chart-made `object` as YAML), the values lines of `release`
/// that set its value, found in the files below `inputs` at `commit`; `commit_info` names
/// the commit of each.
pub(super) fn values_lines(
    repo: &EnvRepo,
    commit: ObjectId,
    inputs: &[String],
    release: &Manifest,
    object: &Value,
    text: &[String],
    commit_info: &mut dyn FnMut(ObjectId) -> Result<CommitInfo, RepoError>,
) -> Result<Vec<Vec<ValuesLine>>, BlameError> {
    let mut out = vec![Vec::new(); text.len()];
    let values_root = FieldPath(vec![
        PathSegment::Key("spec".into()),
        PathSegment::Key("values".into()),
    ]);
    let mut all = Vec::new();
    if let Some(values) = release.object.pointer("/spec/values") {
        leaves(values, values_root.clone(), &mut all);
    }
    if all.is_empty() {
        return Ok(out);
    }
    // Each rendered line's matching leaves.
    let paths = line_paths(text);
    let mut wanted: HashMap<&FieldPath, &str> = HashMap::new();
    let mut matched: Vec<Vec<&FieldPath>> = vec![Vec::new(); text.len()];
    for (i, path) in paths.iter().enumerate() {
        let Some(value) = path
            .as_ref()
            .and_then(|p| value_at(p, object))
            .and_then(scalar_text)
        else {
            continue;
        };
        for leaf in matching_leaves(&value, &all) {
            matched[i].push(leaf);
        }
    }
    for (path, leaf) in &all {
        if matched.iter().flatten().any(|m| *m == path) {
            wanted.insert(path, leaf);
        }
    }
    if wanted.is_empty() {
        return Ok(out);
    }
    // Where each wanted leaf is written: HelmRelease documents of the release's name.
    let mut written: HashMap<&FieldPath, Vec<(String, usize)>> = HashMap::new();
    for file in input_files(repo, commit, inputs)? {
        let bytes = repo.read_blob(file.1)?;
        let Ok(content) = std::str::from_utf8(&bytes) else {
            continue;
        };
        if !content.contains("HelmRelease") || !content.contains(release.id.name.as_str()) {
            continue;
        }
        for (first_line, lines) in documents(content) {
            let Ok(document) = serde_saphyr::from_str::<Value>(&lines.join("\n")) else {
                continue;
            };
            if document.get("kind").and_then(Value::as_str) != Some("HelmRelease")
                || document.pointer("/metadata/name").and_then(Value::as_str)
                    != Some(release.id.name.as_str())
            {
                continue;
            }
            for (j, path) in line_paths(&lines).iter().enumerate() {
                let Some(path) = path else { continue };
                let Some((leaf_path, leaf)) = wanted.get_key_value(path) else {
                    continue;
                };
                let value = value_at(path, &document).and_then(scalar_text);
                if value.as_deref() == Some(*leaf) {
                    written
                        .entry(*leaf_path)
                        .or_default()
                        .push((file.0.clone(), first_line + j));
                }
            }
        }
    }
    // Each values line's commit, once.
    let mut commits: HashMap<(String, usize), Option<CommitInfo>> = HashMap::new();
    for (i, leaves) in matched.into_iter().enumerate() {
        for leaf in leaves {
            for (file, line) in written.get(leaf).into_iter().flatten() {
                let key = (file.clone(), *line);
                if !commits.contains_key(&key) {
                    let range = (*line - 1) as u32..*line as u32;
                    let blamed = repo.blame_lines(commit, file, range)?;
                    let info = match blamed.first() {
                        Some(b) => Some(commit_info(b.commit)?),
                        None => None,
                    };
                    commits.insert(key.clone(), info);
                }
                out[i].push(ValuesLine {
                    file: file.clone(),
                    line: *line,
                    path: leaf.to_string(),
                    commit: commits[&key].clone(),
                });
            }
        }
    }
    Ok(out)
}

/// The YAML files (path, blob) of the environment's inputs at `commit`.
fn input_files(
    repo: &EnvRepo,
    commit: ObjectId,
    inputs: &[String],
) -> Result<Vec<(String, ObjectId)>, RepoError> {
    let mut files = Vec::new();
    for input in inputs {
        let found = match repo.tree_entries(commit, input) {
            Ok(entries) => entries.into_iter().map(|f| (f.path, f.blob)).collect(),
            Err(RepoError::NotADirectory { .. }) => repo
                .file_blob(commit, input)?
                .map(|blob| vec![(input.clone(), blob)])
                .unwrap_or_default(),
            Err(RepoError::PathNotFound { .. }) => Vec::new(),
            Err(e) => return Err(e),
        };
        for (path, blob) in found {
            let yaml = path.ends_with(".yaml") || path.ends_with(".yml");
            if yaml && !files.iter().any(|(p, _)| p == &path) {
                files.push((path, blob));
            }
        }
    }
    Ok(files)
}

/// The documents of a YAML file: each one's first line number (from 1) and its lines.
fn documents(content: &str) -> Vec<(usize, Vec<String>)> {
    let mut out = Vec::new();
    let mut current: Vec<String> = Vec::new();
    let mut first = 1;
    for (i, line) in content.lines().enumerate() {
        if line.starts_with("---") {
            if !current.is_empty() {
                out.push((first, std::mem::take(&mut current)));
            }
            first = i + 2;
            continue;
        }
        current.push(line.to_owned());
    }
    if !current.is_empty() {
        out.push((first, current));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(text: &[&str]) -> FieldPath {
        FieldPath(text.iter().map(|k| PathSegment::Key((*k).into())).collect())
    }

    #[test]
    fn leaves_match_whole_values_then_image_parts() {
        let all = vec![
            (
                path(&["spec", "values", "image", "repository"]),
                "ghcr.io/x/web".to_owned(),
            ),
            (
                path(&["spec", "values", "image", "tag"]),
                "1.2.3".to_owned(),
            ),
            (
                path(&["spec", "values", "host"]),
                "web.example.com".to_owned(),
            ),
        ];
        assert_eq!(
            matching_leaves("web.example.com", &all),
            vec![&all[2].0],
            "a whole value"
        );
        assert_eq!(
            matching_leaves("ghcr.io/x/web:1.2.3", &all),
            vec![&all[0].0, &all[1].0],
            "an image from repository and tag"
        );
        assert!(matching_leaves("other", &all).is_empty());
        // A value that only contains a leaf, not as an image part, is not matched.
        assert!(matching_leaves("https://web.example.com/x", &all).is_empty());
    }

    #[test]
    fn trivial_leaves_are_left_out() {
        let mut out = Vec::new();
        leaves(
            &serde_json::json!({"enabled": true, "replicas": 2, "port": 9898, "name": "ab", "list": ["abc"]}),
            FieldPath::root(),
            &mut out,
        );
        let texts: Vec<&str> = out.iter().map(|(_, t)| t.as_str()).collect();
        assert_eq!(texts, ["9898", "abc"]);
    }

    #[test]
    fn documents_keep_their_first_line() {
        let docs = documents("a: 1\n---\nb: 2\nc: 3\n---\n");
        assert_eq!(
            docs,
            vec![
                (1, vec!["a: 1".to_owned()]),
                (3, vec!["b: 2".to_owned(), "c: 3".to_owned()])
            ]
        );
    }
}
