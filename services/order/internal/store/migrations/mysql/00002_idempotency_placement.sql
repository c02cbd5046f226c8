-- Version 2: an Idempotency-Key keeps the priced placement its first request began (unit
-- price and transaction timeout), so that a keyed retry begins exactly the same
-- transaction. Keys claimed before hold 0 in both (IdemRecord.Priced reports false).

-- +goose Up
ALTER TABLE idempotency_keys
  ADD COLUMN unit_price BIGINT NOT NULL DEFAULT 0,
  ADD COLUMN timeout_ms BIGINT NOT NULL DEFAULT 0;
