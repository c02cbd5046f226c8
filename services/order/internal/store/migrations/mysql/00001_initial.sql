-- Version 1: the order service's schema as created before versioned migrations, with the
-- TCC barrier's table (the SDK's tcc.Migrate creates the same one). IF NOT EXISTS: a database
-- made by that code is adopted as it is.

-- +goose Up
CREATE TABLE IF NOT EXISTS tcc_barrier (
  xid          VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  branch_id    VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  phase        VARCHAR(16) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  origin_phase VARCHAR(16) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  created_at   DATETIME(3) NOT NULL,
  PRIMARY KEY (xid, branch_id, phase),
  KEY idx_tcc_barrier_created (created_at)
) ENGINE=InnoDB;

CREATE TABLE IF NOT EXISTS orders (
  id         VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
  xid        VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  user_id    VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  sku        VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  quantity   BIGINT NOT NULL,
  unit_price BIGINT NOT NULL,
  amount     BIGINT NOT NULL,
  status     VARCHAR(16) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  created_at DATETIME(3) NOT NULL,
  updated_at DATETIME(3) NOT NULL,
  KEY orders_user (user_id, created_at, id),
  KEY orders_xid (xid)
) ENGINE=InnoDB;

CREATE TABLE IF NOT EXISTS idempotency_keys (
  idem_key    VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
  fingerprint CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  order_id    VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  xid         VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL DEFAULT '',
  amount      BIGINT NOT NULL DEFAULT 0,
  outcome     VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL DEFAULT '',
  message     VARCHAR(512) NOT NULL DEFAULT '',
  created_at  DATETIME(3) NOT NULL,
  KEY idempotency_created (created_at)
) ENGINE=InnoDB;
