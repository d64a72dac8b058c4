-- Harness bookkeeping, not part of the Intellacc schema: the data manifest and the seeding
-- state (so a half-seeded database is never mistaken for a complete one). The marker that
-- says "this database belongs to intellacc-bench" is created before any migration runs
-- (see src/db/marker.rs), so this table only holds what the seeder records.
CREATE TABLE intellacc_bench_manifest (
  id          INTEGER PRIMARY KEY CHECK (id = 1),
  state       TEXT NOT NULL CHECK (state IN ('seeding', 'complete')),
  manifest    JSONB,
  updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
