-- Version 1: the order service's schema as created before versioned migrations, with the
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

CREATE TABLE IF NOT EXISTS orders (
  id         TEXT NOT NULL PRIMARY KEY,
  xid        TEXT NOT NULL,
  user_id    TEXT NOT NULL,
  sku        TEXT NOT NULL,
  quantity   INTEGER NOT NULL,
  unit_price INTEGER NOT NULL,
  amount     INTEGER NOT NULL,
  status     TEXT NOT NULL,
  created_at DATETIME NOT NULL,
  updated_at DATETIME NOT NULL
) WITHOUT ROWID;

CREATE INDEX IF NOT EXISTS orders_user ON orders (user_id, created_at, id);

CREATE INDEX IF NOT EXISTS orders_xid ON orders (xid);

CREATE TABLE IF NOT EXISTS idempotency_keys (
  idem_key    TEXT NOT NULL PRIMARY KEY,
  fingerprint TEXT NOT NULL,
  order_id    TEXT NOT NULL,
  xid         TEXT NOT NULL DEFAULT '',
  amount      INTEGER NOT NULL DEFAULT 0,
  outcome     TEXT NOT NULL DEFAULT '',
  message     TEXT NOT NULL DEFAULT '',
  created_at  DATETIME NOT NULL
) WITHOUT ROWID;
