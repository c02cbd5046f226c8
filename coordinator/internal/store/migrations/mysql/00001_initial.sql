-- Version 1: the coordinator's schema as created before versioned migrations (global
-- transactions and their branches). IF NOT EXISTS: a database made by that code is adopted
-- as it is.

-- +goose Up
CREATE TABLE IF NOT EXISTS global_transactions (
  xid        VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  status     VARCHAR(16)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  owner      VARCHAR(200) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  deadline   DATETIME(3) NOT NULL,
  timeout_ms BIGINT NOT NULL,
  lock_keys  TEXT NOT NULL,
  idem_key   VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NULL,
  idem_hash  VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  request_id VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  refusal    TEXT NOT NULL,
  attention  TINYINT(1) NOT NULL DEFAULT 0,
  created_at DATETIME(3) NOT NULL,
  updated_at DATETIME(3) NOT NULL,
  PRIMARY KEY (xid),
  UNIQUE KEY uk_gtx_idem (idem_key),
  KEY idx_gtx_status (status, xid),
  KEY idx_gtx_attention (attention, xid)
) ENGINE=InnoDB;

CREATE TABLE IF NOT EXISTS branch_transactions (
  xid         VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  branch_id   VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  seq         INT NOT NULL,
  participant VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  action      VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  payload     MEDIUMBLOB NOT NULL,
  status      VARCHAR(16) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  attempts    INT NOT NULL,
  last_error  VARCHAR(512) NOT NULL,
  updated_at  DATETIME(3) NOT NULL,
  PRIMARY KEY (xid, branch_id)
) ENGINE=InnoDB;
