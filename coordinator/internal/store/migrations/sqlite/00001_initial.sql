-- Version 1: the coordinator's schema as created before versioned migrations (global
-- transactions and their branches). IF NOT EXISTS: a database made by that code is adopted
-- as it is.

-- +goose Up
CREATE TABLE IF NOT EXISTS global_transactions (
  xid        TEXT NOT NULL PRIMARY KEY,
  status     TEXT NOT NULL,
  owner      TEXT NOT NULL,
  deadline   DATETIME NOT NULL,
  timeout_ms INTEGER NOT NULL,
  lock_keys  TEXT NOT NULL,
  idem_key   TEXT NULL,
  idem_hash  TEXT NOT NULL,
  request_id TEXT NOT NULL,
  refusal    TEXT NOT NULL,
  attention  INTEGER NOT NULL DEFAULT 0,
  created_at DATETIME NOT NULL,
  updated_at DATETIME NOT NULL
) WITHOUT ROWID;

CREATE UNIQUE INDEX IF NOT EXISTS uk_gtx_idem ON global_transactions (idem_key);

CREATE INDEX IF NOT EXISTS idx_gtx_status ON global_transactions (status, xid);

CREATE INDEX IF NOT EXISTS idx_gtx_attention ON global_transactions (attention, xid);

CREATE TABLE IF NOT EXISTS branch_transactions (
  xid         TEXT NOT NULL,
  branch_id   TEXT NOT NULL,
  seq         INTEGER NOT NULL,
  participant TEXT NOT NULL,
  action      TEXT NOT NULL,
  payload     BLOB NOT NULL,
  status      TEXT NOT NULL,
  attempts    INTEGER NOT NULL,
  last_error  TEXT NOT NULL,
  updated_at  DATETIME NOT NULL,
  PRIMARY KEY (xid, branch_id)
) WITHOUT ROWID;
