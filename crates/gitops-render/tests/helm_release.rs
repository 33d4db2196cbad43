//! Flux HelmReleases rendered with `helm template` (issue 16, SPEC §11): charts served by a
//! chart repository on loopback (a thread answering `index.yaml` and `.tgz` requests, as any
//! chart museum does), packaged by the test with `helm package`; the output checked against
//! `helm template` run by hand with the same values (the reference tool).
//!
//! helm is `$HELM_BINARY`, else `../shared/bin/helm` beside the project, else `helm` on
//! `PATH`; without it each test says so and returns (except in CI, where it fails). The
//! corpus test reads `../shared/corpus` (or `$KUBECTL_GITOPS_CORPUS`) the same way.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};

use gitops_git::EnvRepo;
use gitops_git::fixture::FixtureRepo;
use gitops_render::helm_release::render_helm_release;
use gitops_render::{RenderError, RenderOptions, render, render_bytes};
use k8s_model::Manifest;

/// The project's root (two levels above this crate).
fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// helm for the tests, or `None` (with a note) where there is none outside CI.
fn helm() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("HELM_BINARY")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from),
        Some(project_root().join("../shared/bin/helm")),
        Some(PathBuf::from("helm")),
    ];
    for candidate in candidates.into_iter().flatten() {
        let works = Command::new(&candidate)
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success());
        if works {
            return Some(candidate);
        }
    }
    assert!(std::env::var_os("CI").is_none(), "helm is missing");
    eprintln!("note: no helm; the HelmRelease tests are skipped");
    None
}

/// A chart repository on loopback serving the files of a directory.
struct ChartServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    index_requests: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl ChartServer {
    fn start(root: &Path) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let index_requests = Arc::new(AtomicUsize::new(0));
        let (root, stopping, counted) = (root.to_owned(), stop.clone(), index_requests.clone());
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(mut stream) = stream {
                    serve(&root, &mut stream, &counted);
                }
            }
        });
        ChartServer {
            addr,
            stop,
            index_requests,
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn index_requests(&self) -> usize {
        self.index_requests.load(Ordering::SeqCst)
    }

    /// Stops answering: the port refuses connections from now on.
    fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
    }
}

impl Drop for ChartServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Answers one HTTP request with the file it names, or 404.
fn serve(root: &Path, stream: &mut TcpStream, index_requests: &AtomicUsize) {
    let mut request = Vec::new();
    let mut buffer = [0u8; 4096];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buffer[..n]),
        }
    }
    let text = String::from_utf8_lossy(&request);
    let path = text.split_whitespace().nth(1).unwrap_or("/");
    let path = path.split('?').next().unwrap_or("").trim_start_matches('/');
    if path == "index.yaml" {
        index_requests.fetch_add(1, Ordering::SeqCst);
    }
    let body = (!path.split('/').any(|p| p == ".."))
        .then(|| std::fs::read(root.join(path)).ok())
        .flatten();
    // An OCI registry's manifests say what they are and their digest (oras checks both).
    let oci_headers = match &body {
        Some(body) if path.contains("/manifests/") => format!(
            "Content-Type: application/vnd.oci.image.manifest.v1+json\r\nDocker-Content-Digest: sha256:{}\r\n",
            sha256_hex(body)
        ),
        Some(_) if path.ends_with("/tags/list") => "Content-Type: application/json\r\n".to_owned(),
        _ => String::new(),
    };
    let response = match &body {
        Some(body) => format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n{oci_headers}Connection: close\r\n\r\n",
            body.len()
        ),
        None => {
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_owned()
        }
    };
    let _ = stream.write_all(response.as_bytes());
    if let Some(body) = body {
        let _ = stream.write_all(&body);
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Lays the packaged `tiny` archives of `versions` out under `served/v2/charts/tiny/` as an
/// OCI registry serves a chart: tags, manifests by tag, config and chart blobs.
fn publish_oci(served: &Path, versions: &[&str]) {
    let repo = served.join("v2/charts/tiny");
    for dir in ["tags", "manifests", "blobs"] {
        std::fs::create_dir_all(repo.join(dir)).unwrap();
    }
    let blob = |bytes: &[u8]| {
        let digest = format!("sha256:{}", sha256_hex(bytes));
        std::fs::write(repo.join("blobs").join(&digest), bytes).unwrap();
        digest
    };
    for version in versions {
        let chart = std::fs::read(served.join(format!("tiny-{version}.tgz"))).unwrap();
        let config = json!({"apiVersion": "v2", "name": "tiny", "version": version}).to_string();
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.cncf.helm.config.v1+json", "digest": blob(config.as_bytes()), "size": config.len()},
            "layers": [{"mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip", "digest": blob(&chart), "size": chart.len()}],
        });
        std::fs::write(repo.join("manifests").join(version), manifest.to_string()).unwrap();
    }
    let tags = json!({"name": "charts/tiny", "tags": versions});
    std::fs::write(repo.join("tags/list"), tags.to_string()).unwrap();
}

/// Writes the test chart `tiny` at `version` and packages it into `repo_dir`, then
/// (re)indexes that directory with `helm repo index` (relative chart URLs).
fn package_tiny(helm: &Path, work: &Path, repo_dir: &Path, version: &str) {
    let chart = work.join(format!("tiny-{version}"));
    let write = |path: &str, text: &str| {
        let path = chart.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write(
        "Chart.yaml",
        &format!("apiVersion: v2\nname: tiny\nversion: {version}\n"),
    );
    write(
        "values.yaml",
        "greeting: hello\nnested:\n  a: 1\n  b: 2\nlist: [1, 2]\n",
    );
    write("values-prod.yaml", "greeting: prod\n");
    write(
        "templates/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-cm\n\
         data:\n  chartVersion: {{ .Chart.Version | quote }}\n  release: {{ .Release.Name | quote }}\n\
         \x20 namespace: {{ .Release.Namespace | quote }}\n  values: {{ toJson .Values | quote }}\n",
    );
    write(
        "templates/deploy.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n\
         \x20 selector: {matchLabels: {app: tiny}}\n  template:\n    metadata: {labels: {app: tiny}}\n\
         \x20   spec:\n      containers:\n        - name: web\n          image: nginx:1.0\n",
    );
    write(
        "templates/widget.yaml",
        "{{- if .Capabilities.APIVersions.Has \"example.com/v1/Widget\" }}\n\
         apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: {{ .Release.Name }}-widget\n{{- end }}\n",
    );
    // Fails when a release's values ask it to: helm refusing a chart with its values.
    write(
        "templates/refuse.yaml",
        "{{- if .Values.refuse }}{{ fail \"refused: the values set refuse\" }}{{- end }}\n",
    );
    write(
        "templates/hook.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-hook\n\
         \x20 annotations:\n    helm.sh/hook: pre-install\ndata:\n  x: y\n",
    );
    write(
        "crds/widgets.yaml",
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n\
         \x20 name: widgets.example.com\nspec:\n  group: example.com\n  scope: Namespaced\n\
         \x20 names: {plural: widgets, singular: widget, kind: Widget}\n\
         \x20 versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}]\n",
    );
    helm_ok(
        helm,
        &[
            "package",
            chart.to_str().unwrap(),
            "-d",
            repo_dir.to_str().unwrap(),
        ],
    );
    helm_ok(helm, &["repo", "index", repo_dir.to_str().unwrap()]);
}

/// Writes every file below `from` into the fixture repo under `to` (not committed).
fn commit_dir(fixture: &FixtureRepo, from: &Path, to: &str) {
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let target = format!("{to}/{name}");
        if entry.path().is_dir() {
            commit_dir(fixture, &entry.path(), &target);
        } else {
            fixture.write(&target, &std::fs::read_to_string(entry.path()).unwrap());
        }
    }
}

/// Runs helm; its standard output.
fn helm_ok(helm: &Path, args: &[&str]) -> String {
    let output = Command::new(helm).args(args).output().unwrap();
    assert!(
        output.status.success(),
        "helm {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Everything a test needs: a temp dir, helm, a served chart repository, an env repo.
struct Setup {
    helm: PathBuf,
    temp: tempfile::TempDir,
    server: ChartServer,
    fixture: FixtureRepo,
}

impl Setup {
    /// Serves `tiny` at each of `versions`.
    fn new(versions: &[&str]) -> Option<Self> {
        let helm = helm()?;
        let temp = tempfile::tempdir().unwrap();
        let served = temp.path().join("served");
        std::fs::create_dir_all(&served).unwrap();
        for version in versions {
            package_tiny(&helm, temp.path(), &served, version);
        }
        let server = ChartServer::start(&served);
        let fixture = FixtureRepo::new();
        fixture.write("README.md", "env\n");
        fixture.commit("init");
        Some(Setup {
            helm,
            temp,
            server,
            fixture,
        })
    }

    fn served(&self) -> PathBuf {
        self.temp.path().join("served")
    }

    fn cache(&self) -> PathBuf {
        self.temp.path().join("cache")
    }

    /// Options with a fresh in-memory cache and this setup's helm and chart cache.
    fn opts(&self) -> RenderOptions {
        let mut opts = RenderOptions::new("", "default");
        opts.helm = Some(self.helm.clone());
        opts.chart_cache = Some(self.cache());
        opts
    }

    /// The manifests of a YAML text (as the environment renders it) and the HelmRelease.
    fn manifests(&self, yaml: &str) -> (Vec<Manifest>, Manifest) {
        let yaml = yaml.replace("URL", &self.server.url());
        let (manifests, errors) = render_bytes("apps/release.yaml", yaml.as_bytes(), &self.opts());
        assert!(errors.is_empty(), "{errors:?}");
        let release = manifests
            .iter()
            .find(|m| m.id.kind == "HelmRelease")
            .unwrap()
            .clone();
        (manifests, release)
    }

    fn render(
        &self,
        yaml: &str,
        opts: &RenderOptions,
    ) -> Result<Vec<(Value, k8s_model::Source)>, RenderError> {
        let (env, release) = self.manifests(yaml);
        let repo = EnvRepo::open(self.fixture.dir()).unwrap();
        let head = repo.resolve("HEAD").unwrap();
        render_helm_release(&release, &env, &repo, head, opts)
    }
}

/// A HelmRepository (interval `interval`) and a HelmRelease of `tiny` at `range`.
fn release_yaml(interval: &str, range: &str, extra_spec: &str) -> String {
    format!(
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\nmetadata:\n  name: charts\n  namespace: apps\n\
         spec:\n  interval: {interval}\n  url: URL\n---\n\
         apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: web\n  namespace: apps\n\
         spec:\n  interval: 10m\n  chart:\n    spec:\n      chart: tiny\n      version: \"{range}\"\n\
         \x20     sourceRef:\n        kind: HelmRepository\n        name: charts\n{extra_spec}"
    )
}

/// The rendered ConfigMap `<release>-cm`'s data.
fn cm_data(objects: &[(Value, k8s_model::Source)]) -> Value {
    objects
        .iter()
        .map(|(v, _)| v)
        .find(|v| {
            v["kind"] == "ConfigMap"
                && v["metadata"]["name"]
                    .as_str()
                    .is_some_and(|n| n.ends_with("-cm"))
        })
        .unwrap_or_else(|| panic!("no ConfigMap in {objects:#?}"))["data"]
        .clone()
}

/// Backdates the cached index of every repository by `age`.
fn age_indexes(cache: &Path, age: Duration) {
    for entry in std::fs::read_dir(cache).unwrap().flatten() {
        let index = entry.path().join("repo-index.yaml");
        if index.is_file() {
            let file = std::fs::File::options().write(true).open(&index).unwrap();
            file.set_modified(SystemTime::now() - age).unwrap();
        }
    }
}

#[test]
fn ranges_resolve_from_the_index_it_keeps_for_the_interval_and_offline_from_the_cache() {
    let Some(mut setup) = Setup::new(&["0.1.0", "0.2.0", "1.0.0-rc.1"]) else {
        return;
    };
    let yaml = release_yaml("1h", ">=0.1.0 <2.0.0", "");
    let objects = setup.render(&yaml, &setup.opts()).unwrap();
    // The highest in range; 1.0.0-rc.1 is a prerelease the range does not name.
    assert_eq!(cm_data(&objects)["chartVersion"], "0.2.0");
    assert_eq!(setup.server.index_requests(), 1);
    // Each object's source is the HelmRelease's.
    let (_, release) = setup.manifests(&yaml);
    assert!(objects.iter().all(|(_, s)| *s == release.source));

    // A newer chart is published; the index is younger than the interval: not fetched.
    package_tiny(&setup.helm, setup.temp.path(), &setup.served(), "0.3.0");
    let objects = setup.render(&yaml, &setup.opts()).unwrap();
    assert_eq!(cm_data(&objects)["chartVersion"], "0.2.0");
    assert_eq!(setup.server.index_requests(), 1);

    // Older than the interval: fetched again, and the new version serves.
    age_indexes(&setup.cache(), Duration::from_secs(2 * 3600));
    let objects = setup.render(&yaml, &setup.opts()).unwrap();
    assert_eq!(cm_data(&objects)["chartVersion"], "0.3.0");
    assert_eq!(setup.server.index_requests(), 2);

    // Offline: the newest cached version in range serves, without error.
    setup.server.stop();
    age_indexes(&setup.cache(), Duration::from_secs(2 * 3600));
    let objects = setup.render(&yaml, &setup.opts()).unwrap();
    assert_eq!(cm_data(&objects)["chartVersion"], "0.3.0");
    let yaml = release_yaml("1h", "~0.2.0", "");
    let objects = setup.render(&yaml, &setup.opts()).unwrap();
    assert_eq!(cm_data(&objects)["chartVersion"], "0.2.0");
    // A version never pulled cannot be served: one error naming the chart and what to do.
    let yaml = release_yaml("1h", "0.1.0", "");
    let err = setup.render(&yaml, &setup.opts()).unwrap_err();
    let (_, release) = setup.manifests(&yaml);
    assert_eq!(err.file, "apps/release.yaml");
    assert_eq!(err.line, Some(release.source.line));
    assert!(err.message.starts_with("HelmRelease apps/web: "), "{err}");
    assert!(err.message.contains("chart tiny 0.1.0"), "{err}");
    assert!(err.message.contains("no cached version"), "{err}");
}

/// A repository helm could not reach is not asked again by the next render (another process:
/// a fresh cache) for 30 s: the cached chart serves at once; after that it is asked again.
#[test]
fn an_unreachable_repository_is_not_asked_again_at_once() {
    let Some(setup) = Setup::new(&["0.1.0"]) else {
        return;
    };
    let yaml = release_yaml("1h", "*", "");
    setup.render(&yaml, &setup.opts()).unwrap();
    assert_eq!(setup.server.index_requests(), 1);
    // The repository breaks (its index is gone) once the kept index is older than the interval.
    std::fs::remove_file(setup.served().join("index.yaml")).unwrap();
    age_indexes(&setup.cache(), Duration::from_secs(2 * 3600));
    let objects = setup.render(&yaml, &setup.opts()).unwrap();
    assert_eq!(cm_data(&objects)["chartVersion"], "0.1.0");
    assert_eq!(setup.server.index_requests(), 2);
    // Right after, another render serves the cached chart without asking.
    let objects = setup.render(&yaml, &setup.opts()).unwrap();
    assert_eq!(cm_data(&objects)["chartVersion"], "0.1.0");
    assert_eq!(setup.server.index_requests(), 2);
    // A failure older than 30 s: asked again.
    for entry in std::fs::read_dir(setup.cache()).unwrap().flatten() {
        let marker = entry.path().join("unreachable");
        if marker.is_file() {
            let file = std::fs::File::options().write(true).open(&marker).unwrap();
            file.set_modified(SystemTime::now() - Duration::from_secs(60))
                .unwrap();
        }
    }
    setup.render(&yaml, &setup.opts()).unwrap();
    assert_eq!(setup.server.index_requests(), 3);
}

#[test]
fn concurrent_renders_fetch_the_index_and_the_chart_once() {
    let Some(setup) = Setup::new(&["0.1.0"]) else {
        return;
    };
    let yaml = release_yaml("1h", "*", "");
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                let objects = setup.render(&yaml, &setup.opts()).unwrap();
                assert_eq!(cm_data(&objects)["chartVersion"], "0.1.0");
            });
        }
    });
    assert_eq!(setup.server.index_requests(), 1);
}

#[test]
fn values_merge_as_flux_merges_them_and_render_as_helm_template_by_hand() {
    let Some(setup) = Setup::new(&["0.1.0"]) else {
        return;
    };
    use base64::Engine as _;
    let secret = base64::engine::general_purpose::STANDARD
        .encode("nested:\n  c: 31\n  d: 41\npassword: s3cret\n");
    let extra = "  valuesFrom:\n\
        \x20   - {kind: ConfigMap, name: base-values}\n\
        \x20   - {kind: Secret, name: secret-values, valuesKey: custom.yaml}\n\
        \x20   - {kind: ConfigMap, name: single, valuesKey: replicas, targetPath: deep.replicas}\n\
        \x20   - {kind: ConfigMap, name: absent, optional: true}\n\
        \x20   - {kind: Secret, name: secret-values, valuesKey: missing, optional: true}\n\
        \x20 values:\n    greeting: inline\n    nested:\n      d: 42\n";
    let yaml = format!(
        "{}---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: base-values\n  namespace: apps\n\
         data:\n  values.yaml: |\n    greeting: from-configmap\n    nested: {{a: 10, c: 30}}\n    list: [9]\n\
         ---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: secret-values\n  namespace: apps\n\
         data:\n  custom.yaml: {secret}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: single\n\
         \x20 namespace: apps\ndata:\n  replicas: \"3\"\n",
        release_yaml("1h", "0.1.0", extra)
    );
    let opts = setup.opts();
    let started = Instant::now();
    let ours = setup.render(&yaml, &opts).unwrap();
    let cold = started.elapsed();
    let merged = json!({
        "greeting": "inline",
        "nested": {"a": 10, "c": 31, "d": 42},
        "list": [9],
        "password": "s3cret",
        "deep": {"replicas": 3},
    });
    // What the chart saw: the merged values over its own values.yaml.
    let seen: Value = serde_json::from_str(cm_data(&ours)["values"].as_str().unwrap()).unwrap();
    let mut want = json!({"greeting": "hello", "nested": {"a": 1, "b": 2}, "list": [1, 2]});
    gitops_render::helm_release::merge_values(&mut want, &merged);
    assert_eq!(seen, want);

    // The reference: helm template by hand with that values file.
    let values_file = setup.temp.path().join("merged.json");
    std::fs::write(&values_file, merged.to_string()).unwrap();
    let archive = setup.served().join("tiny-0.1.0.tgz");
    let args = [
        "template",
        "web",
        archive.to_str().unwrap(),
        "--namespace",
        "apps",
        "--include-crds",
        "-f",
        values_file.to_str().unwrap(),
    ];
    let started = Instant::now();
    let with_hooks = helm_ok(&setup.helm, &args);
    let by_hand = started.elapsed();
    // helm template prints the hook; the release does not deploy it.
    assert!(with_hooks.contains("name: web-hook"));
    assert!(
        !ours
            .iter()
            .any(|(v, _)| v["metadata"]["name"] == "web-hook")
    );
    let expected = flux_applies(
        &parse_all(&helm_ok(
            &setup.helm,
            &[&args[..], &["--no-hooks"]].concat(),
        )),
        "apps",
        "web",
        "apps",
    );
    let ours: Vec<Value> = ours.into_iter().map(|(v, _)| v).collect();
    assert_eq!(ours, expected);
    assert!(ours.iter().any(|v| v["kind"] == "CustomResourceDefinition"));

    // Warm: the same (chart digest, values) never runs helm again.
    let runs = opts.cache.helm_run_count();
    let started = Instant::now();
    setup.render(&yaml, &opts).unwrap();
    let warm = started.elapsed();
    assert_eq!(opts.cache.helm_run_count(), runs);
    // Values from a Secret: nothing kept on disk, another process renders again.
    assert!(!setup.cache().join("renders").exists());
    let other = setup.opts();
    let started = Instant::now();
    setup.render(&yaml, &other).unwrap();
    let chart_cached = started.elapsed();
    assert_eq!(other.cache.helm_run_count(), 1);
    eprintln!(
        "tiny: helm template by hand {by_hand:?}, ours cold {cold:?} (index + pull + template), \
         chart cached {chart_cached:?} (template), warm {warm:?}; helm runs {runs}"
    );

    // install.crds: Skip leaves the chart's CRDs out.
    let skip = yaml.replace("  valuesFrom:", "  install:\n    crds: Skip\n  valuesFrom:");
    let objects = setup.render(&skip, &opts).unwrap();
    assert!(
        !objects
            .iter()
            .any(|(v, _)| v["kind"] == "CustomResourceDefinition")
    );
    assert_eq!(opts.cache.helm_run_count(), runs + 1);

    // A missing reference that is not optional is the release's error.
    let broken = yaml.replace("name: absent, optional: true", "name: absent");
    let err = setup.render(&broken, &opts).unwrap_err();
    assert!(
        err.message
            .contains("valuesFrom ConfigMap apps/absent key values.yaml"),
        "{err}"
    );
}

/// helm template's documents, as it printed them.
fn parse_all(text: &str) -> Vec<Value> {
    gitops_render::documents::parse(gitops_render::documents::Format::Yaml, text.as_bytes())
        .unwrap()
        .into_iter()
        .map(|doc| doc.value)
        .collect()
}

/// What helm-controller applies of helm template's objects: namespaced objects that name no
/// namespace go to the release's (kinds of unknown scope too); every object gets the origin
/// labels.
fn flux_applies(objects: &[Value], namespace: &str, name: &str, hr_namespace: &str) -> Vec<Value> {
    objects
        .iter()
        .cloned()
        .map(|mut v| {
            let kind = v["kind"].as_str().unwrap().to_owned();
            let api_version = v["apiVersion"].as_str().unwrap().to_owned();
            let (group, _) = k8s_model::split_api_version(&api_version);
            let metadata = v["metadata"].as_object_mut().unwrap();
            if k8s_model::kinds::builtin_scope(group, &kind) != Some(false)
                && !metadata.contains_key("namespace")
            {
                let at = metadata.keys().position(|k| k == "name").unwrap() + 1;
                metadata.shift_insert(at, "namespace".into(), json!(namespace));
            }
            let labels = metadata.entry("labels").or_insert_with(|| json!({}));
            labels["helm.toolkit.fluxcd.io/name"] = json!(name);
            labels["helm.toolkit.fluxcd.io/namespace"] = json!(hr_namespace);
            v
        })
        .collect()
}

#[test]
fn values_files_of_a_pulled_chart_replace_its_values_yaml() {
    let Some(setup) = Setup::new(&["0.1.0"]) else {
        return;
    };
    let opts = setup.opts();
    let seen = |files: &str| -> Result<Value, RenderError> {
        let yaml = release_yaml("1h", "*", "").replace(
            "      sourceRef:",
            &format!("      valuesFiles: [{files}]\n      sourceRef:"),
        );
        let objects = setup.render(&yaml, &opts)?;
        Ok(serde_json::from_str(cm_data(&objects)["values"].as_str().unwrap()).unwrap())
    };
    assert_eq!(
        seen("values-prod.yaml").unwrap(),
        json!({"greeting": "prod"})
    );
    assert_eq!(
        seen("values.yaml, values-prod.yaml").unwrap(),
        json!({"greeting": "prod", "nested": {"a": 1, "b": 2}, "list": [1, 2]})
    );
    let err = seen("values-none.yaml").unwrap_err();
    assert!(
        err.message
            .contains("valuesFiles: values-none.yaml is not in the chart"),
        "{err}"
    );
    let ignored = release_yaml("1h", "*", "").replace(
        "      sourceRef:",
        "      valuesFiles: [values-none.yaml, values-prod.yaml]\n      ignoreMissingValuesFiles: true\n      sourceRef:",
    );
    assert!(setup.render(&ignored, &opts).is_ok());
    // The deprecated valuesFile comes first.
    let deprecated = release_yaml("1h", "*", "").replace(
        "      sourceRef:",
        "      valuesFile: values.yaml\n      valuesFiles: [values-prod.yaml]\n      sourceRef:",
    );
    let objects = setup.render(&deprecated, &opts).unwrap();
    let seen: Value = serde_json::from_str(cm_data(&objects)["values"].as_str().unwrap()).unwrap();
    assert_eq!(seen["greeting"], "prod");
    assert_eq!(seen["nested"]["a"], 1);
}

#[test]
fn release_names_and_namespaces_are_helm_controllers() {
    let Some(setup) = Setup::new(&["0.1.0"]) else {
        return;
    };
    let opts = setup.opts();
    let cases = [
        ("", "web", "apps"),
        ("  targetNamespace: prod\n", "prod-web", "prod"),
        (
            "  releaseName: custom\n  targetNamespace: prod\n",
            "custom",
            "prod",
        ),
        (
            "  releaseName: a-release-name-that-is-much-longer-than-helm-allows-for-names\n",
            "a-release-name-that-is-much-longer-than--",
            "apps",
        ),
    ];
    // The Widget CRD in the environment: the chart's `.Capabilities` test sees it.
    let crd = "---\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.example.com\n\
        spec:\n  group: example.com\n  names: {kind: Widget, plural: widgets}\n  scope: Namespaced\n\
        \x20 versions: [{name: v1, served: true, storage: true}]\n";
    for (extra, name, namespace) in cases {
        let objects = setup
            .render(&format!("{}{crd}", release_yaml("1h", "*", extra)), &opts)
            .unwrap();
        let data = cm_data(&objects);
        let release = data["release"].as_str().unwrap();
        assert!(release.starts_with(name), "{extra}: {release}");
        assert!(release.len() <= 53, "{release}");
        assert_eq!(data["namespace"], namespace, "{extra}");
        let cm = objects
            .iter()
            .find(|(v, _)| v["metadata"]["name"] == format!("{release}-cm"))
            .unwrap();
        assert_eq!(cm.0["metadata"]["namespace"], namespace);
        // A custom resource, of unknown scope here, is placed in the release's namespace too.
        let widget = objects.iter().find(|(v, _)| v["kind"] == "Widget").unwrap();
        assert_eq!(widget.0["metadata"]["namespace"], namespace);
        assert_eq!(
            cm.0["metadata"]["labels"]["helm.toolkit.fluxcd.io/namespace"],
            "apps"
        );
    }
    let without_crd = setup.render(&release_yaml("1h", "*", ""), &opts).unwrap();
    assert!(!without_crd.iter().any(|(v, _)| v["kind"] == "Widget"));
    let long = cm_data(
        &setup
            .render(&release_yaml("1h", "*", cases[3].0), &opts)
            .unwrap(),
    );
    assert_eq!(long["release"].as_str().unwrap().len(), 53);
}

/// helm refusing the chart with the release's values is the release's one error, kept on disk
/// like a render (the key names the chart's digest, the values and helm): another process,
/// a history walking the same release again, gives the same error without running helm.
#[test]
fn a_chart_helm_refuses_is_the_releases_error_and_kept() {
    let Some(setup) = Setup::new(&["0.1.0"]) else {
        return;
    };
    let yaml = release_yaml("1h", "*", "  values:\n    refuse: true\n");
    let opts = setup.opts();
    let err = setup.render(&yaml, &opts).unwrap_err();
    assert!(
        err.message
            .starts_with("HelmRelease apps/web: helm template of chart tiny")
            && err.message.contains("refused: the values set refuse"),
        "{err}"
    );
    assert_eq!(opts.cache.helm_run_count(), 1);
    let other = setup.opts();
    let again = setup.render(&yaml, &other).unwrap_err();
    assert_eq!(again.message, err.message);
    assert_eq!(other.cache.helm_run_count(), 0);
    // Other values are another key: helm runs for them.
    let fine = release_yaml("1h", "*", "  values:\n    refuse: false\n");
    assert!(setup.render(&fine, &other).is_ok());
    assert_eq!(other.cache.helm_run_count(), 1);
}

#[test]
fn missing_helm_and_missing_charts_are_one_clear_error_each() {
    let Some(setup) = Setup::new(&["0.1.0"]) else {
        return;
    };
    let yaml = release_yaml("1h", "*", "");
    let mut no_helm = setup.opts();
    no_helm.helm = Some(setup.temp.path().join("no-such-helm"));
    let err = setup.render(&yaml, &no_helm).unwrap_err();
    let (_, release) = setup.manifests(&yaml);
    assert_eq!(
        (err.file.as_str(), err.line),
        ("apps/release.yaml", Some(release.source.line))
    );
    assert!(release.source.line > 1);
    assert!(
        err.message
            .starts_with("HelmRelease apps/web: helm is needed to fetch chart tiny"),
        "{err}"
    );
    assert!(
        err.message.contains("install helm 3, or set HELM_BINARY"),
        "{err}"
    );

    // The chart cached and its index fresh: the missing helm is found at template time.
    setup.render(&yaml, &setup.opts()).unwrap();
    let mut no_helm = setup.opts();
    no_helm.helm = Some(setup.temp.path().join("no-such-helm"));
    let err = setup.render(&yaml, &no_helm).unwrap_err();
    assert!(
        err.message
            .contains("helm is needed to render chart tiny *"),
        "{err}"
    );

    let absent = yaml.replace("chart: tiny", "chart: nosuch");
    let err = setup.render(&absent, &setup.opts()).unwrap_err();
    assert!(
        err.message.contains(&format!(
            "chart nosuch is not in the index of {}",
            setup.server.url()
        )),
        "{err}"
    );
    let too_new = release_yaml("1h", ">=5", "");
    let err = setup.render(&too_new, &setup.opts()).unwrap_err();
    assert!(err.message.contains("no version of chart tiny"), "{err}");
    assert!(err.message.contains("the index lists 0.1.0"), "{err}");
    let no_repo = yaml.replace("        name: charts", "        name: other");
    let err = setup.render(&no_repo, &setup.opts()).unwrap_err();
    assert!(
        err.message
            .contains("HelmRepository apps/other is not in the rendered environment"),
        "{err}"
    );
}

#[test]
fn charts_of_this_repo_render_from_the_commit_and_other_repos_are_refused() {
    let Some(setup) = Setup::new(&[]) else {
        return;
    };
    // The same chart, committed to the env repo, with a values file beside it.
    let work = setup.temp.path().join("work");
    package_tiny(&setup.helm, &work, &setup.served(), "0.4.0");
    commit_dir(&setup.fixture, &work.join("tiny-0.4.0"), "charts/tiny");
    setup
        .fixture
        .write("charts/tiny/prod-values.yaml", "greeting: prod\n");
    setup.fixture.commit("chart");
    let yaml = "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: flux-system\n\
        \x20 namespace: flux-system\nspec:\n  url: https://github.com/org/env\n---\n\
        apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: web\n  namespace: apps\n\
        spec:\n  chart:\n    spec:\n      chart: ./charts/tiny\n      valuesFiles: [charts/tiny/values.yaml, charts/tiny/prod-values.yaml]\n\
        \x20     sourceRef: {kind: GitRepository, name: flux-system, namespace: flux-system}\n";
    let opts = setup.opts();
    let objects = setup.render(yaml, &opts).unwrap();
    let data = cm_data(&objects);
    assert_eq!(data["chartVersion"], "0.4.0");
    let seen: Value = serde_json::from_str(data["values"].as_str().unwrap()).unwrap();
    assert_eq!(seen["greeting"], "prod");
    assert_eq!(seen["nested"]["a"], 1);

    // valuesFiles replace the chart's values.yaml: without it, its defaults are gone.
    let only_prod = yaml.replace("charts/tiny/values.yaml, ", "");
    let seen: Value = serde_json::from_str(
        cm_data(&setup.render(&only_prod, &opts).unwrap())["values"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(seen, json!({"greeting": "prod"}));

    // With a remote that is not the GitRepository's url: another repository, refused.
    setup
        .fixture
        .git(&["remote", "add", "origin", "git@github.com:org/other.git"]);
    let err = setup.render(yaml, &opts).unwrap_err();
    assert!(err.message.contains("GitRepository flux-system/flux-system is https://github.com/org/env, another repository"), "{err}");
    setup
        .fixture
        .git(&["remote", "set-url", "origin", "git@github.com:org/env.git"]);
    assert!(setup.render(yaml, &opts).is_ok());
}

#[test]
fn post_renderers_patch_and_retag_with_kustomize() {
    let Some(setup) = Setup::new(&["0.1.0"]) else {
        return;
    };
    if no_kubectl() {
        return;
    }
    let extra = "  postRenderers:\n    - kustomize:\n        images:\n          - {name: nginx, newName: registry.local/nginx, newTag: \"2.0\"}\n\
        \x20       patches:\n          - target: {kind: ConfigMap, name: web-cm}\n\
        \x20           patch: |\n              - op: add\n                path: /data/patched\n                value: \"yes\"\n\
        \x20   - kustomize:\n        patchesJson6902:\n          - target: {version: v1, kind: ConfigMap, name: web-cm}\n\
        \x20           patch: [{op: add, path: /data/second, value: \"also\"}]\n";
    let objects = setup
        .render(&release_yaml("1h", "*", extra), &setup.opts())
        .unwrap();
    let deployment = objects
        .iter()
        .find(|(v, _)| v["kind"] == "Deployment")
        .unwrap();
    assert_eq!(
        deployment.0["spec"]["template"]["spec"]["containers"][0]["image"],
        "registry.local/nginx:2.0"
    );
    let data = cm_data(&objects);
    assert_eq!(
        (&data["patched"], &data["second"]),
        (&json!("yes"), &json!("also"))
    );
    // The origin labels come after the post renderers, on every object.
    assert!(
        objects
            .iter()
            .all(|(v, _)| v["metadata"]["labels"]["helm.toolkit.fluxcd.io/name"] == "web")
    );
    let broken = extra.replace("path: /data/patched", "path: /nowhere/deep");
    let err = setup
        .render(&release_yaml("1h", "*", &broken), &setup.opts())
        .unwrap_err();
    assert!(
        err.message
            .contains("spec.postRenderers: kubectl kustomize failed"),
        "{err}"
    );
}

#[test]
fn chart_directories_render_as_units_as_before() {
    let Some(setup) = Setup::new(&[]) else {
        return;
    };
    let work = setup.temp.path().join("work");
    package_tiny(&setup.helm, &work, &setup.served(), "0.5.0");
    let chart = work.join("tiny-0.5.0");
    commit_dir(&setup.fixture, &chart, "env/tiny");
    setup.fixture.commit("chart unit");
    let repo = EnvRepo::open(setup.fixture.dir()).unwrap();
    let head = repo.resolve("HEAD").unwrap();
    let mut opts = setup.opts();
    opts.path = "env".into();
    let rendered = render(&repo, head, &opts).unwrap();
    assert!(rendered.errors.is_empty(), "{:?}", rendered.errors);
    let by_hand = parse_all(&helm_ok(
        &setup.helm,
        &[
            "template",
            "tiny",
            chart.to_str().unwrap(),
            "--namespace",
            "default",
            "--include-crds",
        ],
    ));
    // A chart unit keeps its hooks (Argo CD runs them) and maps objects to template files.
    let names = |objects: Vec<&Value>| -> Vec<String> {
        objects
            .iter()
            .map(|v| {
                format!(
                    "{}/{}",
                    v["kind"].as_str().unwrap(),
                    v["metadata"]["name"].as_str().unwrap()
                )
            })
            .collect()
    };
    assert_eq!(
        names(rendered.manifests.iter().map(|m| &m.object).collect()),
        names(by_hand.iter().collect())
    );
    assert!(rendered.manifests.iter().any(|m| m.id.name == "tiny-hook"));
    let cm = rendered
        .manifests
        .iter()
        .find(|m| m.id.name == "tiny-cm")
        .unwrap();
    assert_eq!(cm.source.file, "env/tiny/templates/cm.yaml");
}

#[test]
fn oci_charts_resolve_through_helm_and_serve_from_the_cache_offline() {
    let Some(mut setup) = Setup::new(&["0.1.0", "0.1.5", "0.2.0"]) else {
        return;
    };
    publish_oci(&setup.served(), &["0.1.0", "0.1.5", "0.2.0"]);
    let host = setup.server.url().replace("http://", "");
    let chart_ref = format!(
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: OCIRepository\nmetadata:\n  name: tiny\n  namespace: apps\n\
         spec:\n  interval: 1h\n  insecure: true\n  url: oci://{host}/charts/tiny\n  ref:\n    semver: \"~0.1\"\n---\n\
         apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: web\n  namespace: apps\n\
         spec:\n  chartRef:\n    kind: OCIRepository\n    name: tiny\n"
    );
    let objects = setup.render(&chart_ref, &setup.opts()).unwrap();
    assert_eq!(cm_data(&objects)["chartVersion"], "0.1.5");
    // A HelmRepository of type oci: the chart below its url, the newest version by default.
    let oci_repo = release_yaml("1h", "", "")
        .replace(
            "  url: URL",
            &format!("  type: oci\n  insecure: true\n  url: oci://{host}/charts"),
        )
        .replace("      version: \"\"\n", "");
    let objects = setup.render(&oci_repo, &setup.opts()).unwrap();
    assert_eq!(cm_data(&objects)["chartVersion"], "0.2.0");

    // Offline: the cache serves what the range resolved to.
    setup.server.stop();
    let objects = setup.render(&chart_ref, &setup.opts()).unwrap();
    assert_eq!(cm_data(&objects)["chartVersion"], "0.1.5");
    let never = chart_ref.replace("~0.1", "0.1.0");
    let err = setup.render(&never, &setup.opts()).unwrap_err();
    assert!(
        err.message
            .contains(&format!("chart oci://{host}/charts/tiny")),
        "{err}"
    );
    assert!(
        err.message
            .contains("no cached version of chart tiny satisfies \"0.1.0\""),
        "{err}"
    );
    let helm_chart =
        chart_ref.replace("kind: OCIRepository\n    name", "kind: HelmChart\n    name");
    let err = setup.render(&helm_chart, &setup.opts()).unwrap_err();
    assert!(
        err.message
            .contains("chartRef kind \"HelmChart\" is not supported"),
        "{err}"
    );
}

/// Whether kubectl is missing (said in a note; kustomize needs it).
fn no_kubectl() -> bool {
    let missing = Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .is_err();
    if missing {
        eprintln!("note: no kubectl; skipped");
    }
    missing
}

/// The corpus folder, or `None` (with a note) where it is absent outside CI.
fn corpus() -> Option<PathBuf> {
    let dir = std::env::var_os("KUBECTL_GITOPS_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| project_root().join("../shared/corpus"));
    if dir.join("charts/podinfo-6.14.1.tgz").is_file()
        && dir.join("flux2-kustomize-helm-example.bundle").is_file()
    {
        return Some(dir);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "the corpus is missing at {}",
        dir.display()
    );
    eprintln!("note: no corpus at {}; skipped", dir.display());
    None
}

#[test]
fn corpus_podinfo_staging_renders_as_helm_template_by_hand() {
    let Some(corpus) = corpus() else { return };
    let Some(setup) = Setup::new(&[]) else { return };
    if no_kubectl() {
        return;
    }
    // The corpus chart, served as its repository would serve it.
    std::fs::copy(
        corpus.join("charts/podinfo-6.14.1.tgz"),
        setup.served().join("podinfo-6.14.1.tgz"),
    )
    .unwrap();
    helm_ok(
        &setup.helm,
        &["repo", "index", setup.served().to_str().unwrap()],
    );
    let clone = setup.temp.path().join("flux2-kustomize-helm-example");
    let status = Command::new("git")
        .args(["clone", "-q"])
        .arg(corpus.join("flux2-kustomize-helm-example.bundle"))
        .arg(&clone)
        .status()
        .unwrap();
    assert!(status.success());
    let repo = EnvRepo::open(&clone).unwrap();
    let head = repo.resolve("HEAD").unwrap();
    let mut opts = setup.opts();
    opts.path = "apps/staging".into();
    let rendered = render(&repo, head, &opts).unwrap();
    // The render follows the HelmRelease to its real repository, unreachable here and not
    // cached: that release is the one error, naming the chart.
    assert!(
        matches!(&rendered.errors[..], [e] if e.message.starts_with("HelmRelease podinfo/podinfo: cannot get chart podinfo")),
        "{:?}",
        rendered.errors
    );
    let mut env = rendered.manifests;
    let release = env
        .iter()
        .find(|m| m.id.kind == "HelmRelease")
        .unwrap()
        .clone();
    let helm_repo = env
        .iter_mut()
        .find(|m| m.id.kind == "HelmRepository")
        .unwrap();
    assert_eq!(
        helm_repo.object["spec"]["url"],
        "https://stefanprodan.github.io/podinfo"
    );
    helm_repo.object["spec"]["url"] = json!(setup.server.url());

    let started = Instant::now();
    let objects = render_helm_release(&release, &env, &repo, head, &opts).unwrap();
    let cold = started.elapsed();
    let started = Instant::now();
    let warm_opts = setup.opts();
    render_helm_release(&release, &env, &repo, head, &warm_opts).unwrap();
    let warm_disk = started.elapsed();
    let started = Instant::now();
    render_helm_release(&release, &env, &repo, head, &opts).unwrap();
    let warm = started.elapsed();
    assert_eq!(opts.cache.helm_run_count(), 1);
    // The other process found the render kept on disk: it ran no helm.
    assert_eq!(warm_opts.cache.helm_run_count(), 0);

    let deployment = objects
        .iter()
        .find(|(v, _)| v["kind"] == "Deployment" && v["metadata"]["name"] == "podinfo")
        .expect("podinfo's Deployment");
    assert_eq!(deployment.0["metadata"]["namespace"], "podinfo");
    assert_eq!(deployment.1, release.source);
    let route = objects
        .iter()
        .find(|(v, _)| v["kind"] == "HTTPRoute")
        .expect("podinfo's HTTPRoute");
    assert_eq!(route.0["spec"]["hostnames"], json!(["podinfo.staging"]));
    assert!(
        objects
            .iter()
            .any(|(v, _)| v["metadata"]["name"] == "podinfo-redis")
    );

    // By hand: the values the staging patch left on the release, the corpus archive.
    let values_file = setup.temp.path().join("values.json");
    std::fs::write(&values_file, release.object["spec"]["values"].to_string()).unwrap();
    let archive = setup.served().join("podinfo-6.14.1.tgz");
    let started = Instant::now();
    let by_hand = helm_ok(
        &setup.helm,
        &[
            "template",
            "podinfo",
            archive.to_str().unwrap(),
            "--namespace",
            "podinfo",
            "--include-crds",
            "--no-hooks",
            "-f",
            values_file.to_str().unwrap(),
        ],
    );
    let by_hand_time = started.elapsed();
    let expected = flux_applies(&parse_all(&by_hand), "podinfo", "podinfo", "podinfo");
    let ours: Vec<Value> = objects.into_iter().map(|(v, _)| v).collect();
    assert_eq!(ours, expected);
    eprintln!(
        "podinfo: helm template by hand {by_hand_time:?}; ours cold {cold:?} (index + pull + template), \
         new process with the disk cache {warm_disk:?}, warm {warm:?}; helm runs {}",
        opts.cache.helm_run_count()
    );
}
