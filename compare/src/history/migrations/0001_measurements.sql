-- The results database, version 1. Written once for both SQLite and PostgreSQL: keys are made
-- by clipbench (content hashes), times are RFC 3339 text in UTC, flags 0 or 1: no type that
-- differs between the two.

-- The hardware figures were measured on, keyed by its fingerprint.
CREATE TABLE machines (
    id TEXT PRIMARY KEY,
    description TEXT NOT NULL,
    -- The machine block of the first results.json seen from it (JSON).
    machine TEXT NOT NULL
);

-- One `run`, `ab`, `validate` or `batch` (or an imported results.json), keyed by a hash of
-- what it wrote, so importing the same folder twice adds nothing.
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    command TEXT NOT NULL,
    created_at TEXT NOT NULL,
    clipbench_version TEXT NOT NULL,
    machine_id TEXT NOT NULL REFERENCES machines (id),
    -- The report folder it wrote (as it was named then).
    source TEXT NOT NULL,
    interrupted BIGINT NOT NULL CHECK (interrupted IN (0, 1))
);

-- Every run of every target on every sample.
CREATE TABLE measurements (
    session_id TEXT NOT NULL REFERENCES sessions (id),
    target TEXT NOT NULL,
    sample TEXT NOT NULL,
    run BIGINT NOT NULL,
    -- The commit of the build measured (10 hex digits), NULL when unknown.
    commit_sha TEXT,
    dirty BIGINT NOT NULL CHECK (dirty IN (0, 1)),
    -- A hash of the target's settings: a series never mixes two configurations.
    config_hash TEXT NOT NULL,
    status TEXT NOT NULL,
    measured_at TEXT NOT NULL,
    wall_s DOUBLE PRECISION NOT NULL,
    -- CPU seconds of the target's ffmpeg children (W), when measured.
    work_cpu_s DOUBLE PRECISION,
    -- Every figure of the run (the runs.csv row) as JSON.
    figures TEXT NOT NULL,
    PRIMARY KEY (session_id, target, sample, run)
);

CREATE INDEX measurements_series ON measurements (target, sample, config_hash);
