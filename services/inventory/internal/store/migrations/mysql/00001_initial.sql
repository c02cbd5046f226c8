-- Version 1: the inventory service's schema as created before versioned migrations, with the
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

CREATE TABLE IF NOT EXISTS stock (
  sku        VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
  price      BIGINT NOT NULL,
  available  BIGINT NOT NULL,
  reserved   BIGINT NOT NULL DEFAULT 0,
  sold       BIGINT NOT NULL DEFAULT 0,
  version    BIGINT NOT NULL DEFAULT 0,
  updated_at DATETIME(3) NOT NULL,
  CONSTRAINT stock_nonneg CHECK (available >= 0 AND reserved >= 0 AND sold >= 0)
) ENGINE=InnoDB;
