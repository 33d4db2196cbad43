//! Harness shared by the integration tests: a cluster to test against (the sandbox binary, or a
//! real cluster when `KUBECTL_GITOPS_E2E_KUBECONFIG` is set) and a sealed `kubectl` runner.
//!
//! Every test gets its own namespace `kgo-e2e-<random>` on both backends, so tests are written
//! the same way for the sandbox and for a real cluster. Cluster-scoped objects a test creates are
//! registered with `track_cluster_scoped` and deleted when the cluster is dropped.
//!
//! kubectl is `$KUBECTL_GITOPS_TEST_KUBECTL` or `kubectl` on PATH; without it tests fail (they
//! never pass vacuously). Against the sandbox it runs with a private HOME, no `KUBECTL_*` and
//! `NO_COLOR`; the Google Cloud SDK dispatcher then picks kubectl by the version the sandbox
//! reports (`start_with_kube_version("1.28")` gives kubectl 1.28).

// Each integration test crate compiles this module and uses a different part of it.
#![allow(dead_code)]

mod node;

use std::ffi::OsString;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

/// Env var naming a kubeconfig of a real cluster to run the suite against.
pub const E2E_KUBECONFIG_ENV: &str = "KUBECTL_GITOPS_E2E_KUBECONFIG";
/// Env var naming the kubectl binary to drive (default: `kubectl` on PATH).
pub const KUBECTL_ENV: &str = "KUBECTL_GITOPS_TEST_KUBECTL";
/// Where the Google Cloud SDK keeps its per-version kubectl binaries.
pub const GCLOUD_KUBECTL_DIR: &str = "/usr/lib/google-cloud-sdk/bin";
/// How long the sandbox may take to print its `ready` line.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Upper bound for any single kubectl invocation, so a hung kubectl fails the test instead of
/// hanging the suite.
const KUBECTL_TIMEOUT: Duration = Duration::from_secs(90);

/// A random lowercase suffix for names that must be unique on a shared real cluster.
pub fn random_suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_string()
}

/// Which cluster the tests talk to.
enum Backend {
    /// The `kubectl-gitops sandbox` child process, killed on drop.
    Sandbox { child: Child, stderr_log: PathBuf },
    /// A real cluster from `KUBECTL_GITOPS_E2E_KUBECONFIG`.
    Real,
}

/// A cluster for one test: sandbox or real, with a fresh namespace and a private kubectl HOME.
pub struct TestCluster {
    backend: Backend,
    // Holds the private HOME, the sandbox kubeconfig and logs; removed on drop.
    work: TempDir,
    kubeconfig: PathBuf,
    namespace: String,
    kubectl: PathBuf,
    /// `(resource, name)` of cluster-scoped objects to delete on drop (real cluster only).
    cluster_scoped: Mutex<Vec<(String, String)>>,
    /// On a real cluster (no kubelet here), the harness's node running the namespace's pods.
    node: Option<node::NodePlayer>,
}

impl TestCluster {
    /// A cluster reporting the default Kubernetes version (1.33 for the sandbox).
    pub fn start() -> TestCluster {
        TestCluster::start_inner(None, &[])
    }

    /// A cluster whose kubectl is `minor_version` (e.g. `"1.28"`): the sandbox reports that
    /// version so the gcloud dispatcher picks it; on a real cluster the versioned binary runs
    /// directly when installed.
    pub fn start_with_kube_version(version: &str) -> TestCluster {
        TestCluster::start_inner(Some(version), &[])
    }

    /// A cluster whose sandbox gets extra flags (fault injection); a real cluster ignores them.
    pub fn start_with_sandbox_flags(flags: &[&str]) -> TestCluster {
        TestCluster::start_inner(None, flags)
    }

    fn start_inner(version: Option<&str>, sandbox_flags: &[&str]) -> TestCluster {
        let work = tempfile::Builder::new()
            .prefix("kgo-test-")
            .tempdir()
            .unwrap();
        std::fs::create_dir_all(work.path().join("home")).unwrap();
        std::fs::create_dir_all(work.path().join("tmp")).unwrap();
        let namespace = format!("kgo-e2e-{}", random_suffix());
        let (backend, kubeconfig, kubectl) = match std::env::var_os(E2E_KUBECONFIG_ENV) {
            Some(path) if !path.is_empty() => {
                let kubectl = match version.map(gcloud_versioned_kubectl) {
                    Some(Some(versioned)) => versioned,
                    Some(None) => {
                        eprintln!(
                            "note: {GCLOUD_KUBECTL_DIR}/kubectl.{} is not installed; using the default kubectl",
                            version.unwrap_or_default()
                        );
                        find_kubectl()
                    }
                    None => find_kubectl(),
                };
                (Backend::Real, PathBuf::from(path), kubectl)
            }
            _ => {
                let kubectl = find_kubectl();
                let (child, kubeconfig, stderr_log) =
                    spawn_sandbox(work.path(), version, sandbox_flags);
                (Backend::Sandbox { child, stderr_log }, kubeconfig, kubectl)
            }
        };
        let cluster = TestCluster {
            backend,
            work,
            kubeconfig,
            namespace,
            kubectl,
            cluster_scoped: Mutex::new(Vec::new()),
            node: None,
        };
        // `create -f` (JSON on the wire for every kubectl version) rather than the typed
        // `create namespace`, whose request encoding is a scenario of its own.
        cluster
            .kubectl_raw_stdin(
                &["create", "-f", "-"],
                &format!(
                    "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {}\n",
                    cluster.namespace
                ),
            )
            .success();
        let mut cluster = cluster;
        if cluster.is_real() {
            let node = format!("{}-node", cluster.namespace);
            cluster.node = Some(node::NodePlayer::start(
                &cluster.kubeconfig,
                &cluster.namespace,
                &node,
            ));
        }
        cluster
    }

    /// True when running against a real cluster rather than the sandbox.
    pub fn is_real(&self) -> bool {
        matches!(self.backend, Backend::Real)
    }

    /// The minor version the server reports at `/version` (defaults and messages that differ
    /// between Kubernetes versions are asserted per it).
    pub fn server_minor(&self) -> u32 {
        let version = self
            .kubectl_raw(&["get", "--raw", "/version"])
            .success()
            .json();
        version["minor"]
            .as_str()
            .and_then(|m| m.trim_end_matches('+').parse().ok())
            .unwrap_or_else(|| panic!("no minor version in /version: {version}"))
    }

    /// What kubectl puts before the `/` of its User-Agent: the name it was run as (`kubectl`
    /// through the dispatcher, `kubectl.1.28` when run directly). The server derives the field
    /// manager of requests without `fieldManager` from it.
    pub fn kubectl_user_agent_name(&self) -> String {
        self.kubectl
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "kubectl".into())
    }

    /// The test's own namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The kubeconfig kubectl and kube-rs use.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// A scratch directory removed with the cluster.
    pub fn scratch(&self) -> &Path {
        self.work.path()
    }

    /// A name unique on the cluster, for cluster-scoped objects.
    pub fn unique_name(&self, prefix: &str) -> String {
        format!("{prefix}{}", random_suffix())
    }

    /// Deletes this cluster-scoped object on drop when running against a real cluster.
    pub fn track_cluster_scoped(&self, resource: &str, name: &str) {
        self.cluster_scoped
            .lock()
            .unwrap()
            .push((resource.to_string(), name.to_string()));
    }

    /// The sandbox's stderr so far (empty on a real cluster), for failure messages.
    pub fn sandbox_stderr(&self) -> String {
        match &self.backend {
            Backend::Sandbox { stderr_log, .. } => {
                std::fs::read_to_string(stderr_log).unwrap_or_default()
            }
            Backend::Real => String::new(),
        }
    }

    /// A kubectl command in the sealed environment, with no namespace added: a private HOME for
    /// the sandbox; on a real cluster the user's environment minus `KUBECTL_*`, with a private
    /// cache dir.
    pub fn kubectl_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.kubectl);
        match self.backend {
            Backend::Sandbox { .. } => {
                let home = self.work.path().join("home");
                cmd.env_clear()
                    .env("HOME", &home)
                    .env("XDG_CONFIG_HOME", home.join(".config"))
                    .env("XDG_CACHE_HOME", home.join(".cache"))
                    .env("LANG", "C.UTF-8");
                // PATH is needed by kubectl diff (diff), kubectl edit (the editor) and the
                // version dispatcher (kubectl.1.XX).
                if let Some(path) = std::env::var_os("PATH") {
                    cmd.env("PATH", path);
                }
            }
            Backend::Real => {
                // Exec credential plugins (gke-gcloud-auth-plugin, aws, ...) need the user's
                // HOME and environment: keep them, drop only kubectl's own variables, and keep
                // the discovery cache private with --cache-dir instead.
                for (key, _) in std::env::vars_os() {
                    if key.to_string_lossy().starts_with("KUBECTL_") {
                        cmd.env_remove(key);
                    }
                }
                cmd.arg("--cache-dir")
                    .arg(self.work.path().join("home").join(".kube").join("cache"));
            }
        }
        cmd.args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("NO_COLOR", "1")
            // kubectl edit and diff leave files in TMPDIR; keep them in the test's scratch dir.
            .env("TMPDIR", self.work.path().join("tmp"))
            .current_dir(self.work.path());
        cmd
    }

    /// Runs kubectl with `--namespace <test namespace>` in front of `args`.
    pub fn kubectl(&self, args: &[&str]) -> KubectlOutput {
        self.run(self.namespaced(args), None, &[])
    }

    /// Runs kubectl in the test namespace with `input` on stdin.
    pub fn kubectl_stdin(&self, args: &[&str], input: &str) -> KubectlOutput {
        self.run(self.namespaced(args), Some(input), &[])
    }

    /// Runs kubectl in the test namespace with `input` on stdin and extra environment variables.
    pub fn kubectl_stdin_env(
        &self,
        args: &[&str],
        input: &str,
        env: &[(&str, &str)],
    ) -> KubectlOutput {
        self.run(self.namespaced(args), Some(input), env)
    }

    /// Runs kubectl in the test namespace with extra environment variables.
    pub fn kubectl_env(&self, args: &[&str], env: &[(&str, &str)]) -> KubectlOutput {
        self.run(self.namespaced(args), None, env)
    }

    /// Runs kubectl with exactly `args` (no namespace added).
    pub fn kubectl_raw(&self, args: &[&str]) -> KubectlOutput {
        self.run(args.iter().map(|s| s.to_string()).collect(), None, &[])
    }

    /// Runs kubectl with exactly `args` and `input` on stdin.
    pub fn kubectl_raw_stdin(&self, args: &[&str], input: &str) -> KubectlOutput {
        self.run(
            args.iter().map(|s| s.to_string()).collect(),
            Some(input),
            &[],
        )
    }

    /// `kubectl apply --server-side -f -` of `manifest` in the test namespace.
    pub fn apply(&self, manifest: &str) -> KubectlOutput {
        self.kubectl_stdin(&["apply", "--server-side", "-f", "-"], manifest)
    }

    /// `kubectl get <what> -o json` in the test namespace, which must succeed.
    pub fn get_json(&self, what: &[&str]) -> Value {
        let mut args = vec!["get"];
        args.extend_from_slice(what);
        args.extend_from_slice(&["-o", "json"]);
        self.kubectl(&args).success().json()
    }

    /// Spawns a long-running kubectl (e.g. `get -w`) in the test namespace.
    pub fn spawn_kubectl(&self, args: &[&str]) -> KubectlProcess {
        let args = self.namespaced(args);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut child = self
            .kubectl_command(&refs)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {}: {e}", self.kubectl.display()));
        let lines = line_channel(child.stdout.take().unwrap());
        let stderr = child.stderr.take().unwrap();
        let stderr_lines = line_channel(stderr);
        KubectlProcess {
            child,
            lines,
            stderr_lines,
            seen: Vec::new(),
            args,
        }
    }

    /// A kube-rs client for this cluster (the kubeconfig's current context).
    pub async fn client(&self) -> kube::Client {
        kube_client(&self.kubeconfig).await
    }

    fn namespaced(&self, args: &[&str]) -> Vec<String> {
        let mut all = vec!["--namespace".to_string(), self.namespace.clone()];
        all.extend(args.iter().map(|s| s.to_string()));
        all
    }

    fn run(&self, args: Vec<String>, input: Option<&str>, env: &[(&str, &str)]) -> KubectlOutput {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut cmd = self.kubectl_command(&refs);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = gitops_git::fixture::spawn_with_input(&mut cmd, input)
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.kubectl.display()));
        let output = wait_with_timeout(child, KUBECTL_TIMEOUT).unwrap_or_else(|| {
            panic!(
                "kubectl {} did not finish within {KUBECTL_TIMEOUT:?}\n--- sandbox stderr ---\n{}",
                args.join(" "),
                self.sandbox_stderr()
            )
        });
        KubectlOutput {
            args,
            status: output.status,
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            sandbox_log: match &self.backend {
                Backend::Sandbox { stderr_log, .. } => Some(stderr_log.clone()),
                Backend::Real => None,
            },
        }
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        match &mut self.backend {
            Backend::Sandbox { child, .. } => {
                let _ = child.kill();
                let _ = child.wait();
            }
            Backend::Real => {
                let objects = std::mem::take(&mut *self.cluster_scoped.lock().unwrap());
                for (resource, name) in objects.iter().rev() {
                    let _ = self.kubectl_raw(&[
                        "delete",
                        resource,
                        name,
                        "--ignore-not-found",
                        "--wait=false",
                    ]);
                }
                let _ = self.kubectl_raw(&[
                    "delete",
                    "namespace",
                    &self.namespace,
                    "--ignore-not-found",
                    "--wait=false",
                ]);
            }
        }
    }
}

/// The result of one kubectl run.
pub struct KubectlOutput {
    /// Arguments kubectl got.
    pub args: Vec<String>,
    /// Exit status.
    pub status: ExitStatus,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// The sandbox's log, shown when an assertion fails.
    sandbox_log: Option<PathBuf>,
}

impl KubectlOutput {
    /// The exit code (-1 when killed by a signal).
    pub fn code(&self) -> i32 {
        self.status.code().unwrap_or(-1)
    }

    /// Asserts exit 0.
    #[track_caller]
    pub fn success(self) -> Self {
        assert!(self.status.success(), "expected success\n{self}");
        self
    }

    /// Asserts a non-zero exit.
    #[track_caller]
    pub fn failure(self) -> Self {
        assert!(!self.status.success(), "expected failure\n{self}");
        self
    }

    /// Asserts this exit code.
    #[track_caller]
    pub fn code_is(self, code: i32) -> Self {
        assert_eq!(self.code(), code, "unexpected exit code\n{self}");
        self
    }

    /// Asserts stdout contains `needle`.
    #[track_caller]
    pub fn stdout_has(self, needle: &str) -> Self {
        assert!(
            self.stdout.contains(needle),
            "stdout lacks {needle:?}\n{self}"
        );
        self
    }

    /// Asserts stderr contains `needle`.
    #[track_caller]
    pub fn stderr_has(self, needle: &str) -> Self {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}\n{self}"
        );
        self
    }

    /// Stdout parsed as JSON.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON: {e}\n{self}"))
    }

    /// Non-empty stdout lines.
    pub fn lines(&self) -> Vec<&str> {
        self.stdout
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect()
    }
}

impl std::fmt::Display for KubectlOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "$ kubectl {}\nexit: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.args.join(" "),
            self.code(),
            self.stdout,
            self.stderr
        )?;
        let log = self
            .sandbox_log
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default();
        if !log.trim().is_empty() {
            // The tail is where a failing request's panic or error is.
            let lines: Vec<&str> = log.lines().collect();
            let tail = &lines[lines.len().saturating_sub(30)..];
            write!(f, "\n--- sandbox log (tail) ---\n{}", tail.join("\n"))?;
        }
        Ok(())
    }
}

/// A long-running kubectl (e.g. `get -w`), killed on drop.
pub struct KubectlProcess {
    child: Child,
    lines: Receiver<String>,
    stderr_lines: Receiver<String>,
    seen: Vec<String>,
    args: Vec<String>,
}

impl KubectlProcess {
    /// Waits for a stdout line matching `pred` and returns it; panics after `timeout`.
    #[track_caller]
    pub fn expect_line(&mut self, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if pred(&line) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => {
                    let stderr: Vec<String> = self.stderr_lines.try_iter().collect();
                    panic!(
                        "kubectl {} printed no matching line within {timeout:?}\n--- stdout so far ---\n{}\n--- stderr ---\n{}",
                        self.args.join(" "),
                        self.seen.join("\n"),
                        stderr.join("\n")
                    );
                }
            }
        }
    }
}

impl Drop for KubectlProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `probe` until it returns `Some`, panicking with `what` after `timeout`.
#[track_caller]
pub fn poll_until<T>(timeout: Duration, what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = probe() {
            return v;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Reads lines of `stream` on a thread, delivering them through a channel.
pub fn line_channel(stream: impl std::io::Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// A kube-rs client for a kubeconfig's current context.
pub async fn kube_client(kubeconfig: &Path) -> kube::Client {
    let kubeconfig = kube::config::Kubeconfig::read_from(kubeconfig).unwrap();
    let config = kube::Config::from_custom_kubeconfig(
        kubeconfig,
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .unwrap();
    kube::Client::try_from(config).unwrap()
}

/// Path of the kubectl-gitops binary under test.
pub fn gitops_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_kubectl-gitops"))
}

/// Runs `cmd` to completion and returns its stdout; panics naming `what` with its stderr when it
/// fails.
pub fn stdout_of(cmd: &mut Command, what: &str) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `kubectl-gitops demo <args>` sealed in a new scratch directory (named `<prefix>…`) that holds
/// its TMPDIR (`tmp`), HOME (`home`) and PATH (`bin`, empty: the demo needs neither kubectl nor
/// git); no other environment variable.
pub fn demo_command(prefix: &str, args: &[&str]) -> (TempDir, Command) {
    let scratch = tempfile::Builder::new().prefix(prefix).tempdir().unwrap();
    for dir in ["tmp", "home", "bin"] {
        std::fs::create_dir_all(scratch.path().join(dir)).unwrap();
    }
    let mut demo = Command::new(gitops_binary());
    demo.arg("demo")
        .args(args)
        .env_clear()
        .env("PATH", scratch.path().join("bin"))
        .env("HOME", scratch.path().join("home"))
        .env("TMPDIR", scratch.path().join("tmp"));
    (scratch, demo)
}

/// Starts `kubectl-gitops sandbox` writing its kubeconfig under `dir`; returns the child, the
/// kubeconfig path it announced and its stderr log.
fn spawn_sandbox(dir: &Path, version: Option<&str>, flags: &[&str]) -> (Child, PathBuf, PathBuf) {
    let kubeconfig = dir.join("kubeconfig");
    let stderr_log = dir.join("sandbox.stderr");
    let mut cmd = Command::new(gitops_binary());
    cmd.arg("sandbox")
        .arg("--port")
        .arg("0")
        .arg("--kubeconfig-out")
        .arg(&kubeconfig);
    if let Some(v) = version {
        cmd.arg("--kube-version").arg(v);
    }
    cmd.args(flags);
    // The sandbox must not pick up the developer's environment either.
    cmd.env_remove("KUBECONFIG")
        .env_remove("KUBECTL_GITOPS_LOG")
        .env("HOME", dir.join("home"))
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(File::create(&stderr_log).unwrap()));
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", gitops_binary().display()));
    let lines = line_channel(child.stdout.take().unwrap());
    let first = lines.recv_timeout(READY_TIMEOUT);
    let fail = |child: &mut Child, why: String| -> ! {
        let _ = child.kill();
        let _ = child.wait();
        let stderr = std::fs::read_to_string(&stderr_log).unwrap_or_default();
        panic!("sandbox did not become ready: {why}\n--- sandbox stderr ---\n{stderr}");
    };
    let line = match first {
        Ok(line) => line,
        Err(RecvTimeoutError::Timeout) => fail(
            &mut child,
            format!("no `ready` line within {READY_TIMEOUT:?}"),
        ),
        Err(RecvTimeoutError::Disconnected) => {
            let status = child.wait().ok();
            fail(
                &mut child,
                format!("stdout closed before the `ready` line (exit: {status:?})"),
            )
        }
    };
    let Some(path) = line.strip_prefix("ready ") else {
        fail(
            &mut child,
            format!("first stdout line is {line:?}, not `ready <path>`"),
        )
    };
    let announced = PathBuf::from(path);
    if announced != kubeconfig {
        fail(
            &mut child,
            format!(
                "announced kubeconfig {path} is not --kubeconfig-out {}",
                kubeconfig.display()
            ),
        );
    }
    // Keep draining stdout so the sandbox can never block on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, announced, stderr_log)
}

/// The kubectl to drive: `$KUBECTL_GITOPS_TEST_KUBECTL`, else `kubectl` on PATH. Missing kubectl
/// fails the test: this suite exists to check the sandbox against the real kubectl.
pub fn find_kubectl() -> PathBuf {
    if let Some(explicit) = std::env::var_os(KUBECTL_ENV).filter(|v| !v.is_empty()) {
        let path = PathBuf::from(&explicit);
        if path.is_file() {
            return path;
        }
        if let Some(found) = search_path(&explicit) {
            return found;
        }
        panic!(
            "${KUBECTL_ENV} is {explicit:?} but no such kubectl exists; install kubectl (1.28 or newer) or fix the variable"
        );
    }
    search_path(&OsString::from("kubectl")).unwrap_or_else(|| {
        panic!(
            "kubectl not found on PATH: the sandbox fidelity tests drive the real kubectl; install kubectl 1.28 or newer \
             (e.g. the Google Cloud SDK's kubectl, or https://kubernetes.io/docs/tasks/tools/) or set ${KUBECTL_ENV}"
        )
    })
}

/// `/usr/lib/google-cloud-sdk/bin/kubectl.<version>` when installed.
pub fn gcloud_versioned_kubectl(version: &str) -> Option<PathBuf> {
    let path = Path::new(GCLOUD_KUBECTL_DIR).join(format!("kubectl.{version}"));
    path.is_file().then_some(path)
}

fn search_path(name: &OsString) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Waits for `child` at most `timeout`, killing it when it overruns.
fn wait_with_timeout(child: Child, timeout: Duration) -> Option<std::process::Output> {
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(timeout) {
        Ok(out) => Some(out.unwrap()),
        Err(_) => {
            let _ = Command::new("kill")
                .arg("-KILL")
                .arg(pid.to_string())
                .status();
            None
        }
    }
}
