//! What the UI tests share: a state with history and an evaluated report built through the
//! reducer, from fixed data (fixed shas and dates, so snapshots are stable), and a renderer
//! onto ratatui's TestBackend.

// Each test crate uses a different part of it.
#![allow(dead_code)]

use std::sync::Arc;

use kubectl_gitops::drift::{Change, ChangeOp, Strategy};
use kubectl_gitops::model::path::FieldPath;
use kubectl_gitops::model::{CommitInfo, DriftState, Owner, ResourceId, Source};
use kubectl_gitops::ops::history::ChangeKind;
use kubectl_gitops::ops::rev_diff::{ResourceRevisionDiff, RevisionDiff};
use kubectl_gitops::ops::status::{EvaluationStats, ResourceOwner, ResourceStatus, StatusReport};
use kubectl_gitops::tui::action::{Action, Effect};
use kubectl_gitops::tui::state::{Location, State};
use kubectl_gitops::tui::theme::Theme;
use kubectl_gitops::tui::update::{start, update};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

/// Full shas of the fixture's commits, newest first.
pub const SHAS: [&str; 3] = [
    "c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3",
    "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2",
    "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1",
];

/// The fixture's commits, newest first.
pub fn commits() -> Vec<CommitInfo> {
    let summaries = [
        "web: nginx 1.27, 2 replicas",
        "add the api Service",
        "first cut",
    ];
    SHAS.iter()
        .zip(summaries)
        .enumerate()
        .map(|(i, (id, summary))| CommitInfo {
            id: (*id).into(),
            summary: summary.into(),
            author: "Ada Example".into(),
            email: "ada@example.com".into(),
            time: format!("2026-01-{:02}T10:00:00+00:00", 3 - i),
        })
        .collect()
}

pub fn id(group: &str, kind: &str, ns: Option<&str>, name: &str) -> ResourceId {
    ResourceId {
        group: group.into(),
        kind: kind.into(),
        namespace: ns.map(Into::into),
        name: name.into(),
    }
}

fn row(id: ResourceId, api_version: &str, state: DriftState) -> ResourceStatus {
    ResourceStatus::blank(id, api_version, state)
}

const WEB_LIVE: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: shop\nspec:\n  replicas: 5\n  template:\n    spec:\n      containers:\n      - image: nginx:1.25\n        name: web\n";
const WEB_GIT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: shop\nspec:\n  replicas: 2\n  template:\n    spec:\n      containers:\n      - image: nginx:1.27\n        name: web\n";
const SETTINGS: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: shop\ndata:\n  LOG_LEVEL: info\n";
const API: &str = "apiVersion: v1\nkind: Service\nmetadata:\n  name: api\n  namespace: shop\nspec:\n  ports:\n  - port: 80\n";
const OLD: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: old\n  namespace: shop\ndata:\n  x: \"1\"\n";

/// `spec.replicas` 5 → 2: web's change.
fn replicas_5_to_2() -> Change {
    Change {
        path: FieldPath::root().key("spec").key("replicas"),
        op: ChangeOp::Replace,
        live: Some(5.into()),
        desired: Some(2.into()),
        live_manager: None,
        live_operation: None,
        live_time: None,
    }
}

/// A report at `rev`: web Drifted, api Missing, old Orphaned, a Widget Unknown, settings Synced;
/// sorted as ops::status sorts (state, kind, name).
pub fn report(rev: usize, strategy: Strategy) -> Arc<StatusReport> {
    let mut settings = row(
        id("", "ConfigMap", Some("shop"), "settings"),
        "v1",
        DriftState::Synced,
    );
    settings.strategy = Some(strategy);
    settings.live_yaml = Some(SETTINGS.into());
    settings.desired_yaml = Some(SETTINGS.into());
    settings.live_revision = Some(SHAS[1].into());
    settings.owner = Some(ResourceOwner::ApplySet);

    let mut web = row(
        id("apps", "Deployment", Some("shop"), "web"),
        "apps/v1",
        DriftState::Drifted,
    );
    web.strategy = Some(strategy);
    web.fields = vec![
        "spec.replicas".into(),
        "spec.template.spec.containers[name=web].image".into(),
    ];
    web.changes = vec![replicas_5_to_2()];
    web.live_yaml = Some(WEB_LIVE.into());
    web.desired_yaml = Some(WEB_GIT.into());
    web.live_revision = Some(SHAS[1].into());

    let mut api = row(
        id("", "Service", Some("shop"), "api"),
        "v1",
        DriftState::Missing,
    );
    api.desired_yaml = Some(API.into());

    let mut old = row(
        id("", "ConfigMap", Some("shop"), "old"),
        "v1",
        DriftState::Orphaned,
    );
    old.live_yaml = Some(OLD.into());
    old.owner = Some(ResourceOwner::Controller(Owner {
        id: id(
            "kustomize.toolkit.fluxcd.io",
            "Kustomization",
            Some("flux-system"),
            "apps",
        ),
    }));

    let mut widget = row(
        id("example.com", "Widget", Some("shop"), "w1"),
        "example.com/v1",
        DriftState::Unknown,
    );
    widget.error = Some("the cluster does not serve example.com/v1 Widget; install its CRD".into());

    let mut revision = commits()[rev].clone();
    revision.id = SHAS[rev].into();
    Arc::new(StatusReport {
        revision,
        path: "envs/shop".into(),
        context: "kind-shop".into(),
        server: "https://127.0.0.1:6443".into(),
        resources: vec![settings, web, api, old, widget],
        render_errors: Vec::new(),
        warnings: Vec::new(),
        stats: EvaluationStats::default(),
    })
}

/// [`report`] as the UI's evaluations make it: without texts (the Detail pane asks for the
/// selected row's). Returns the texts left out, by name: (live, desired), empty when absent.
pub fn report_without_texts(
    rev: usize,
    strategy: Strategy,
) -> (
    Arc<StatusReport>,
    std::collections::HashMap<String, (String, String)>,
) {
    let mut report = (*report(rev, strategy)).clone();
    let mut texts = std::collections::HashMap::new();
    for row in &mut report.resources {
        let live = row.live_yaml.take().unwrap_or_default();
        let desired = row.desired_yaml.take().unwrap_or_default();
        row.live_resource_version = Some(format!("{}-1", row.id.name));
        texts.insert(row.id.name.clone(), (live, desired));
    }
    (Arc::new(report), texts)
}

/// The state before anything arrives, and the effects `start` asks for.
pub fn fresh(read_only: bool, theme: Theme) -> (State, Vec<Effect>) {
    let mut state = State::new(
        Location {
            repo: "shop-env".into(),
            path: "envs/shop".into(),
            rev: "HEAD".into(),
            context: String::new(),
            namespace: None,
        },
        read_only,
        theme,
    );
    let effects = start(&mut state);
    (state, effects)
}

/// The request id of the first `Evaluate` effect in `effects`.
pub fn eval_request(effects: &[Effect]) -> u64 {
    effects
        .iter()
        .find_map(|e| match e {
            Effect::Evaluate { request, .. } => Some(*request),
            _ => None,
        })
        .expect("an Evaluate effect")
}

/// The request id of the `LoadHistory` effect in `effects`.
pub fn history_request(effects: &[Effect]) -> u64 {
    effects
        .iter()
        .find_map(|e| match e {
            Effect::LoadHistory { request, .. } => Some(*request),
            _ => None,
        })
        .expect("a LoadHistory effect")
}

/// A state with the history and the server report of HEAD loaded.
pub fn loaded(read_only: bool, theme: Theme) -> State {
    let (mut state, effects) = fresh(read_only, theme);
    let eval = eval_request(&effects);
    let history = history_request(&effects);
    let effects = update(
        &mut state,
        Action::Evaluated {
            request: eval,
            strategy: Strategy::Server,
            result: Ok(report(0, Strategy::Server)),
        },
    );
    highlight(&mut state, &effects);
    answer_history(&mut state, history);
    state
}

/// Answers history request `request` with the fixture's commits, HEAD the newest.
pub fn answer_history(state: &mut State, request: u64) {
    update(
        state,
        Action::HistoryLoaded {
            request,
            commits: commits(),
            head: SHAS[0].into(),
            done: true,
        },
    );
}

/// The state drawn on a `width`×`height` TestBackend.
pub fn draw(state: &State, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal
        .draw(|frame| frame.render_widget(state, frame.area()))
        .unwrap();
    terminal
}

/// The state drawn at 160×48, as text to look for words in.
pub fn screen(state: &State) -> String {
    format!("{:?}", draw(state, 160, 48).backend().buffer())
}

/// Moves the history selection of a [`loaded`] state down to the older commit and answers the
/// evaluation that asks for, with its server report.
pub fn at_older_commit(state: &mut State) {
    update(state, Action::Down);
    let request = state.eval.request;
    update(
        state,
        Action::Evaluated {
            request,
            strategy: Strategy::Server,
            result: Ok(report(1, Strategy::Server)),
        },
    );
}

/// Runs the `Highlight` effects in `effects` as the event loop would, feeding the answers back.
pub fn highlight(state: &mut State, effects: &[Effect]) {
    for effect in effects {
        if let Effect::Highlight {
            id,
            live,
            desired,
            syntax,
        } = effect
        {
            let colours = (
                kubectl_gitops::highlight::highlight_yaml(live, syntax),
                kubectl_gitops::highlight::highlight_yaml(desired, syntax),
            );
            update(
                state,
                Action::Highlighted {
                    id: id.clone(),
                    live: live.clone(),
                    desired: desired.clone(),
                    syntax: syntax.clone(),
                    colours,
                },
            );
        }
    }
}

const LEGACY: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: legacy\n  namespace: shop\ndata:\n  MODE: old\n";

/// What `diff --from SHAS[from] --rev SHAS[rev]` finds in the fixture, in its order (kind,
/// namespace, name): ConfigMap legacy removed, ConfigMap settings added, Deployment web
/// modified (nginx 1.25, 5 replicas → 1.27, 2), Service api added; `render_errors` as given.
pub fn revision_diff(from: usize, rev: usize, render_errors: Vec<String>) -> Arc<RevisionDiff> {
    let source = |file: &str| Source {
        file: format!("envs/shop/{file}"),
        document: 0,
        line: 1,
        end_line: 10,
    };
    let changed = |id: ResourceId, api_version: &str, change, from_yaml: &str, rev_yaml: &str| {
        ResourceRevisionDiff {
            source: source(&format!("{}.yaml", id.name)),
            id,
            api_version: api_version.into(),
            change,
            changes: vec![replicas_5_to_2()],
            from_yaml: from_yaml.into(),
            rev_yaml: rev_yaml.into(),
            hunks: None,
        }
    };
    Arc::new(RevisionDiff {
        from: commits()[from].clone(),
        revision: commits()[rev].clone(),
        path: "envs/shop".into(),
        resources: vec![
            changed(
                id("", "ConfigMap", Some("shop"), "legacy"),
                "v1",
                ChangeKind::Removed,
                LEGACY,
                "",
            ),
            changed(
                id("", "ConfigMap", Some("shop"), "settings"),
                "v1",
                ChangeKind::Added,
                "",
                SETTINGS,
            ),
            changed(
                id("apps", "Deployment", Some("shop"), "web"),
                "apps/v1",
                ChangeKind::Modified,
                WEB_LIVE,
                WEB_GIT,
            ),
            changed(
                id("", "Service", Some("shop"), "api"),
                "v1",
                ChangeKind::Added,
                "",
                API,
            ),
        ],
        render_errors,
        warnings: Vec::new(),
        renders: 2,
    })
}

/// The `CompareRevisions` effects in `effects`: (request, from, rev).
pub fn comparisons(effects: &[Effect]) -> Vec<(u64, String, String)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::CompareRevisions { request, from, rev } => {
                Some((*request, from.clone(), rev.clone()))
            }
            _ => None,
        })
        .collect()
}

/// A [`loaded`] state with HEAD marked and the selection moved down to the older commit, the
/// comparison answered with [`revision_diff`] (and its colours).
pub fn marked(read_only: bool, theme: Theme, render_errors: Vec<String>) -> State {
    let mut state = loaded(read_only, theme);
    update(&mut state, Action::ToggleMark);
    let effects = update(&mut state, Action::Down);
    let [(request, _, _)] = comparisons(&effects)[..] else {
        panic!("one comparison: {effects:?}")
    };
    let evaluation = state.eval.request;
    update(
        &mut state,
        Action::Evaluated {
            request: evaluation,
            strategy: Strategy::Server,
            result: Ok(report(1, Strategy::Server)),
        },
    );
    let effects = update(
        &mut state,
        Action::Compared {
            request,
            result: Ok(revision_diff(0, 1, render_errors)),
        },
    );
    highlight(&mut state, &effects);
    state
}
