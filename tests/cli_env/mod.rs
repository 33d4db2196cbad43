//! What the `status` and `diff` end-to-end tests share on top of `tests/common`: an environment
//! repo built with the git CLI (fixed identity and dates), and the binary run in a sealed
//! environment against a test cluster.

// Each test crate uses a different part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::common::{TestCluster, gitops_binary, poll_until, stdout_of};

/// Per-line commit of `git blame --porcelain -L first,last rev -- file` in `repo`.
pub fn git_blame(repo: &EnvRepo, rev: &str, file: &str, first: usize, last: usize) -> Vec<String> {
    let out = repo.git(&[
        "blame",
        "--porcelain",
        &format!("-L{first},{last}"),
        rev,
        "--",
        file,
    ]);
    let mut shas = Vec::new();
    let mut lines = out.lines();
    while let Some(header) = lines.next() {
        shas.push(header.split(' ').next().unwrap().to_owned());
        for content in lines.by_ref() {
            if content.starts_with('\t') {
                break;
            }
        }
    }
    shas
}

/// A `blame -o json` document's per-line commits, and git's for the same lines of its file
/// at `rev` ([`git_blame`]).
pub fn blame_commits_and_git(repo: &EnvRepo, rev: &str, doc: &Value) -> (Vec<String>, Vec<String>) {
    let file = doc["source"]["file"].as_str().unwrap();
    let lines = doc["lines"].as_array().unwrap();
    let first = lines[0]["line"].as_u64().unwrap() as usize;
    let last = lines.last().unwrap()["line"].as_u64().unwrap() as usize;
    let ours = lines
        .iter()
        .map(|l| l["commit"]["id"].as_str().unwrap().to_owned())
        .collect();
    (ours, git_blame(repo, rev, file, first, last))
}

/// A git work tree holding an environment; removed on drop.
pub struct EnvRepo {
    dir: tempfile::TempDir,
    commits: usize,
}

impl EnvRepo {
    /// `git init` on branch `main`.
    pub fn new() -> EnvRepo {
        let dir = tempfile::Builder::new()
            .prefix("kgo-env-")
            .tempdir()
            .unwrap();
        let repo = EnvRepo { dir, commits: 0 };
        repo.git(&["init", "-q", "-b", "main"]);
        repo
    }

    /// A clone of a git bundle (the corpus), on a new branch `main` at the bundle's head.
    pub fn from_bundle(bundle: &Path) -> EnvRepo {
        let repo = EnvRepo {
            dir: git_clone("kgo-corpus-", &[], bundle.as_os_str()),
            commits: 0,
        };
        repo.git(&["switch", "-q", "-c", "main"]);
        repo
    }

    /// A shallow clone of this repository's `main` (`git clone --depth`, as CI systems check
    /// out), on branch `main`.
    #[allow(dead_code)]
    pub fn shallow_clone(&self, depth: usize) -> EnvRepo {
        let url = format!("file://{}", self.dir().display());
        let depth = depth.to_string();
        EnvRepo {
            dir: git_clone(
                "kgo-shallow-",
                &["-b", "main", "--depth", &depth],
                url.as_ref(),
            ),
            commits: 0,
        }
    }

    /// The work tree.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Runs git with a fixed identity and dates one day apart per commit; returns stdout.
    pub fn git(&self, args: &[&str]) -> String {
        let date = format!("2026-01-{:02}T10:00:00Z", self.commits + 1);
        let mut git = gitops_git::fixture::sealed_git(self.dir(), args, &date);
        stdout_of(&mut git, &format!("git {args:?}"))
    }

    /// Writes `files` (path, content) and commits them all; returns the full sha.
    pub fn commit(&mut self, message: &str, files: &[(&str, &str)]) -> String {
        for (path, content) in files {
            let path = self.dir().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, content).unwrap();
        }
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "-m", message]);
        self.commits += 1;
        self.head()
    }

    /// The full sha of HEAD.
    pub fn head(&self) -> String {
        self.git(&["rev-parse", "HEAD"]).trim().to_owned()
    }
}

/// What one run of the binary produced.
#[derive(Debug)]
pub struct Run {
    /// Exit code (-1 when killed).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// Runs `cmd` to completion.
    pub fn of(cmd: &mut Command) -> Run {
        let out = cmd.output().unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Panics with the whole run unless the exit code is `code`.
    pub fn code_is(self, code: i32) -> Run {
        assert_eq!(self.code, code, "exit code\n{self}");
        self
    }

    /// stdout as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON: {e}\n{self}"))
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs the binary `--offline` against `repo`, sealed (temp HOME, no kubeconfig at all),
/// with extra environment variables.
pub fn offline(repo: &EnvRepo, args: &[&str], env: &[(&str, &str)]) -> Run {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(gitops_binary());
    cmd.arg("-C")
        .arg(repo.dir())
        .arg("--offline")
        .args(args)
        .env_clear()
        .env("HOME", home.path())
        .env("KUBECONFIG", home.path().join("no-such-kubeconfig"))
        .current_dir(home.path())
        .stdin(Stdio::null());
    if let Some(path) = std::env::var_os("PATH") {
        cmd.env("PATH", path);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    Run::of(&mut cmd)
}

/// The binary for one repo and cluster, sealed: temp HOME, the cluster's kubeconfig, the repo
/// as `-C`, no NO_COLOR and none of our variables unless a test sets them.
pub struct Gitops<'a> {
    cluster: &'a TestCluster,
    repo: PathBuf,
    home: tempfile::TempDir,
}

impl<'a> Gitops<'a> {
    /// Runs against `cluster` with `repo` as the environment.
    pub fn new(cluster: &'a TestCluster, repo: &EnvRepo) -> Gitops<'a> {
        Gitops {
            cluster,
            repo: repo.dir().to_path_buf(),
            home: tempfile::tempdir().unwrap(),
        }
    }

    /// The command with `args` after `-C <repo> -n <namespace>`.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(gitops_binary());
        cmd.arg("-C")
            .arg(&self.repo)
            .args(["-n", self.cluster.namespace()])
            .args(args)
            .env_clear()
            .env("HOME", self.home.path())
            .env("XDG_CONFIG_HOME", self.home.path().join(".config"))
            .env("XDG_CACHE_HOME", self.home.path().join(".cache"))
            .env("KUBECONFIG", self.cluster.kubeconfig())
            .current_dir(self.home.path())
            .stdin(Stdio::null());
        if let Some(path) = std::env::var_os("PATH") {
            cmd.env("PATH", path);
        }
        cmd
    }

    /// Runs with `args` and extra environment variables.
    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = self.command(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        Run::of(&mut cmd)
    }

    /// Runs with `args` on a pseudo-terminal (util-linux `script`), stdout and stderr mixed
    /// into `stdout`; `None` when `script` is not installed.
    pub fn run_in_terminal(&self, args: &[&str], env: &[(&str, &str)]) -> Option<Run> {
        let base = self.command(args);
        let quote =
            |s: &std::ffi::OsStr| format!("'{}'", s.to_string_lossy().replace('\'', r"'\''"));
        let line: Vec<String> = std::iter::once(base.get_program())
            .chain(base.get_args())
            .map(quote)
            .collect();
        let mut cmd = Command::new("script");
        cmd.args(["-qec", &line.join(" "), "/dev/null"])
            .env_clear()
            .env("SHELL", "/bin/sh")
            .env("TERM", "xterm-256color")
            .stdin(Stdio::null());
        for (key, value) in base.get_envs() {
            if let Some(value) = value {
                cmd.env(key, value);
            }
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        if let Some(dir) = base.get_current_dir() {
            cmd.current_dir(dir);
        }
        let out = cmd.output().ok()?;
        Some(Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n"),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    /// Runs with `args`.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_env(args, &[])
    }

    /// The kubeconfig's current context, as the summary names it.
    pub fn context(&self) -> String {
        self.cluster
            .kubectl_raw(&["config", "current-context"])
            .success()
            .stdout
            .trim()
            .to_owned()
    }
}

/// A Deployment `web` with `replicas` and image `nginx:<tag>` in namespace `ns`.
pub fn deployment(ns: &str, replicas: u32, tag: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: {ns}\nspec:\n  replicas: {replicas}\n  selector:\n    matchLabels:\n      app: web\n  template:\n    metadata:\n      labels:\n        app: web\n    spec:\n      containers:\n      - name: web\n        image: nginx:{tag}\n"
    )
}

/// A ConfigMap `settings` with `LOG_LEVEL: <level>` in namespace `ns`.
pub fn config_map(ns: &str, level: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: {ns}\ndata:\n  LOG_LEVEL: {level}\n"
    )
}

/// Applies with kubectl what the tests' repos hold at their head: ConfigMap `settings`
/// (`LOG_LEVEL: info`) and Deployment `web` (2 replicas of nginx 1.27), in the test namespace.
pub fn apply_settings_and_web(cluster: &TestCluster) {
    let ns = cluster.namespace();
    cluster.apply(&config_map(ns, "info")).success();
    cluster.apply(&deployment(ns, 2, "1.27")).success();
}

/// Commits the first version of the history tests: Deployment `web` with one replica of
/// nginx 1.27 and ConfigMap `settings` at `info`, in `ns`; returns the commit's sha.
pub fn commit_one_replica(repo: &mut EnvRepo, ns: &str) -> String {
    repo.commit(
        "one replica",
        &[
            ("web.yaml", &deployment(ns, 1, "1.27")),
            ("settings.yaml", &config_map(ns, "info")),
        ],
    )
}

/// Commits ConfigMap `extra` in `ns`, which the cluster does not hold.
pub fn commit_extra_config_map(repo: &mut EnvRepo, ns: &str) {
    repo.commit(
        "extra",
        &[(
            "extra.yaml",
            &config_map(ns, "x").replace("settings", "extra"),
        )],
    );
}

/// A repo whose one commit holds ConfigMap `settings` in the cluster's test namespace.
pub fn settings_only(cluster: &TestCluster) -> EnvRepo {
    let mut repo = EnvRepo::new();
    repo.commit(
        "settings",
        &[("settings.yaml", &config_map(cluster.namespace(), "info"))],
    );
    repo
}

/// The Secret's password in git and live, base64 and decoded: none may ever be printed.
pub const SECRET_VALUES: [&str; 4] = [
    "Z2l0LXBhc3N3b3JkLTE=",
    "bGl2ZS1wYXNzd29yZC0y",
    "git-password-1",
    "live-password-2",
];

/// A Secret `creds` holding `password` (base64 of the value given) in namespace `ns`.
pub fn secret(ns: &str, password_b64: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\n  namespace: {ns}\ntype: Opaque\ndata:\n  password: {password_b64}\n"
    )
}

/// A repo with Secret `creds` holding the git password, and the cluster holding the live one.
pub fn drifted_secret(cluster: &TestCluster) -> EnvRepo {
    let ns = cluster.namespace().to_owned();
    let mut repo = EnvRepo::new();
    repo.commit("creds", &[("creds.yaml", &secret(&ns, SECRET_VALUES[0]))]);
    cluster.apply(&secret(&ns, SECRET_VALUES[1])).success();
    repo
}

/// Panics when `run` printed any of [`SECRET_VALUES`] on stdout or stderr.
pub fn assert_no_secret(run: &Run, how: &str) {
    for needle in SECRET_VALUES {
        assert!(
            !run.stdout.contains(needle) && !run.stderr.contains(needle),
            "{needle} printed by {how}\n{run}"
        );
    }
}

/// Whether `text` holds an ANSI escape sequence.
pub fn has_escapes(text: &str) -> bool {
    text.contains('\x1b')
}

/// `git clone -q ARGS SOURCE` into a new temporary directory whose name starts with `prefix`.
fn git_clone(prefix: &str, args: &[&str], source: &std::ffi::OsStr) -> tempfile::TempDir {
    let dir = tempfile::Builder::new().prefix(prefix).tempdir().unwrap();
    let out = Command::new("git")
        .args(["clone", "-q"])
        .args(args)
        .arg(source)
        .arg(dir.path())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git clone {args:?} {}: {}",
        source.to_string_lossy(),
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

/// The CRDs of Flux and Argo CD, from the corpus.
pub const CRDS: &str = "/work/shared/corpus/crds";

/// Installs a CRD from the corpus (server-side: Argo's is too large for the last-applied
/// annotation) and waits until its kind is served. CRDs are left installed: other tests on a
/// shared server may use them at the same time.
pub fn install_crd(cluster: &TestCluster, file: &str, plural_group: &str) {
    let path = Path::new(CRDS).join(file);
    cluster
        .kubectl_raw(&[
            "apply",
            "--server-side",
            "--force-conflicts",
            "-f",
            path.to_str().unwrap(),
        ])
        .success();
    poll_until(std::time::Duration::from_secs(30), plural_group, || {
        (cluster.kubectl(&["get", plural_group]).code() == 0).then_some(())
    });
}

/// Revision `version` of Helm release `name` (chart `name-1.0.0`) in the Secret Helm's
/// secrets storage driver writes (helm `pkg/storage/driver/secrets.go`, `newSecretsObject`:
/// type `helm.sh/release.v1`, labels `owner`, `name`, `status`, `version`), the release
/// encoded as `encodeRelease` does (`pkg/storage/driver/util.go`: JSON, gzip at best
/// compression, standard base64) inside the Secret's own base64.
pub fn helm_release_secret(
    ns: &str,
    name: &str,
    version: u64,
    status: &str,
    manifest: &str,
) -> String {
    use base64::Engine;
    use std::io::Write;
    let release = serde_json::json!({
        "name": name, "namespace": ns, "version": version,
        "info": {"status": status},
        "chart": {"metadata": {"name": name, "version": "1.0.0"}},
        "config": {}, "manifest": manifest,
    });
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&serde_json::to_vec(&release).unwrap())
        .unwrap();
    let encoded = base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap());
    serde_json::json!({
        "apiVersion": "v1", "kind": "Secret", "type": "helm.sh/release.v1",
        "metadata": {"name": format!("sh.helm.release.v1.{name}.v{version}"), "namespace": ns,
            "labels": {"owner": "helm", "name": name, "status": status, "version": version.to_string()}},
        "data": {"release": base64::engine::general_purpose::STANDARD.encode(encoded)},
    })
    .to_string()
}

/// `helm` for the tests: `$HELM_BINARY`, else `../shared/bin/helm`, else on PATH.
pub fn helm() -> PathBuf {
    if let Some(explicit) = std::env::var_os("HELM_BINARY").filter(|v| !v.is_empty()) {
        return PathBuf::from(explicit);
    }
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/bin/helm");
    if shared.is_file() {
        return shared;
    }
    PathBuf::from("helm")
}

/// The commit ids of a `History` document, newest first.
pub fn history_commit_ids(doc: &Value) -> Vec<String> {
    doc["commits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect()
}
