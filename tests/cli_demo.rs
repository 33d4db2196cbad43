//! `kubectl gitops demo` end to end (SPEC §10): the demo runs with a PATH that holds neither
//! kubectl nor git, in its non-interactive mode, and the tests look at what it made with the git
//! CLI, our own `status`/`diff`, and the real kubectl.

mod common;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use common::{find_kubectl, gitops_binary, line_channel, stdout_of};
use serde_json::Value;

/// How long the demo may take to print `ready` (a debug build on a busy machine).
const READY_TIMEOUT: Duration = Duration::from_secs(90);
/// How long it may take to stop after a signal.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// The demo's Secret value, base64 and decoded: neither may ever be printed.
const SECRET_VALUES: [&str; 2] = ["ZGVtby1wYXNzd29yZA==", "demo-password"];

/// A running `kubectl-gitops demo`, in a scratch dir that is its TMPDIR and HOME; killed on drop.
struct DemoRun {
    child: Child,
    scratch: tempfile::TempDir,
    stdout: Receiver<String>,
    kubeconfig: PathBuf,
    repo: PathBuf,
}

impl DemoRun {
    /// Starts the demo with `args` (and `env`), PATH holding neither kubectl nor git, and waits
    /// for its `ready <kubeconfig> <repo>` line.
    fn start(args: &[&str], env: &[(&str, &str)]) -> DemoRun {
        let (scratch, mut cmd) = common::demo_command("kgo-demo-", args);
        cmd.env("NO_COLOR", "1")
            .current_dir(scratch.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(
                File::create(scratch.path().join("demo.stderr")).unwrap(),
            ));
        for (key, value) in env {
            cmd.env(key, value);
        }
        let mut child = cmd.spawn().unwrap();
        let stdout = line_channel(child.stdout.take().unwrap());
        let mut run = DemoRun {
            child,
            scratch,
            stdout,
            kubeconfig: PathBuf::new(),
            repo: PathBuf::new(),
        };
        let line = run
            .stdout
            .recv_timeout(READY_TIMEOUT)
            .unwrap_or_else(|e| panic!("no `ready` line: {e}\n{}", run.stderr()));
        let words: Vec<&str> = line.split(' ').collect();
        let ["ready", kubeconfig, repo] = words[..] else {
            panic!("first line is {line:?}, not `ready <kubeconfig> <repo>`");
        };
        run.kubeconfig = PathBuf::from(kubeconfig);
        run.repo = PathBuf::from(repo);
        run
    }

    /// The demo's TMPDIR: where it makes its directory.
    fn tmp(&self) -> PathBuf {
        self.scratch.path().join("tmp")
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.scratch.path().join("demo.stderr")).unwrap_or_default()
    }

    /// Sends `signal` (`TERM`, `INT`) and waits for the exit; returns the status and the rest
    /// of stdout.
    fn stop(&mut self, signal: &str) -> (ExitStatus, String) {
        let sent = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(sent.success(), "kill -{signal} failed");
        let deadline = Instant::now() + STOP_TIMEOUT;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "demo still running {STOP_TIMEOUT:?} after SIGTERM\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let rest: Vec<String> = self.stdout.iter().collect();
        (status, rest.join("\n"))
    }

    /// git (the oracle) in the demo's repo; returns stdout, panicking on failure.
    fn git(&self, args: &[&str]) -> String {
        let mut git = Command::new("git");
        git.args(args)
            .current_dir(&self.repo)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", self.scratch.path().join("home"));
        stdout_of(&mut git, &format!("git {args:?}"))
    }

    /// Our binary on the demo's environment, with PATH still lacking kubectl and git.
    fn gitops(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(gitops_binary())
            .arg("-C")
            .arg(&self.repo)
            .args(["--path", "envs/demo", "--kubeconfig"])
            .arg(&self.kubeconfig)
            .args(args)
            .env_clear()
            .env("PATH", self.scratch.path().join("bin"))
            .env("HOME", self.scratch.path().join("home"))
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// The real kubectl against the demo's sandbox; returns stdout, panicking on failure.
    fn kubectl(&self, args: &[&str]) -> String {
        let home = self.scratch.path().join("home");
        let mut cmd = Command::new(find_kubectl());
        cmd.args(args)
            .env_clear()
            .env("KUBECONFIG", &self.kubeconfig)
            .env("HOME", &home)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        // The gcloud dispatcher finds the versioned kubectl through PATH.
        if let Some(path) = std::env::var_os("PATH") {
            cmd.env("PATH", path);
        }
        stdout_of(&mut cmd, &format!("kubectl {args:?}"))
    }

    /// `kubectl get <what> -n demo -o json`, managedFields included.
    fn kubectl_get(&self, what: &[&str]) -> Value {
        let mut args = vec!["get"];
        args.extend_from_slice(what);
        args.extend_from_slice(&["-n", "demo", "-o", "json", "--show-managed-fields"]);
        serde_json::from_str(&self.kubectl(&args)).unwrap()
    }
}

impl Drop for DemoRun {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The entries of `dir`.
fn entries(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect()
}

fn resource<'a>(status: &'a Value, kind: &str, name: &str) -> &'a Value {
    status["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == kind && r["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in {status:#}"))
}

#[test]
fn demo_repo_has_a_meaningful_history_and_a_clean_work_tree() {
    let demo = DemoRun::start(&["--no-ui"], &[]);
    let log = demo.git(&["log", "--format=%an <%ae>|%aI|%s"]);
    let commits: Vec<&str> = log.lines().collect();
    assert!(
        (6..=8).contains(&commits.len()),
        "6 to 8 commits of history: {log}"
    );
    for line in &commits {
        let mut fields = line.splitn(3, '|');
        assert_eq!(fields.next(), Some("Demo <demo@example.com>"), "{line}");
        assert!(fields.next().unwrap().starts_with("2026-01-"), "{line}");
    }
    let subjects = demo.git(&["log", "--format=%s"]);
    for story in [
        "Bootstrap",
        "bump nginx",
        "Rename",
        "report-exporter",
        "Scale web",
    ] {
        assert!(
            subjects.contains(story),
            "no commit about {story:?}: {subjects}"
        );
    }
    // The rename is a pure rename, as git sees it.
    let renamed = demo.git(&["log", "-1", "-M", "--name-status", "--format=", "HEAD~2"]);
    assert!(renamed.starts_with("R100\t"), "{renamed}");
    assert_eq!(
        demo.git(&["status", "--porcelain", "--untracked-files=all"]),
        ""
    );
    demo.git(&["fsck", "--strict", "--no-dangling"]);
    assert_eq!(
        demo.git(&["symbolic-ref", "--short", "HEAD"]).trim(),
        "main"
    );
    // The work tree is HEAD's, file by file.
    let tracked = demo.git(&["ls-files", "envs/demo"]);
    assert!(
        tracked
            .lines()
            .any(|f| f == "envs/demo/.kubectl-gitops.yaml"),
        "{tracked}"
    );
    assert!(!tracked.contains("report-exporter"), "{tracked}");
    for file in tracked.lines() {
        let in_git = demo.git(&["show", &format!("HEAD:{file}")]);
        let on_disk = std::fs::read_to_string(demo.repo.join(file)).unwrap();
        assert_eq!(in_git, on_disk, "{file}");
    }
}

#[test]
fn status_shows_the_drift_the_orphan_and_the_older_commit_synced() {
    let demo = DemoRun::start(&[], &[("KUBECTL_GITOPS_DEMO_NO_UI", "1")]);
    let (code, stdout, stderr) = demo.gitops(&["status", "-o", "json"]);
    assert_eq!(code, 1, "differences found\n{stdout}\n{stderr}");
    let status: Value = serde_json::from_str(&stdout).unwrap();
    let head = demo.git(&["rev-parse", "HEAD"]);
    let synced = demo.git(&["rev-parse", "HEAD~2"]);
    assert_eq!(status["revision"]["id"], head.trim());

    let web = resource(&status, "Deployment", "web");
    assert_eq!(web["status"], "Drifted", "{web:#}");
    assert_eq!(
        web["fields"],
        serde_json::json!(["spec.replicas"]),
        "{web:#}"
    );
    assert_eq!(web["namespace"], "demo");
    assert_eq!(
        web["liveRevision"],
        synced.trim(),
        "the older commit is live"
    );

    let settings = resource(&status, "ConfigMap", "settings");
    assert_eq!(settings["status"], "Drifted", "{settings:#}");
    let fields: Vec<&str> = settings["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert!(fields.contains(&"data.LOG_LEVEL"), "{settings:#}");

    let orphan = resource(&status, "Deployment", "report-exporter");
    assert_eq!(orphan["status"], "Orphaned", "{orphan:#}");
    let missing = resource(&status, "Deployment", "worker");
    assert_eq!(missing["status"], "Missing", "{missing:#}");
    // Scaled by an autoscaler, but its replicas are ignored by the environment's config.
    let api = resource(&status, "Deployment", "api");
    assert_eq!(api["status"], "Synced", "{api:#}");
    let secret = resource(&status, "Secret", "api-credentials");
    assert_eq!(secret["status"], "Synced", "{secret:#}");
    assert_eq!(secret["source"]["file"], "envs/demo/api-credentials.yaml");

    // The text table says the same, and no Secret value shows anywhere.
    let (code, table, summary) = demo.gitops(&["status"]);
    assert_eq!(code, 1);
    for (kind, name, state) in [
        ("Deployment.apps", "web", "Drifted"),
        ("ConfigMap", "settings", "Drifted"),
        ("Deployment.apps", "report-exporter", "Orphaned"),
    ] {
        assert!(
            table.lines().any(|l| {
                let cells: Vec<&str> = l.split_whitespace().collect();
                cells.len() > 3 && cells[0] == state && cells[1] == kind && cells[3] == name
            }),
            "no {state} {kind} {name}:\n{table}"
        );
    }
    assert!(summary.contains("1 Orphaned"), "{summary}");
    let (code, diff, diff_err) = demo.gitops(&["diff"]);
    assert_eq!(code, 1, "{diff_err}");
    assert!(diff.contains("-  replicas: 5"), "{diff}");
    assert!(diff.contains("-  LOG_LEVEL: debug"), "{diff}");
    for output in [&stdout, &stderr, &table, &summary, &diff, &diff_err] {
        for value in SECRET_VALUES {
            assert!(!output.contains(value), "{value} printed:\n{output}");
        }
    }
}

#[test]
fn real_kubectl_sees_the_drift_and_who_made_it() {
    let demo = DemoRun::start(&["--no-ui"], &[]);
    let deployments = demo.kubectl_get(&["deploy"]);
    let items = deployments["items"].as_array().unwrap();
    let names: Vec<&str> = items
        .iter()
        .map(|d| d["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
    for name in ["api", "report-exporter", "web"] {
        assert!(names.contains(&name), "{names:?}");
    }
    let web = items
        .iter()
        .find(|d| d["metadata"]["name"] == "web")
        .unwrap();
    assert_eq!(web["spec"]["replicas"], 5);
    let managers = web["metadata"]["managedFields"].as_array().unwrap();
    assert!(
        managers
            .iter()
            .any(|m| m["manager"] == "kubectl" && m["subresource"] == "scale"),
        "{managers:#?}"
    );
    assert!(
        managers.iter().any(|m| m["manager"] == "kubectl-gitops"),
        "{managers:#?}"
    );
    let settings = demo.kubectl_get(&["configmap", "settings"]);
    assert_eq!(settings["data"]["LOG_LEVEL"], "debug");
    assert!(
        settings["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["manager"] == "kubectl-edit"),
        "{settings:#}"
    );
    let table = demo.kubectl(&["get", "deploy", "-n", "demo"]);
    assert!(table.starts_with("NAME"), "{table}");
}

#[test]
fn without_keep_the_directory_is_gone_after_sigterm() {
    let mut demo = DemoRun::start(&["--no-ui"], &[]);
    let made = entries(&demo.tmp());
    assert_eq!(made.len(), 1, "one demo directory in TMPDIR: {made:?}");
    assert!(demo.repo.starts_with(&made[0]) && demo.kubeconfig.starts_with(&made[0]));
    assert!(demo.kubeconfig.is_file());
    let (status, rest) = demo.stop("TERM");
    assert_eq!(status.code(), Some(0), "{}", demo.stderr());
    assert_eq!(rest, "", "nothing more on stdout without --keep");
    assert_eq!(
        entries(&demo.tmp()),
        Vec::<PathBuf>::new(),
        "TMPDIR left behind"
    );
}

#[test]
fn keep_leaves_the_files_and_prints_how_to_reopen_them() {
    let mut demo = DemoRun::start(&["--keep", "--no-ui"], &[]);
    let (status, kept) = demo.stop("INT");
    assert_eq!(status.code(), Some(0), "{}", demo.stderr());
    let made = entries(&demo.tmp());
    assert_eq!(made.len(), 1, "{made:?}");
    let dir = &made[0];
    assert!(
        kept.contains(&format!("demo kept in {}", dir.display())),
        "{kept}"
    );
    assert!(kept.contains(&demo.repo.display().to_string()), "{kept}");
    assert!(
        kept.contains(&demo.kubeconfig.display().to_string()),
        "{kept}"
    );
    assert!(demo.repo.join("envs/demo/web.yaml").is_file());
    assert!(demo.kubeconfig.is_file());
    let state = dir.join("sandbox-state.json");
    assert!(state.is_file(), "{kept}");
    let restart = format!(
        "kubectl gitops sandbox --state {} --kubeconfig-out {} &",
        state.display(),
        demo.kubeconfig.display()
    );
    assert!(kept.contains(&restart), "want {restart:?} in\n{kept}");
    let reopen = format!(
        "kubectl gitops -C {} --path envs/demo --kubeconfig {}",
        demo.repo.display(),
        demo.kubeconfig.display()
    );
    assert!(
        kept.lines().any(|l| l.trim() == reopen),
        "want {reopen:?} in\n{kept}"
    );

    // The printed restart brings the same live state back.
    let mut sandbox = Command::new(gitops_binary())
        .args(["sandbox", "--state"])
        .arg(&state)
        .arg("--kubeconfig-out")
        .arg(&demo.kubeconfig)
        .env_clear()
        .env("HOME", demo.scratch.path().join("home"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines = line_channel(sandbox.stdout.take().unwrap());
    let ready = lines.recv_timeout(READY_TIMEOUT).unwrap();
    assert!(ready.starts_with("ready "), "{ready}");
    let (code, stdout, stderr) = demo.gitops(&["status", "-o", "json"]);
    let _ = sandbox.kill();
    let _ = sandbox.wait();
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    let status: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        resource(&status, "Deployment", "report-exporter")["status"],
        "Orphaned"
    );
    assert_eq!(resource(&status, "Deployment", "web")["status"], "Drifted");
}

#[test]
fn demo_refuses_flags_that_point_elsewhere() {
    let out = Command::new(gitops_binary())
        .args(["demo", "--no-ui", "--kubeconfig", "/nonexistent/kubeconfig"])
        .env_clear()
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--kubeconfig"), "{stderr}");
    assert!(out.stdout.is_empty());
}
