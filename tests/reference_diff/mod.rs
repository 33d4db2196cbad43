//! The reference for `diff --from`: an environment rendered at two commits by the reference
//! tools, compared document by document. Each commit is materialized with `git archive` into
//! a temp dir (the test runs git, never the product), then `kubectl kustomize` builds a
//! kustomize directory and plain directories are read file by file; list documents
//! (`kind: *List`) count as their items, as kubectl reads them.

// Each test crate uses a different part of it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::common::stdout_of;

/// How the reference renders the environment's directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reference {
    /// `kubectl kustomize <dir>`.
    Kustomize,
    /// Every `.yaml`, `.yml` and `.json` file below the directory, read as kubectl reads it.
    Plain,
}

/// The files of `commit` of the repo at `repo` in a new temp dir (`git archive | tar -x`).
pub fn materialize(repo: &Path, commit: &str) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("kgo-ref-")
        .tempdir()
        .unwrap();
    let archive = dir.path().join("commit.tar");
    let mut git = Command::new("git");
    git.arg("-C")
        .arg(repo)
        .args(["archive", "--format=tar", "-o"])
        .arg(&archive)
        .arg(commit);
    stdout_of(&mut git, &format!("git archive {commit}"));
    let tree = dir.path().join("tree");
    std::fs::create_dir_all(&tree).unwrap();
    let mut tar = Command::new("tar");
    tar.arg("-xf").arg(&archive).arg("-C").arg(&tree);
    stdout_of(&mut tar, "tar -x");
    dir
}

/// The documents of `path` at `commit`, by `<group>/<Kind>/<ns or _>/<name>` (the product's
/// header form), namespaced kinds without a namespace in `default`.
pub fn reference_objects(
    repo: &Path,
    commit: &str,
    path: &str,
    how: Reference,
) -> BTreeMap<String, Value> {
    let checkout = materialize(repo, commit);
    let dir = checkout.path().join("tree").join(path);
    let texts = match how {
        Reference::Kustomize => {
            let mut kubectl = Command::new("kubectl");
            kubectl.arg("kustomize").arg(&dir);
            vec![stdout_of(
                &mut kubectl,
                &format!("kubectl kustomize {path}@{commit}"),
            )]
        }
        Reference::Plain => manifest_files(&dir)
            .into_iter()
            .map(|file| std::fs::read_to_string(file).unwrap())
            .collect(),
    };
    let mut objects = BTreeMap::new();
    for text in texts {
        for doc in split_documents(&text) {
            for object in expand_lists(doc) {
                objects.insert(identity(&object), object);
            }
        }
    }
    objects
}

/// `added`, `modified` or `removed` per resource, from `before` to `after`.
pub fn reference_changes(
    before: &BTreeMap<String, Value>,
    after: &BTreeMap<String, Value>,
) -> BTreeMap<String, String> {
    let mut changes = BTreeMap::new();
    for (id, object) in after {
        match before.get(id) {
            None => changes.insert(id.clone(), "added".to_owned()),
            Some(old) if old != object => changes.insert(id.clone(), "modified".to_owned()),
            Some(_) => None,
        };
    }
    for id in before.keys().filter(|id| !after.contains_key(*id)) {
        changes.insert(id.clone(), "removed".to_owned());
    }
    changes
}

/// `status` per resource of a `diff --from -o json` document, keyed as [`reference_changes`].
pub fn our_changes(document: &Value) -> BTreeMap<String, String> {
    document["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let api_version = r["apiVersion"].as_str().unwrap();
            let group = match api_version.rsplit_once('/') {
                Some((group, _)) => group,
                None => "core",
            };
            let id = format!(
                "{group}/{}/{}/{}",
                r["kind"].as_str().unwrap(),
                r["namespace"].as_str().unwrap_or("_"),
                r["name"].as_str().unwrap()
            );
            (id, r["status"].as_str().unwrap().to_owned())
        })
        .collect()
}

fn manifest_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return files;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(manifest_files(&path));
        } else if path
            .extension()
            .is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
        {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// The YAML documents of `text` that are objects (empty documents and comments skipped).
fn split_documents(text: &str) -> Vec<Value> {
    let mut docs = Vec::new();
    let mut current = String::new();
    for line in text.lines().chain(std::iter::once("---")) {
        if line.starts_with("---") {
            if let Some(doc) = serde_saphyr::from_str::<Option<Value>>(&current)
                .unwrap_or_else(|e| panic!("reference: cannot parse a document: {e}\n{current}"))
                .filter(Value::is_object)
            {
                docs.push(doc);
            }
            current.clear();
        } else {
            current.push_str(line);
            current.push('\n');
        }
    }
    docs
}

fn expand_lists(doc: Value) -> Vec<Value> {
    let is_list =
        doc["kind"].as_str().is_some_and(|k| k.ends_with("List")) && doc["items"].is_array();
    if !is_list {
        return vec![doc];
    }
    let list_version = doc["apiVersion"].clone();
    doc["items"]
        .as_array()
        .unwrap()
        .iter()
        .cloned()
        .map(|mut item| {
            if item.get("apiVersion").is_none() {
                item["apiVersion"] = list_version.clone();
            }
            item
        })
        .collect()
}

/// `<group>/<Kind>/<ns or _>/<name>`; kinds the built-in table calls cluster-scoped have no
/// namespace, others default to `default`.
fn identity(object: &Value) -> String {
    let api_version = object["apiVersion"].as_str().unwrap_or("");
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    let kind = object["kind"].as_str().unwrap_or("");
    let name = object["metadata"]["name"].as_str().unwrap_or("");
    let namespaced = kubectl_gitops::model::kinds::builtin_scope(group, kind).unwrap_or(true);
    let ns = match object["metadata"]["namespace"].as_str() {
        _ if !namespaced => "_",
        Some(ns) => ns,
        None => "default",
    };
    let group = if group.is_empty() { "core" } else { group };
    format!("{group}/{kind}/{ns}/{name}")
}
