//! Charts pulled from Helm repositories for Flux `HelmRelease`s (SPEC §11), cached on disk.
//!
//! All network work goes through helm (`helm repo add`, `helm pull`), so a repository answers
//! as it answers helm: TLS, redirects, relative chart URLs, OCI registries and their logins.
//!
//! The cache is `$KUBECTL_GITOPS_CACHE_DIR/charts` ([`RenderOptions::chart_cache`] first), else
//! `$XDG_CACHE_HOME/kubectl-gitops/charts`, else `~/.cache/kubectl-gitops/charts`:
//!
//! ```text
//! charts/<sha256(repository url), 16 hex>/
//!     url                          the repository's url, for people reading the cache
//!     repositories.yaml            helm's repository config for this one repository
//!     repo-index.yaml              its index, as `helm repo add` fetched it (mtime: its age)
//!     <chart>/<version>/<digest>.tgz   pulled charts (digest: the index's, else the tgz's sha256)
//!     <chart>/resolved-<sha256(range), 12 hex>   OCI: the version a range resolved to (mtime)
//! charts/renders/<sha256 of the render key>.json   HelmRelease outputs ([`crate::helm_release`])
//! ```
//!
//! A version range is resolved from the index, fetched again once older than the
//! HelmRepository's `spec.interval` (as source-controller refreshes it). When the repository
//! cannot be reached, the newest cached chart satisfying the range serves, without error.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use serde_json::Value;

use super::RenderOptions;
use super::documents::parse_yaml_document;
use super::kustomize::{BUILD_TIMEOUT, run_with_timeout};

/// The environment variable that moves the cache (`<dir>/charts` holds the charts).
pub const CACHE_DIR_ENV: &str = "KUBECTL_GITOPS_CACHE_DIR";

/// The name helm knows each cached repository by, in its own one-repository config.
const REPO_NAME: &str = "repo";

/// A chart archive in the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PulledChart {
    /// The `.tgz`.
    pub archive: PathBuf,
    /// The chart's name.
    pub name: String,
    /// The version served.
    pub version: String,
    /// The digest it is cached under (the index's, else the archive's sha256).
    pub digest: String,
}

/// Where a chart comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChartRepository {
    /// An HTTP(S) chart repository serving `index.yaml`.
    Http { url: String },
    /// An OCI registry: the chart is `<url>/<chart>` (HelmRepository `type: oci`), or the
    /// url itself (OCIRepository, `chart` its last segment).
    Oci {
        url: String,
        /// `spec.insecure`: a registry over plain HTTP (`helm pull --plain-http`).
        insecure: bool,
    },
}

impl ChartRepository {
    fn url(&self) -> &str {
        match self {
            ChartRepository::Http { url } | ChartRepository::Oci { url, .. } => url,
        }
    }
}

/// The charts directory: `explicit`, else `$KUBECTL_GITOPS_CACHE_DIR/charts`, else
/// `$XDG_CACHE_HOME/kubectl-gitops/charts`, else `$HOME/.cache/kubectl-gitops/charts`.
pub fn cache_dir(opts: &RenderOptions) -> Option<PathBuf> {
    if let Some(explicit) = &opts.chart_cache {
        return Some(explicit.clone());
    }
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = var(CACHE_DIR_ENV) {
        return Some(PathBuf::from(dir).join("charts"));
    }
    let base = var("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| var("HOME").map(|home| PathBuf::from(home).join(".cache")))?;
    Some(base.join("kubectl-gitops").join("charts"))
}

/// Puts a chart archive (a `.tgz` as `helm pull` gives it) into the cache under `root` (a
/// [`cache_dir`]) as if it had been pulled from the repository at `url`: for machines that
/// cannot reach that repository, which are then served from the cache like any offline
/// render. Returns the archive's path in the cache.
pub fn seed_chart(
    root: &Path,
    url: &str,
    chart: &str,
    version: &str,
    archive: &[u8],
) -> std::io::Result<PathBuf> {
    if !is_path_segment(chart) || !is_path_segment(version) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{chart:?} {version:?}: a chart name and version are one plain segment each"),
        ));
    }
    let dir = root.join(&sha256_hex(url.as_bytes())[..16]);
    let version_dir = dir.join(chart).join(version);
    std::fs::create_dir_all(&version_dir)?;
    std::fs::write(dir.join("url"), url)?;
    let path = version_dir.join(format!("{}.tgz", sha256_hex(archive)));
    std::fs::write(&path, archive)?;
    Ok(path)
}

/// sha256 of `bytes` in hex.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What went wrong getting a chart; the caller names the release.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChartError {
    /// helm could not be started.
    #[error("cannot run {helm}: {reason} (install helm 3, or set HELM_BINARY to its path)")]
    NoHelm { helm: String, reason: String },
    /// The repository has no such chart, or no version satisfying the range.
    #[error("{0}")]
    NotFound(String),
    /// Neither the repository nor the cache could give the chart.
    #[error("{0}")]
    Unavailable(String),
    /// The cache directory is unusable.
    #[error("{0}")]
    Cache(String),
}

/// Pulls (or finds in the cache) `chart` at the newest version satisfying `range` (`*` when
/// empty) from `repository`. `interval` is how old a cached index may be. Resolved once per
/// interval for `opts.cache` ([`super::RenderCache`]): a history asks once, not per commit.
pub fn pull_chart(
    opts: &RenderOptions,
    helm: &Path,
    repository: &ChartRepository,
    chart: &str,
    range: &str,
    interval: Duration,
) -> Result<PulledChart, ChartError> {
    let key = format!(
        "{repository:?} {chart} {range} {:?} {}",
        cache_dir(opts),
        helm.display()
    );
    opts.cache.chart(key, interval, || {
        resolve_and_pull(opts, helm, repository, chart, range, interval)
    })
}

/// [`pull_chart`] without the in-memory memo.
fn resolve_and_pull(
    opts: &RenderOptions,
    helm: &Path,
    repository: &ChartRepository,
    chart: &str,
    range: &str,
    interval: Duration,
) -> Result<PulledChart, ChartError> {
    let range = if range.trim().is_empty() {
        "*"
    } else {
        range.trim()
    };
    // The name becomes a directory of the cache: it must stay one directory.
    if !is_path_segment(chart) {
        return Err(ChartError::NotFound(format!(
            "{chart:?} is not a chart name (letters, digits, `.`, `_`, `-`)"
        )));
    }
    let constraint = Constraint::parse(range).map_err(|e| {
        ChartError::NotFound(format!("version {range:?} is not a semver range: {e}"))
    })?;
    let root = cache_dir(opts).ok_or_else(|| {
        ChartError::Cache(
            "no cache directory for charts: set KUBECTL_GITOPS_CACHE_DIR, XDG_CACHE_HOME or HOME"
                .to_owned(),
        )
    })?;
    let dir = root.join(&sha256_hex(repository.url().as_bytes())[..16]);
    std::fs::create_dir_all(dir.join(chart)).map_err(|e| {
        ChartError::Cache(format!(
            "cannot create the chart cache {}: {e}",
            dir.display()
        ))
    })?;
    let _ = std::fs::write(dir.join("url"), repository.url());
    // One fetch of a repository at a time in this process: helm rewrites its index in place.
    let lock = repository_lock(&dir);
    let _fetching = lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let online = match repository {
        ChartRepository::Http { url } => pull_http(helm, &dir, url, chart, &constraint, interval),
        ChartRepository::Oci { url, insecure } => {
            pull_oci(helm, &dir, url, *insecure, chart, range, interval)
        }
    };
    match online {
        Ok(pulled) => Ok(pulled),
        Err(e @ (ChartError::NoHelm { .. } | ChartError::NotFound(_) | ChartError::Cache(_))) => {
            Err(e)
        }
        Err(ChartError::Unavailable(why)) => {
            // Offline: the newest cached chart in range serves, as the last artifact would.
            match newest_cached(&dir, chart, &constraint) {
                Some(cached) => {
                    tracing::debug!("{why}; serving cached {} {}", chart, cached.version);
                    Ok(cached)
                }
                None => Err(ChartError::Unavailable(format!(
                    "{why}; no cached version of chart {chart} satisfies {range:?} in {} \
                     (render once with the repository reachable: the chart is cached then)",
                    dir.display()
                ))),
            }
        }
    }
}

/// The lock of one repository's cache directory, shared by this process's threads.
fn repository_lock(dir: &Path) -> std::sync::Arc<std::sync::Mutex<()>> {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, OnceLock};
    static LOCKS: OnceLock<Mutex<HashMap<PathBuf, Arc<Mutex<()>>>>> = OnceLock::new();
    let mut locks = LOCKS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    Arc::clone(locks.entry(dir.to_owned()).or_default())
}

/// An HTTP repository: index (cached for `interval`), then the chart (cached by digest).
fn pull_http(
    helm: &Path,
    dir: &Path,
    url: &str,
    chart: &str,
    constraint: &Constraint,
    interval: Duration,
) -> Result<PulledChart, ChartError> {
    let index_file = dir.join(format!("{REPO_NAME}-index.yaml"));
    let age = std::fs::metadata(&index_file)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|modified| SystemTime::now().duration_since(modified).ok());
    if age.is_none_or(|age| age >= interval) {
        let mut command = helm_command(helm, dir);
        command
            .args(["repo", "add", "--force-update", REPO_NAME, url])
            .arg("--repository-cache")
            .arg(dir);
        if let Some(why) = recently_unreachable(dir, interval) {
            return Err(ChartError::Unavailable(why));
        }
        run_helm(helm, command, &format!("the index of {url}"))
            .inspect_err(|e| note_unreachable(dir, e))?;
        let _ = std::fs::remove_file(dir.join(UNREACHABLE));
    }
    let text = std::fs::read_to_string(&index_file).map_err(|e| {
        ChartError::Unavailable(format!(
            "cannot read the index of {url} at {}: {e}",
            index_file.display()
        ))
    })?;
    let index = parse_yaml_document(&text)
        .ok()
        .flatten()
        .ok_or_else(|| ChartError::Unavailable(format!("the index of {url} does not parse")))?;
    let entries = index
        .pointer(&format!(
            "/entries/{}",
            chart.replace('~', "~0").replace('/', "~1")
        ))
        .and_then(Value::as_array)
        .ok_or_else(|| {
            ChartError::NotFound(format!("chart {chart} is not in the index of {url}"))
        })?;
    let best = entries
        .iter()
        .filter_map(|entry| {
            let text = entry.get("version")?.as_str()?;
            let version = Version::parse(text).ok()?;
            constraint
                .matches(&version)
                .then(|| (version, text.to_owned(), entry))
        })
        .max_by(|a, b| a.0.cmp(&b.0));
    let Some((_, version, entry)) = best else {
        let listed: Vec<&str> = entries
            .iter()
            .filter_map(|e| e.get("version")?.as_str())
            .take(10)
            .collect();
        return Err(ChartError::NotFound(format!(
            "no version of chart {chart} in {url} satisfies {:?} (the index lists {})",
            constraint.text,
            listed.join(", ")
        )));
    };
    // Index entries name cache paths: a digest that is not hex is recomputed from the archive.
    let digest = entry
        .get("digest")
        .and_then(Value::as_str)
        .filter(|d| !d.is_empty() && d.chars().all(|c| c.is_ascii_hexdigit()))
        .map(str::to_owned);
    if !is_path_segment(&version) {
        return Err(ChartError::NotFound(format!(
            "the index of {url} lists version {version:?} of chart {chart}, not a plain version"
        )));
    }
    let version_dir = dir.join(chart).join(&version);
    if let Some(digest) = &digest {
        let archive = version_dir.join(format!("{digest}.tgz"));
        if archive.is_file() {
            return Ok(PulledChart {
                archive,
                name: chart.to_owned(),
                version,
                digest: digest.clone(),
            });
        }
    }
    let mut command = helm_command(helm, dir);
    command
        .args([
            "pull",
            &format!("{REPO_NAME}/{chart}"),
            "--version",
            &version,
        ])
        .arg("--repository-cache")
        .arg(dir);
    let pulled = pull_into(
        helm,
        command,
        dir,
        &format!("chart {chart} {version} from {url}"),
    )?;
    let digest = match digest {
        Some(digest) => {
            let actual = sha256_hex(&pulled);
            if actual != digest {
                return Err(ChartError::Unavailable(format!(
                    "chart {chart} {version} from {url} has digest {actual}, the index says {digest}"
                )));
            }
            digest
        }
        None => sha256_hex(&pulled),
    };
    keep_archive(&version_dir, chart, &version, &digest, &pulled)
}

/// An OCI chart: `helm pull oci://... --version <range>` resolves the range against the tags;
/// the version it gave is remembered for `interval`.
fn pull_oci(
    helm: &Path,
    dir: &Path,
    url: &str,
    insecure: bool,
    chart: &str,
    range: &str,
    interval: Duration,
) -> Result<PulledChart, ChartError> {
    let memo = dir
        .join(chart)
        .join(format!("resolved-{}", &sha256_hex(range.as_bytes())[..12]));
    let fresh = std::fs::metadata(&memo)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|modified| SystemTime::now().duration_since(modified).ok())
        .is_some_and(|age| age < interval);
    if fresh
        && let Ok(version) = std::fs::read_to_string(&memo)
        && let Some(cached) = cached_version(dir, chart, version.trim())
    {
        return Ok(cached);
    }
    if let Some(why) = recently_unreachable(dir, interval) {
        return Err(ChartError::Unavailable(why));
    }
    let mut command = helm_command(helm, dir);
    command.args(["pull", url, "--version", range]);
    if insecure {
        command.arg("--plain-http");
    }
    let (bytes, file) = pull_named(helm, command, dir, &format!("chart {url} {range}"))
        .inspect_err(|e| note_unreachable(dir, e))?;
    let _ = std::fs::remove_file(dir.join(UNREACHABLE));
    let version = file
        .strip_suffix(".tgz")
        .and_then(|stem| stem.strip_prefix(&format!("{chart}-")))
        .filter(|version| is_path_segment(version))
        .ok_or_else(|| {
            ChartError::Unavailable(format!(
                "helm pull of {url} gave {file:?}, not <chart>-<version>.tgz"
            ))
        })?
        .to_owned();
    let digest = sha256_hex(&bytes);
    let pulled = keep_archive(
        &dir.join(chart).join(&version),
        chart,
        &version,
        &digest,
        &bytes,
    )?;
    let _ = std::fs::write(&memo, &version);
    Ok(pulled)
}

/// The file in a repository's cache directory saying helm could not reach it, and why.
const UNREACHABLE: &str = "unreachable";

/// How long a repository helm could not reach is not asked again, across processes (as
/// [`super::RenderCache::chart`] does within one): a `status` or `diff` run again at once, or
/// a history's renders, do not each wait on a dead network. Never longer than the
/// repository's interval.
const UNREACHABLE_FOR: Duration = Duration::from_secs(30);

/// Why helm could not reach the repository of `dir`, when it tried less than
/// [`UNREACHABLE_FOR`] (and `interval`) ago.
fn recently_unreachable(dir: &Path, interval: Duration) -> Option<String> {
    let file = dir.join(UNREACHABLE);
    let age = SystemTime::now()
        .duration_since(std::fs::metadata(&file).and_then(|m| m.modified()).ok()?)
        .ok()?;
    (age < UNREACHABLE_FOR.min(interval)).then(|| {
        let why = std::fs::read_to_string(&file).unwrap_or_default();
        format!(
            "{} (helm tried {}s ago; asked again after {}s)",
            why.trim(),
            age.as_secs(),
            UNREACHABLE_FOR.min(interval).as_secs()
        )
    })
}

/// Remembers that helm could not reach the repository of `dir` ([`recently_unreachable`]).
fn note_unreachable(dir: &Path, error: &ChartError) {
    if let ChartError::Unavailable(why) = error {
        let _ = std::fs::write(dir.join(UNREACHABLE), why);
    }
}

/// helm with its repository config confined to the repository's cache directory.
fn helm_command(helm: &Path, dir: &Path) -> Command {
    let mut command = Command::new(helm);
    command
        .arg("--repository-config")
        .arg(dir.join("repositories.yaml"))
        .stdin(Stdio::null());
    command
}

/// Runs helm; an unreachable repository or a failed command is [`ChartError::Unavailable`].
fn run_helm(helm: &Path, command: Command, what: &str) -> Result<(), ChartError> {
    let output = run_with_timeout(command, BUILD_TIMEOUT).map_err(|e| ChartError::NoHelm {
        helm: helm.display().to_string(),
        reason: e.to_string(),
    })?;
    match output {
        None => Err(ChartError::Unavailable(format!(
            "helm did not fetch {what} within {}s",
            BUILD_TIMEOUT.as_secs()
        ))),
        Some(output) if !output.status.success() => Err(ChartError::Unavailable(format!(
            "helm could not fetch {what}: {}",
            String::from_utf8_lossy(&output.stderr)
                .trim()
                .trim_start_matches("Error: ")
        ))),
        Some(_) => Ok(()),
    }
}

/// `helm pull` into a fresh temp dir under `dir`; the archive's bytes.
fn pull_into(helm: &Path, command: Command, dir: &Path, what: &str) -> Result<Vec<u8>, ChartError> {
    pull_named(helm, command, dir, what).map(|(bytes, _)| bytes)
}

/// [`pull_into`], with the archive's file name (`<chart>-<version>.tgz`).
fn pull_named(
    helm: &Path,
    mut command: Command,
    dir: &Path,
    what: &str,
) -> Result<(Vec<u8>, String), ChartError> {
    let temp = tempfile::Builder::new()
        .prefix("pull-")
        .tempdir_in(dir)
        .map_err(|e| {
            ChartError::Cache(format!(
                "cannot create a temp dir in {}: {e}",
                dir.display()
            ))
        })?;
    command.arg("--destination").arg(temp.path());
    run_helm(helm, command, what)?;
    let file = std::fs::read_dir(temp.path())
        .ok()
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|ext| ext == "tgz"))
        .ok_or_else(|| ChartError::Unavailable(format!("helm pull gave no archive for {what}")))?;
    let bytes = std::fs::read(&file)
        .map_err(|e| ChartError::Cache(format!("cannot read {}: {e}", file.display())))?;
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok((bytes, name))
}

/// Writes an archive at its cache path (through a temp file: readers never see half of it).
fn keep_archive(
    version_dir: &Path,
    chart: &str,
    version: &str,
    digest: &str,
    bytes: &[u8],
) -> Result<PulledChart, ChartError> {
    let cache_error = |e: std::io::Error| {
        ChartError::Cache(format!(
            "cannot write the chart cache {}: {e}",
            version_dir.display()
        ))
    };
    std::fs::create_dir_all(version_dir).map_err(cache_error)?;
    let archive = version_dir.join(format!("{digest}.tgz"));
    let mut temp = tempfile::NamedTempFile::new_in(version_dir).map_err(cache_error)?;
    std::io::Write::write_all(&mut temp, bytes).map_err(cache_error)?;
    temp.persist(&archive).map_err(|e| cache_error(e.error))?;
    Ok(PulledChart {
        archive,
        name: chart.to_owned(),
        version: version.to_owned(),
        digest: digest.to_owned(),
    })
}

/// The cached archive of `chart` at exactly `version` (the newest written when several).
fn cached_version(dir: &Path, chart: &str, version: &str) -> Option<PulledChart> {
    let version_dir = dir.join(chart).join(version);
    let (_, archive) = std::fs::read_dir(&version_dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|ext| ext == "tgz"))
        .filter_map(|p| Some((std::fs::metadata(&p).ok()?.modified().ok()?, p)))
        .max()?;
    let digest = archive.file_stem()?.to_string_lossy().into_owned();
    Some(PulledChart {
        archive,
        name: chart.to_owned(),
        version: version.to_owned(),
        digest,
    })
}

/// The newest cached version of `chart` satisfying `constraint`.
fn newest_cached(dir: &Path, chart: &str, constraint: &Constraint) -> Option<PulledChart> {
    let (_, version) = std::fs::read_dir(dir.join(chart))
        .ok()?
        .flatten()
        .filter(|e| e.path().is_dir())
        .filter_map(|e| {
            let text = e.file_name().to_string_lossy().into_owned();
            let version = Version::parse(&text).ok()?;
            constraint.matches(&version).then_some((version, text))
        })
        .filter(|(_, text)| cached_version(dir, chart, text).is_some())
        .max_by(|a, b| a.0.cmp(&b.0))?;
    cached_version(dir, chart, &version)
}

/// Whether `text` is one plain path segment (a chart name or version in the cache).
fn is_path_segment(text: &str) -> bool {
    !text.is_empty()
        && text != "."
        && text != ".."
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+'))
}

/// A Go duration (`5m`, `1h30m`, `10s`, `500ms`) as Flux writes intervals.
pub fn parse_go_duration(text: &str) -> Option<Duration> {
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..number_len].parse().ok()?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += number * seconds;
    }
    Some(Duration::from_secs_f64(total))
}

/// A semantic version as Masterminds/semver (helm's) reads it: `v` prefix, missing minor
/// and patch allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    major: u64,
    minor: u64,
    patch: u64,
    pre: Vec<String>,
}

impl Version {
    /// Parses `1.2.3`, `v1.2`, `1.2.3-rc.1+build`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let text = text.strip_prefix('v').unwrap_or(text);
        let text = text.split_once('+').map_or(text, |(v, _)| v);
        let (core, pre) = match text.split_once('-') {
            Some((core, pre)) => (core, pre.split('.').map(str::to_owned).collect()),
            None => (text, Vec::new()),
        };
        let mut parts = core.split('.');
        let mut number = |required: bool| -> Result<u64, String> {
            match parts.next() {
                Some(p) => p.parse().map_err(|_| format!("{p:?} is not a number")),
                None if required => Err("empty version".to_owned()),
                None => Ok(0),
            }
        };
        let version = Version {
            major: number(true)?,
            minor: number(false)?,
            patch: number(false)?,
            pre,
        };
        if parts.next().is_some() {
            return Err(format!("{text:?} has more than three numbers"));
        }
        Ok(version)
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        use std::cmp::Ordering;
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(|| match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => {
                    for (a, b) in self.pre.iter().zip(&other.pre) {
                        let order = match (a.parse::<u64>(), b.parse::<u64>()) {
                            (Ok(a), Ok(b)) => a.cmp(&b),
                            (Ok(_), Err(_)) => Ordering::Less,
                            (Err(_), Ok(_)) => Ordering::Greater,
                            (Err(_), Err(_)) => a.cmp(b),
                        };
                        if order != Ordering::Equal {
                            return order;
                        }
                    }
                    self.pre.len().cmp(&other.pre.len())
                }
            })
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// A version range as helm (Masterminds/semver v3) reads it: `||` between alternatives,
/// `,` or spaces between conditions that must all hold; `=`, `!=`, `>`, `>=`, `<`, `<=`, `~`,
/// `^`, wildcards (`1.2.x`, `*`) and hyphen ranges (`1.2 - 1.4`). A version with a
/// prerelease matches only conditions that name a prerelease.
#[derive(Debug, Clone)]
pub struct Constraint {
    text: String,
    alternatives: Vec<Vec<Condition>>,
}

#[derive(Debug, Clone)]
struct Condition {
    /// The lowest matching version and whether it is included.
    low: Option<(Version, bool)>,
    /// The highest and whether it is included.
    high: Option<(Version, bool)>,
    /// `!=`: the range above is excluded instead.
    negated: bool,
    /// Whether the condition names a prerelease (then prereleases may match).
    prerelease: bool,
}

impl Constraint {
    /// Parses a range; `*` (or empty) is any released version.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut alternatives = Vec::new();
        for alternative in text.split("||") {
            let mut tokens: Vec<String> = Vec::new();
            let spaced = alternative.replace(',', " ");
            let mut words = spaced.split_whitespace().peekable();
            while let Some(word) = words.next() {
                // An operator written apart from its version (`>= 1.2`) joins it.
                if word.chars().all(|c| "=!<>~^".contains(c))
                    && let Some(next) = words.next()
                {
                    tokens.push(format!("{word}{next}"));
                } else {
                    tokens.push(word.to_owned());
                }
            }
            let mut conditions = Vec::new();
            let mut i = 0;
            while i < tokens.len() {
                if tokens.get(i + 1).is_some_and(|t| t == "-") {
                    let low = tokens.get(i).ok_or("a hyphen range needs two ends")?;
                    let high = tokens.get(i + 2).ok_or("a hyphen range needs two ends")?;
                    conditions.push(Condition::new(">=", low)?);
                    conditions.push(Condition::new("<=", high)?);
                    i += 3;
                    continue;
                }
                let token = &tokens[i];
                let split = token
                    .find(|c: char| !"=!<>~^".contains(c))
                    .unwrap_or(token.len());
                conditions.push(Condition::new(&token[..split], &token[split..])?);
                i += 1;
            }
            if conditions.is_empty() {
                conditions.push(Condition::new("", "*")?);
            }
            alternatives.push(conditions);
        }
        Ok(Constraint {
            text: text.to_owned(),
            alternatives,
        })
    }

    /// Whether `version` satisfies the range.
    pub fn matches(&self, version: &Version) -> bool {
        self.alternatives
            .iter()
            .any(|conditions| conditions.iter().all(|c| c.matches(version)))
    }
}

impl Condition {
    fn new(op: &str, version: &str) -> Result<Self, String> {
        let text = version.strip_prefix('v').unwrap_or(version);
        let (core, pre) = match text.split_once('-') {
            Some((core, pre)) => (core, Some(pre)),
            None => (text, None),
        };
        let core = core.split_once('+').map_or(core, |(c, _)| c);
        // The numbers given; a wildcard or missing part ends them.
        let mut given: Vec<u64> = Vec::new();
        for part in core.split('.') {
            if matches!(part, "x" | "X" | "*" | "") {
                break;
            }
            given.push(
                part.parse()
                    .map_err(|_| format!("{version:?} is not a version"))?,
            );
            if given.len() == 3 {
                break;
            }
        }
        let at = |parts: &[u64]| Version {
            major: parts.first().copied().unwrap_or(0),
            minor: parts.get(1).copied().unwrap_or(0),
            patch: parts.get(2).copied().unwrap_or(0),
            pre: pre
                .filter(|_| parts.len() == 3 || parts.len() == given.len())
                .map(|p| p.split('.').map(str::to_owned).collect())
                .unwrap_or_default(),
        };
        // The version after the given parts' range: `1.2` -> `1.3.0`.
        let next = |len: usize| -> Option<Version> {
            if len == 0 {
                return None;
            }
            let mut parts: Vec<u64> = given[..len].to_vec();
            *parts.last_mut()? += 1;
            Some(Version {
                pre: Vec::new(),
                ..at(&parts)
            })
        };
        let exact = given.len() == 3;
        let low_bound = Some((at(&given), true));
        let (low, high) = match op {
            "" | "=" | "==" | "!=" if exact => (low_bound.clone(), Some((at(&given), true))),
            "" | "=" | "==" | "!=" => (
                (!given.is_empty()).then(|| low_bound.clone()).flatten(),
                next(given.len()).map(|v| (v, false)),
            ),
            ">" if exact => (Some((at(&given), false)), None),
            ">" => (next(given.len()).map(|v| (v, true)), None),
            ">=" | "=>" => (low_bound.clone(), None),
            "<" => (None, Some((at(&given), false))),
            "<=" | "=<" if exact => (None, Some((at(&given), true))),
            "<=" | "=<" => (None, next(given.len()).map(|v| (v, false))),
            "~" | "~>" => (
                low_bound.clone(),
                next(given.len().clamp(1, 2)).map(|v| (v, false)),
            ),
            "^" => {
                // The first non-zero part given may not change (`^0.2.3` < 0.3.0).
                let fixed = given
                    .iter()
                    .position(|&n| n != 0)
                    .map_or(given.len(), |i| i + 1)
                    .min(given.len());
                (low_bound.clone(), next(fixed.max(1)).map(|v| (v, false)))
            }
            other => return Err(format!("unknown operator {other:?}")),
        };
        Ok(Condition {
            low,
            high,
            negated: op == "!=",
            prerelease: pre.is_some(),
        })
    }

    fn matches(&self, version: &Version) -> bool {
        if !version.pre.is_empty() && !self.prerelease {
            return false;
        }
        let above = self.low.as_ref().is_none_or(|(low, inclusive)| {
            if *inclusive {
                version >= low
            } else {
                version > low
            }
        });
        let below = self.high.as_ref().is_none_or(|(high, inclusive)| {
            if *inclusive {
                version <= high
            } else {
                version < high
            }
        });
        (above && below) != self.negated
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(range: &str, version: &str) -> bool {
        Constraint::parse(range)
            .unwrap()
            .matches(&Version::parse(version).unwrap())
    }

    #[test]
    fn ranges_read_as_helm_reads_them() {
        let cases = [
            ("*", "1.2.3", true),
            ("*", "1.2.3-rc.1", false),
            ("", "0.0.1", true),
            (">=1.0.0-alpha", "6.14.1", true),
            (">=1.0.0-alpha", "1.0.0-beta", true),
            (">=1.0.0-alpha", "0.9.0", false),
            ("1.2.x", "1.2.9", true),
            ("1.2.x", "1.3.0", false),
            ("1.2", "1.2.5", true),
            ("~1.2.3", "1.2.9", true),
            ("~1.2.3", "1.3.0", false),
            ("~1", "1.9.0", true),
            ("^1.2.3", "1.9.9", true),
            ("^1.2.3", "2.0.0", false),
            ("^0.2.3", "0.3.0", false),
            ("^0.2.3", "0.2.9", true),
            (">= 1.2, < 2", "1.5.0", true),
            (">1.2 <2", "1.2.5", false),
            (">1.2.0 <2", "1.2.5", true),
            ("<=1.2", "1.2.9", true),
            ("<=1.2", "1.3.0", false),
            ("1.0 - 1.4.5", "1.4.5", true),
            ("1.0 - 1.4.5", "1.4.6", false),
            ("!=1.2.3", "1.2.3", false),
            ("!=1.2.3", "1.2.4", true),
            ("<1 || >=3", "3.1.0", true),
            ("<1 || >=3", "2.0.0", false),
            ("=0.1.0", "0.1.0", true),
            ("v1.2.3", "1.2.3", true),
        ];
        for (range, version, want) in cases {
            assert_eq!(matches(range, version), want, "{range} vs {version}");
        }
        assert!(Constraint::parse(">=abc").is_err());
    }

    #[test]
    fn versions_order_as_semver() {
        let v = |t: &str| Version::parse(t).unwrap();
        assert!(v("1.0.0-alpha") < v("1.0.0-alpha.1"));
        assert!(v("1.0.0-alpha.1") < v("1.0.0-beta"));
        assert!(v("1.0.0-rc.1") < v("1.0.0"));
        assert!(v("1.10.0") > v("1.9.9"));
        assert_eq!(v("v2"), v("2.0.0"));
    }

    #[test]
    fn cache_paths_stay_one_segment() {
        assert!(is_path_segment("podinfo"));
        assert!(is_path_segment("6.14.1-rc.1+build"));
        for bad in ["", ".", "..", "../x", "a/b", "a\\b"] {
            assert!(!is_path_segment(bad), "{bad}");
        }
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_go_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_go_duration("5 minutes"), None);
    }
}
