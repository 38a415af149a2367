-- Redeliveries: a sender that did not get our answer sends the same message again (Standard
-- Webhooks and Svix re-sign each retry with a fresh timestamp, for days). A receipt now keeps a
-- digest of the body it was for and the answer we gave, so an identical redelivery is answered
-- 2xx with the original outcome, while the same id with different bytes is still refused.
ALTER TABLE webhook_receipts ADD COLUMN body_digest TEXT;
ALTER TABLE webhook_receipts ADD COLUMN response TEXT;
