-- Version 1: the payment service's schema as created before versioned migrations, with the
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

CREATE TABLE IF NOT EXISTS accounts (
  id         TEXT NOT NULL PRIMARY KEY,
  balance    INTEGER NOT NULL,
  frozen     INTEGER NOT NULL DEFAULT 0,
  version    INTEGER NOT NULL DEFAULT 0,
  updated_at DATETIME NOT NULL,
  CHECK (balance >= 0 AND frozen >= 0)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS payments (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  order_id   TEXT NOT NULL UNIQUE,
  xid        TEXT NOT NULL,
  account_id TEXT NOT NULL,
  amount     INTEGER NOT NULL,
  created_at DATETIME NOT NULL
);

CREATE INDEX IF NOT EXISTS payments_account ON payments (account_id);
