# clipbench tasks. `just --list` shows them all.

release := "cargo run --release --quiet"

# The main job: build the default samples and cut the 10-minute one with the engine's `auto`.
default: main

# Build the 60 s and 10-minute samples, run the engine on the 10-minute one, write its report.
main: (bench-data "bbb-720p-60s,bbb-720p-10m")
    {{release}} -p clipbench-engine -- run bench-data/bbb-720p-10m.mp4 -o reports/engine/clips --json reports/engine/report.json
    @echo "report: reports/engine/report.json"

# Build (or check) sample videos; all of them by default.
bench-data only="":
    {{release}} -p clipbench -- bench-data {{ if only == "" { "" } else { "--only " + only } }}

# serial, python-optimized and auto on the 10-minute 720p sample, plus one W_ref run.
bench-engine sample="bbb-720p-10m" strategies="serial,python-optimized,auto": (bench-data sample)
    {{release}} -p clipbench-engine -- bench bench-data/{{sample}}.mp4 --strategies {{strategies}} --out reports/bench-engine/{{sample}}

# Criterion benchmarks of the pure code (plan, allocate).
bench-pure:
    cargo bench -p clipbench-engine --bench pure

# The whole test suite (the README's test command).
test:
    cargo test --workspace

# Formatting and lints, as CI expects them.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings
