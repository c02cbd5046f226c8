-- Version 2: an Idempotency-Key keeps the priced placement its first request began (unit
-- price and transaction timeout), so that a keyed retry begins exactly the same
-- transaction. Keys claimed before hold 0 in both (IdemRecord.Priced reports false).

-- +goose Up
ALTER TABLE idempotency_keys ADD COLUMN unit_price INTEGER NOT NULL DEFAULT 0;

ALTER TABLE idempotency_keys ADD COLUMN timeout_ms INTEGER NOT NULL DEFAULT 0;
