-- Reconciliation (issue 15): an administrator marks a discrepancy resolved,
-- with a note; running the day again keeps the mark of a discrepancy that is
-- found again (same kind, numbers and amounts).
ALTER TABLE bill_discrepancies ADD COLUMN resolved_at BIGINT;
ALTER TABLE bill_discrepancies ADD COLUMN resolved_by TEXT;
ALTER TABLE bill_discrepancies ADD COLUMN resolution TEXT;
CREATE INDEX bill_discrepancies_open ON bill_discrepancies (resolved_at);
