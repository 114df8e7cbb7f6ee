# clipbench tasks. `just --list` shows them all.

release := "cargo run --release --quiet"

# The main job: the comparison on embedded defaults (60 s and 10-minute samples; engine
# strategies serial, python-optimized, adaptive, auto, auto-reuse, smart; the original and
# optimized backends when they answer). Ends by printing where the HTML report is.
default: main

# The comparison on the embedded default configuration (or ./clipbench.toml): each cell stops
# once its answer is decided (2 to 5 runs); about 6 minutes of runs on 2 cores.
main:
    {{release}} -p clipbench -- run

# The full matrix: every strategy and both backends on both samples (about half an hour).
full:
    {{release}} -p clipbench -- run --config configs/full.toml

# How well the regression gate works here: 40 recorded runs of auto on the 60 s sample,
# resampled into A/A comparisons and ones with 5 % and 10 % slowdowns, for check and ab.
gate-power runs="40": (bench-data "bbb-720p-60s")
    {{release}} -p clipbench -- run --targets auto --samples bbb-720p-60s --runs {{runs}} --seed 1 --out reports/gate-power --quiet
    {{release}} -p clipbench -- gate-power reports/gate-power/latest/results.json --target auto --sample bbb-720p-60s

# How well `history` finds a 5 % step: 40-commit histories resampled from 40 runs of auto recorded
# now, and from the two noisy recordings in ../shared/recordings when they are there.
history-power runs="40": (bench-data "bbb-720p-60s")
    {{release}} -p clipbench -- run --targets auto --samples bbb-720p-60s --runs {{runs}} --seed 1 --out reports/history-power --quiet --no-history
    {{release}} -p clipbench -- history-power reports/history-power/latest/results.json $(ls ../shared/recordings/auto-60s-*.json 2>/dev/null)

# Paired A/B of a git revision against the working tree (auto on the 60 s sample).
ab base="HEAD" rounds="5":
    {{release}} -p clipbench -- ab {{base}} --rounds {{rounds}}

# Build (or check) sample videos; all of them by default.
bench-data only="":
    {{release}} -p clipbench -- bench-data {{ if only == "" { "" } else { "--only " + only } }}

# W_ref, serial, python-optimized and auto on a sample (default: 10-minute 720p), then auto
# with --reuse-overlaps, the copy fast path, smart cut and one whole-file ffmpeg (each row with
# its output bytes and one clip's PSNR against the source); an empty third argument
# runs no modes: just bench-engine bbb-720p-10m auto ''
bench-engine sample="bbb-720p-10m" strategies="serial,python-optimized,auto" modes="reuse-overlaps,copy,smart,whole-file": (bench-data sample)
    {{release}} --bin clipbench-engine -- bench bench-data/{{sample}}.mp4 --strategies {{strategies}} --modes {{modes}} --out reports/bench-engine/{{sample}}

# Every mode on the corpus of real-world-shaped inputs (WebM, HEVC, VFR, rotated, 10-bit, …),
# printing the corpus × mode table (clips valid / fallbacks / exit).
corpus:
    cargo test --release -p clipbench-engine-cli --test serve corpus:: -- --nocapture --test-threads 1

# The queue-backed mode against a local `serve` on the same machine and sample: redis-server
# on a free port, `serve` (local) and `serve --queue` with WORKERS worker processes (2 slots
# each), then `clipbench batch` on each at the concurrency levels; reports/batch-*/ per server.
bench-queue sample="bbb-720p-60s" jobs="4" levels="1,2" workers="1": (bench-data sample)
    #!/usr/bin/env bash
    set -euo pipefail
    cargo build --release --quiet -p clipbench -p clipbench-engine-cli
    engine=target/release/clipbench-engine; harness=target/release/clipbench
    work=$(mktemp -d); port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    pids=()
    trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT
    redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no >/dev/null & pids+=($!)
    sleep 0.5
    $engine serve --allow-private-urls --bind 127.0.0.1:5301 --workdir "$work/local" >"$work/local.out" 2>/dev/null & pids+=($!)
    $engine serve --allow-private-urls --bind 127.0.0.1:5302 --workdir "$work/queued" --queue "redis://127.0.0.1:$port" --store "file://$work/store" >"$work/queued.out" 2>/dev/null & pids+=($!)
    for i in $(seq 1 {{workers}}); do
      $engine worker --queue "redis://127.0.0.1:$port" --store "file://$work/store" --cache "$work/w$i" --name "w$i" --slots 2 2>"$work/w$i.log" & pids+=($!)
    done
    sleep 1
    for base in http://127.0.0.1:5301 http://127.0.0.1:5302; do
      echo "== $base"
      $harness batch --base "$base" --input bench-data/{{sample}}.mp4 --jobs {{jobs}} --concurrency {{levels}} --cleanup --out reports/bench-queue
    done

# One queued smart job on a sample with two workers (one slot each): the bytes of the source
# each worker read from the store (range reads), from the job's answer.
queue-source-bytes sample="bbb-720p-10m": (bench-data sample)
    #!/usr/bin/env bash
    set -euo pipefail
    cargo build --release --quiet -p clipbench-engine-cli
    engine=target/release/clipbench-engine
    work=$(mktemp -d); free() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
    redis=$(free); media=$(free); api=$(free)
    pids=()
    trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT
    redis-server --port "$redis" --bind 127.0.0.1 --save "" --appendonly no >/dev/null & pids+=($!)
    (cd bench-data && python3 -m http.server "$media" --bind 127.0.0.1 >/dev/null 2>&1) & pids+=($!)
    sleep 0.5
    $engine serve --allow-private-urls --bind "127.0.0.1:$api" --workdir "$work/server" --profile smart --queue "redis://127.0.0.1:$redis" --store "file://$work/store" >"$work/server.out" 2>&1 & pids+=($!)
    for i in 1 2; do
      $engine worker --queue "redis://127.0.0.1:$redis" --store "file://$work/store" --cache "$work/w$i" --name "w$i" --slots 1 2>"$work/w$i.log" & pids+=($!)
    done
    sleep 2
    curl -s -X POST -H 'content-type: application/json' -d "{\"url\":\"http://127.0.0.1:$media/{{sample}}.mp4\"}" "http://127.0.0.1:$api/generate_shorts" >"$work/answer.json"
    size=$(stat -c %s bench-data/{{sample}}.mp4)
    python3 - "$work/answer.json" "$size" <<'PY'
    import json, sys
    answer, size = json.load(open(sys.argv[1])), int(sys.argv[2])
    per = {}
    for t in answer["clipbench"]["queue"]["task_timings"]:
        w = per.setdefault(t["worker"], [0, 0]); w[0] += t["source_bytes"]; w[1] += 1
    for worker, (read, tasks) in sorted(per.items()):
        print(f"{worker}: {tasks} tasks, {read / 1e6:.1f} MB of the {size / 1e6:.1f} MB source ({read / size:.0%})")
    PY

# Criterion benchmarks of the pure code (plan, allocate).
bench-pure:
    cargo bench -p clipbench-benches --bench pure

# Check the sub-one-minute target on the 10-minute sample with the engine's best strategy.
validate runs="3":
    {{release}} -p clipbench -- validate --runs {{runs}}

# The whole test suite (the README's test command).
test:
    cargo test --workspace

# Formatting and lints, as CI expects them.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings
