-- A per-payer limit counted by WeChat openid too (issue 16): the key of the
-- openid an order is paid with inside WeChat (a digest, like payer_key), so
-- that the place it holds goes back when the order expires or closes.
ALTER TABLE orders ADD COLUMN payer_openid_key TEXT;
