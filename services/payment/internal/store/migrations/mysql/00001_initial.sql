-- Version 1: the payment service's schema as created before versioned migrations, with the
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

CREATE TABLE IF NOT EXISTS accounts (
  id         VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
  balance    BIGINT NOT NULL,
  frozen     BIGINT NOT NULL DEFAULT 0,
  version    BIGINT NOT NULL DEFAULT 0,
  updated_at DATETIME(3) NOT NULL,
  CONSTRAINT accounts_nonneg CHECK (balance >= 0 AND frozen >= 0)
) ENGINE=InnoDB;

CREATE TABLE IF NOT EXISTS payments (
  id         BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  order_id   VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  xid        VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  account_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  amount     BIGINT NOT NULL,
  created_at DATETIME(3) NOT NULL,
  UNIQUE KEY payments_order (order_id),
  KEY payments_account (account_id)
) ENGINE=InnoDB;
