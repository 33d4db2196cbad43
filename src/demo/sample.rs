//! The demo's environment repo: a small storefront under `envs/demo/` with eight commits of
//! history, written with gix alone (no git CLI) under a fixed author and fixed dates, so its
//! commit ids are the same on every machine and every run.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::AtomicBool;

use gix::objs::tree::EntryKind;

use super::{DemoError, ENV_PATH};
use crate::repo::ObjectId;

/// Author and committer of every sample commit.
pub const AUTHOR_NAME: &str = "Demo";
/// Email of the sample commits' author.
pub const AUTHOR_EMAIL: &str = "demo@example.com";
/// The branch the sample history is on.
pub const BRANCH: &str = "main";

/// One commit of the sample history: what it changes below [`ENV_PATH`] and when.
#[derive(Debug, Clone)]
pub struct Step {
    /// Commit message (subject, then an optional body).
    pub message: &'static str,
    /// Author and commit time, seconds since the Unix epoch (UTC).
    pub time: i64,
    /// Changes to the environment's files, in order.
    pub edits: Vec<Edit>,
}

/// A change to one file of the environment (paths relative to [`ENV_PATH`]).
#[derive(Debug, Clone)]
pub enum Edit {
    /// Create or overwrite a file.
    Write(&'static str, String),
    /// Delete a file.
    Remove(&'static str),
    /// Move a file, content unchanged.
    Rename(&'static str, &'static str),
}

/// The repo as written: every commit id, oldest first.
#[derive(Debug, Clone)]
pub struct SampleRepo {
    /// Commit ids in history order; the last is HEAD.
    pub commits: Vec<ObjectId>,
}

impl SampleRepo {
    /// The commit HEAD points at.
    pub fn head(&self) -> Option<ObjectId> {
        self.commits.last().copied()
    }
}

const DAY: i64 = 24 * 60 * 60;
/// 2026-01-05T09:30:00Z, the first commit.
const START: i64 = 1_767_605_400;

const CONFIG: &str = r#"# kubectl-gitops settings for this environment (SPEC §8).
env: demo
ignoreDifferences:
  # The api's replica count belongs to its autoscaler, not to git.
  - group: apps
    kind: Deployment
    name: api
    jsonPointers: [/spec/replicas]
"#;

const NAMESPACE: &str = r#"apiVersion: v1
kind: Namespace
metadata:
  name: demo
  labels:
    team: storefront
"#;

const WEB_V1: &str = r#"# The storefront: nginx serving the static site, behind a ClusterIP Service.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: demo
  labels:
    app: web
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
        - name: nginx
          image: nginx:1.25.5
          ports:
            - containerPort: 80
          resources:
            requests:
              cpu: 100m
              memory: 64Mi
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: demo
spec:
  selector:
    app: web
  ports:
    - name: http
      port: 80
      targetPort: 80
"#;

const SETTINGS_V1: &str = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: demo
data:
  LOG_LEVEL: info
  GREETING: Hello from the demo storefront
"#;

const API: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  namespace: demo
  labels:
    app: api
spec:
  replicas: 2
  selector:
    matchLabels:
      app: api
  template:
    metadata:
      labels:
        app: api
    spec:
      containers:
        - name: api
          image: registry.example.com/demo/api:1.4.0
          ports:
            - containerPort: 8080
          envFrom:
            - configMapRef:
                name: settings
          env:
            - name: DATABASE_PASSWORD
              valueFrom:
                secretKeyRef:
                  name: api-credentials
                  key: DATABASE_PASSWORD
"#;

// A demo value, and still never printed: the tool masks every Secret value.
const API_CREDENTIALS: &str = r#"apiVersion: v1
kind: Secret
metadata:
  name: api-credentials
  namespace: demo
type: Opaque
data:
  DATABASE_PASSWORD: ZGVtby1wYXNzd29yZA==
"#;

const REPORT_EXPORTER: &str = r#"# Nightly sales reports, exported to the data warehouse.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: report-exporter
  namespace: demo
  labels:
    app: report-exporter
spec:
  replicas: 1
  selector:
    matchLabels:
      app: report-exporter
  template:
    metadata:
      labels:
        app: report-exporter
    spec:
      containers:
        - name: exporter
          image: registry.example.com/demo/report-exporter:0.9.2
"#;

const WORKER: &str = r#"# Background jobs from the queue: reports, e-mails, cache warming.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: worker
  namespace: demo
  labels:
    app: worker
spec:
  replicas: 1
  selector:
    matchLabels:
      app: worker
  template:
    metadata:
      labels:
        app: worker
    spec:
      containers:
        - name: worker
          image: registry.example.com/demo/worker:1.0.0
          envFrom:
            - configMapRef:
                name: settings
"#;

/// `web.yaml` with nginx bumped to 1.27.3.
fn web_v2() -> String {
    WEB_V1.replace("image: nginx:1.25.5", "image: nginx:1.27.3")
}

/// `web.yaml` at 1.27.3, scaled to 3 replicas for the launch.
fn web_v3() -> String {
    web_v2().replace("replicas: 2", "replicas: 3")
}

/// The sample history, oldest first. The demo syncs the third from last ([`super::SYNCED_REV`]):
/// the two commits after it are what a sync of HEAD would bring (a removed exporter, a new
/// worker, more web replicas, a new settings key).
pub fn history() -> Vec<Step> {
    vec![
        Step {
            message: "Bootstrap the demo environment: namespace, web Deployment and Service\n",
            time: START,
            edits: vec![
                Edit::Write(".kubectl-gitops.yaml", CONFIG.to_owned()),
                Edit::Write("namespace.yaml", NAMESPACE.to_owned()),
                Edit::Write("web.yaml", WEB_V1.to_owned()),
            ],
        },
        Step {
            message: "Add the settings ConfigMap\n",
            time: START + DAY + 2 * 3600,
            edits: vec![Edit::Write("settings.yaml", SETTINGS_V1.to_owned())],
        },
        Step {
            message: "Add the api Deployment and its credentials Secret\n\n\
                      The api reads its settings from the settings ConfigMap and its\n\
                      database password from the api-credentials Secret.\n",
            time: START + 3 * DAY,
            edits: vec![
                Edit::Write("api.yaml", API.to_owned()),
                Edit::Write("api-secret.yaml", API_CREDENTIALS.to_owned()),
            ],
        },
        Step {
            message: "Add the nightly report-exporter\n",
            time: START + 4 * DAY + 5 * 3600,
            edits: vec![Edit::Write(
                "report-exporter.yaml",
                REPORT_EXPORTER.to_owned(),
            )],
        },
        Step {
            message: "web: bump nginx to 1.27.3\n",
            time: START + 7 * DAY,
            edits: vec![Edit::Write("web.yaml", web_v2())],
        },
        Step {
            message: "Rename api-secret.yaml to api-credentials.yaml\n",
            time: START + 8 * DAY + 3600,
            edits: vec![Edit::Rename("api-secret.yaml", "api-credentials.yaml")],
        },
        Step {
            message: "Replace the report-exporter with the queue worker\n\n\
                      The worker runs the nightly reports among its other jobs.\n",
            time: START + 10 * DAY,
            edits: vec![
                Edit::Remove("report-exporter.yaml"),
                Edit::Write("worker.yaml", WORKER.to_owned()),
            ],
        },
        Step {
            message: "Scale web to 3 replicas and add CACHE_TTL for the launch\n",
            time: START + 11 * DAY + 4 * 3600,
            edits: vec![
                Edit::Write("web.yaml", web_v3()),
                Edit::Write(
                    "settings.yaml",
                    format!("{SETTINGS_V1}  CACHE_TTL: \"300\"\n"),
                ),
            ],
        },
    ]
}

/// Creates the sample repo in `dir` (which must not hold a repository yet): `git init`, the
/// history on branch [`BRANCH`], and the work tree and index checked out at HEAD, so that
/// `git status` is clean and a revert from the UI can run.
pub fn write_repo(dir: &Path) -> Result<SampleRepo, DemoError> {
    let failed = |what: &str, message: &dyn std::fmt::Display| DemoError::Repo {
        dir: dir.to_path_buf(),
        what: what.to_owned(),
        message: message.to_string(),
    };
    let repo = gix::init(dir).map_err(|e| failed("git init", &e))?;
    // The user's init.defaultBranch must not rename the demo's branch.
    set_head_branch(&repo).map_err(|e| failed("point HEAD at the main branch", &e))?;

    let mut files: BTreeMap<String, String> = BTreeMap::new();
    let mut commits: Vec<ObjectId> = Vec::new();
    let mut tree = ObjectId::empty_tree(repo.object_hash());
    for step in history() {
        let subject = step.message.lines().next().unwrap_or_default();
        let what = format!("commit {subject:?}");
        apply_edits(&mut files, &step.edits).map_err(|e| failed(&what, &e))?;
        tree = write_tree(&repo, &files).map_err(|e| failed(&what, &e))?;
        let time = format!("{} +0000", step.time);
        let signature = gix::actor::SignatureRef {
            name: AUTHOR_NAME.into(),
            email: AUTHOR_EMAIL.into(),
            time: &time,
        };
        let id = repo
            .commit_as(
                signature,
                signature,
                "HEAD",
                step.message,
                tree,
                commits.last().copied(),
            )
            .map_err(|e| failed(&what, &e))?;
        commits.push(id.detach());
    }
    check_out(&repo, tree).map_err(|e| failed("check out HEAD", &e))?;
    Ok(SampleRepo { commits })
}

/// Files below [`ENV_PATH`] after `edits`; a rename or removal of a file that is not there is a
/// mistake in [`history`].
fn apply_edits(files: &mut BTreeMap<String, String>, edits: &[Edit]) -> Result<(), String> {
    let full = |path: &str| format!("{ENV_PATH}/{path}");
    for edit in edits {
        match edit {
            Edit::Write(path, content) => {
                files.insert(full(path), content.clone());
            }
            Edit::Remove(path) => {
                files
                    .remove(&full(path))
                    .ok_or_else(|| format!("{} is not in the tree to remove", full(path)))?;
            }
            Edit::Rename(from, to) => {
                let content = files
                    .remove(&full(from))
                    .ok_or_else(|| format!("{} is not in the tree to rename", full(from)))?;
                files.insert(full(to), content);
            }
        }
    }
    Ok(())
}

fn set_head_branch(repo: &gix::Repository) -> Result<(), String> {
    use gix::refs::transaction::{Change, LogChange, PreviousValue, RefEdit};
    use gix::refs::{FullName, Target};
    let name = |n: &str| FullName::try_from(n).map_err(|e| e.to_string());
    repo.edit_reference(RefEdit {
        change: Change::Update {
            log: LogChange::default(),
            expected: PreviousValue::Any,
            new: Target::Symbolic(name(&format!("refs/heads/{BRANCH}"))?),
        },
        name: name("HEAD")?,
        deref: false,
    })
    .map_err(|e| e.to_string())?;
    Ok(())
}

/// Writes the blobs and trees of `files` (repo-relative paths) and returns the root tree id.
fn write_tree(
    repo: &gix::Repository,
    files: &BTreeMap<String, String>,
) -> Result<ObjectId, String> {
    let text = |e: gix::Error| e.to_string();
    let mut editor = repo
        .edit_tree(ObjectId::empty_tree(repo.object_hash()))
        .map_err(text)?;
    for (path, content) in files {
        let blob = repo.write_blob(content.as_bytes()).map_err(text)?;
        editor
            .upsert(path.as_str(), EntryKind::Blob, blob)
            .map_err(text)?;
    }
    Ok(editor.write().map_err(text)?.detach())
}

/// Writes the files of `tree` into the (empty) work tree and the index that records them, with
/// their stat data, as `git clone` does.
fn check_out(repo: &gix::Repository, tree: ObjectId) -> Result<(), String> {
    let workdir = repo
        .workdir()
        .ok_or_else(|| "the repository has no work tree".to_owned())?;
    let mut index = repo.index_from_tree(&tree).map_err(|e| e.to_string())?;
    let mut options = repo
        .checkout_options(gix::worktree::stack::state::attributes::Source::IdMapping)
        .map_err(|e| e.to_string())?;
    options.destination_is_initially_empty = true;
    let objects = repo.objects.clone().into_arc().map_err(|e| e.to_string())?;
    let outcome = gix::worktree::state::checkout(
        &mut index,
        workdir,
        objects,
        &gix::progress::Discard,
        &gix::progress::Discard,
        &AtomicBool::new(false),
        options,
    )
    .map_err(|e| e.to_string())?;
    if let Some(record) = outcome.errors.first() {
        return Err(format!("cannot write {}: {}", record.path, record.error));
    }
    index.write(Default::default()).map_err(|e| e.to_string())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::{RenderOptions, render};
    use crate::repo::EnvRepo;

    #[test]
    fn the_same_history_gives_the_same_commit_ids() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let first = write_repo(&a.path().join("repo")).unwrap();
        let second = write_repo(&b.path().join("repo")).unwrap();
        assert_eq!(first.commits.len(), history().len());
        assert_eq!(first.commits, second.commits);
        let repo = EnvRepo::open(a.path().join("repo")).unwrap();
        assert_eq!(repo.resolve("HEAD").unwrap(), first.head().unwrap());
        assert_eq!(
            repo.resolve(BRANCH).unwrap(),
            first.head().unwrap(),
            "HEAD is on {BRANCH}"
        );
        let info = repo.commit_info(first.commits[0]).unwrap();
        assert_eq!(
            (info.author.as_str(), info.email.as_str()),
            (AUTHOR_NAME, AUTHOR_EMAIL)
        );
        assert_eq!(info.time, "2026-01-05T09:30:00Z");
    }

    #[test]
    fn every_commit_renders_without_errors_and_changes_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let sample = write_repo(dir.path()).unwrap();
        let repo = EnvRepo::open(dir.path()).unwrap();
        let mut previous_tree = None;
        for commit in &sample.commits {
            let rendered =
                render(&repo, *commit, &RenderOptions::new(ENV_PATH, "default")).unwrap();
            assert!(rendered.errors.is_empty(), "{:?}", rendered.errors);
            assert_eq!(rendered.config.env, "demo");
            assert_eq!(rendered.config.ignore_differences.len(), 1);
            let tree = repo.subtree_id(*commit, ENV_PATH).unwrap();
            assert_ne!(tree, previous_tree, "commit {commit} changes nothing");
            previous_tree = tree;
        }
        let head = render(
            &repo,
            sample.head().unwrap(),
            &RenderOptions::new(ENV_PATH, "default"),
        )
        .unwrap();
        let mut names: Vec<String> = head
            .manifests
            .iter()
            .map(|m| format!("{}/{}", m.id.kind, m.id.name))
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "ConfigMap/settings",
                "Deployment/api",
                "Deployment/web",
                "Deployment/worker",
                "Namespace/demo",
                "Secret/api-credentials",
                "Service/web"
            ]
        );
    }

    #[test]
    fn work_tree_holds_head() {
        let dir = tempfile::tempdir().unwrap();
        let sample = write_repo(dir.path()).unwrap();
        let repo = EnvRepo::open(dir.path()).unwrap();
        let files = repo.tree_entries(sample.head().unwrap(), ENV_PATH).unwrap();
        assert!(!files.is_empty());
        for file in files {
            let on_disk = std::fs::read(dir.path().join(&file.path)).unwrap();
            assert_eq!(on_disk, repo.read_blob(file.blob).unwrap(), "{}", file.path);
        }
        assert!(
            dir.path()
                .join(ENV_PATH)
                .join(".kubectl-gitops.yaml")
                .is_file()
        );
        assert!(
            !dir.path()
                .join(ENV_PATH)
                .join("report-exporter.yaml")
                .exists()
        );
        assert!(dir.path().join(".git").join("index").is_file());
    }

    #[test]
    fn edits_of_missing_files_are_reported() {
        let mut files = BTreeMap::new();
        let err = apply_edits(&mut files, &[Edit::Remove("nope.yaml")]).unwrap_err();
        assert!(err.contains("envs/demo/nope.yaml"), "{err}");
        let err = apply_edits(&mut files, &[Edit::Rename("a.yaml", "b.yaml")]).unwrap_err();
        assert!(err.contains("envs/demo/a.yaml"), "{err}");
    }
}
