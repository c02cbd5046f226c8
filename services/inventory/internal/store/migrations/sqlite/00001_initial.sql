-- Version 1: the inventory service's schema as created before versioned migrations, with the
-- TCC barrier's table (the SDK's tcc.Migrate creates the same one). IF NOT EXISTS: a database
-- made by that code is adopted as it is.

-- +goose Up
CREATE TABLE IF NOT EXISTS tcc_barrier (
  xid          TEXT NOT NULL,
  branch_id    TEXT NOT NULL,
  phase        TEXT NOT NULL,
  origin_phase TEXT NOT NULL,
  created_at   DATETIME NOT NULL,
  PRIMARY KEY (xid, branch_id, phase)
) WITHOUT ROWID;

CREATE INDEX IF NOT EXISTS idx_tcc_barrier_created ON tcc_barrier (created_at);

CREATE TABLE IF NOT EXISTS stock (
  sku        TEXT NOT NULL PRIMARY KEY,
  price      INTEGER NOT NULL,
  available  INTEGER NOT NULL,
  reserved   INTEGER NOT NULL DEFAULT 0,
  sold       INTEGER NOT NULL DEFAULT 0,
  version    INTEGER NOT NULL DEFAULT 0,
  updated_at DATETIME NOT NULL,
  CHECK (available >= 0 AND reserved >= 0 AND sold >= 0)
) WITHOUT ROWID;
