# about: history of a path on a 20,000-commit repo against `git log --format=%H -- <path>`, cold (no cache) and warm (cache under the git dir)
#
# Issue #4's done-when: `history` of a path at most 1.0x git's time cold, and at least 5x faster
# than git warm, in the same run. Ours does more than git: it also renders each changed
# commit's files and lists the resources it changed (offline: no cluster in this case).
#
# The repo is packed as git packs what it wrote itself (workload_repo's `git` packing, no
# commit-graph). The same history in the pack `git fast-import` wrote is measured too
# (history.cold-fastimport): there each file version is a delta on whatever file was written
# before it, so reading the ~5,000 versions of the path's files decodes ~34,000 objects.
resources=${BENCH_HISTORY_RESOURCES:-1000}
commits=${BENCH_HISTORY_COMMITS:-20000}
runs=${BENCH_HISTORY_RUNS:-21}
path=${BENCH_HISTORY_PATH:-apps/shop}

repo=$(workload_repo "$resources" "$commits")
cache=$repo/.git/kubectl-gitops

# Correctness first: the same commits as git's first-parent log of the path, less those that
# changed no resource (a pure move, a file that is not a manifest).
rm -rf "$cache"
"$BIN" history --offline -C "$repo" --path "$path" -o json >"$CASE_DIR/history.json"
git -C "$repo" log --first-parent --format=%H -- "$path" >"$CASE_DIR/git-log.txt"
check=$(jq -n --slurpfile ours "$CASE_DIR/history.json" --rawfile git "$CASE_DIR/git-log.txt" '
    ($ours[0].commits | map(.id)) as $ids
    | ($git | split("\n") | map(select(length > 0))) as $log
    | {ours: ($ids | length), git: ($log | length),
       notInGit: ($ids - $log | length),
       gitWithoutResourceChanges: ($log - $ids | length),
       changes: ($ours[0].commits | map(.changes | length) | add)}')
record history.correct "$(jget "$check" .notInGit)" commits --target "<=" 0 --detail "$check"

forget() { rm -rf "$cache"; }
cold() { "$BIN" history --offline -C "$repo" --path "$path"; }
git_log() { git -C "$repo" log --format=%H -- "$path"; }
# Cold (the cache removed before each run, untimed) and git's log in turns (the machine's load
# moves both alike).
read -r ours_cold theirs < <(time_pair_ms "$runs" cold git_log forget)
"$BIN" history --offline -C "$repo" --path "$path" >/dev/null
ours_warm=$(time_ms "$runs" "$BIN" history --offline -C "$repo" --path "$path")
detail=$(jq -cn --argjson runs "$runs" --argjson commits "$commits" --argjson resources "$resources" \
    --arg path "$path" '{runs: $runs, commits: $commits, resources: $resources, path: $path}')
record history.cold "$ours_cold" ms --target "<=" "$theirs" \
    --compare "git log --format=%H -- $path" "$theirs" --detail "$detail"
record history.warm "$ours_warm" ms --target "<=" "$(jq -n "$theirs / 5")" \
    --compare "git log --format=%H -- $path" "$theirs" --detail "$detail"
# With the caches off altogether (neither read nor written): the cold figure less the writes.
ours_nocache=$(time_ms "$runs" "$BIN" history --offline --no-cache -C "$repo" --path "$path")
record history.nocache "$ours_nocache" ms --better lower \
    --compare "git log --format=%H -- $path" "$theirs" --detail "$detail"
# Where the cold time goes: the walk alone (a path no commit touches: every commit and the trees
# above the path are read, nothing is diffed or rendered), against git's log of that path.
absent="$path-absent"
walk_only() { "$BIN" history --offline --no-cache -C "$repo" --path "$absent"; }
git_log_absent() { git -C "$repo" log --format=%H -- "$absent"; }
read -r ours_walk theirs_walk < <(time_pair_ms "$runs" walk_only git_log_absent)
record history.walk-only "$ours_walk" ms --better lower \
    --compare "git log --format=%H -- $absent" "$theirs_walk" --detail "$detail"

# The same history as fast-import packed it: no target, the layout's cost shown beside git's.
fast=$(workload_repo "$resources" "$commits" 1 fast-import)
forget_fast() { rm -rf "$fast/.git/kubectl-gitops"; }
cold_fast() { "$BIN" history --offline -C "$fast" --path "$path"; }
git_log_fast() { git -C "$fast" log --format=%H -- "$path"; }
read -r ours_fast theirs_fast < <(time_pair_ms "$runs" cold_fast git_log_fast forget_fast)
record history.cold-fastimport "$ours_fast" ms --better lower \
    --compare "git log --format=%H -- $path" "$theirs_fast" --detail "$detail"
