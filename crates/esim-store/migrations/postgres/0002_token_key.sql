-- The sealed Master Delete token key (the ISD-P's static SCP03 Key-MAC) of an installed Profile.
ALTER TABLE inventory ADD COLUMN token_key_id TEXT;
ALTER TABLE inventory ADD COLUMN token_key BYTEA;
