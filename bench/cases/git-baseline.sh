# about: reference figures for the git side: `git log` and `git blame` on generated repos (10,000 resources / 1,000 commits; one 10,000-line file / 200 commits), for history and blame to compare against
repo=$(workload_repo "${BENCH_GIT_RESOURCES:-10000}" "${BENCH_GIT_COMMITS:-1000}")
record git.log "$(time_ms 5 git -C "$repo" log --stat)" ms --better lower \
    --detail "$(cat "$repo.json")"
record git.log.path "$(time_ms 5 git -C "$repo" log --oneline -- apps/shop)" ms --better lower

big=$CASE_DIR/big-file
"$WORKLOAD" big-file --lines "${BENCH_BLAME_LINES:-10000}" --commits "${BENCH_BLAME_COMMITS:-200}" \
    --out "$big" >"$big.json"
file=$(jq -r .file "$big.json")
record git.blame "$(time_ms 5 git -C "$big" blame --line-porcelain "$file")" ms --better lower \
    --detail "$(cat "$big.json")"
