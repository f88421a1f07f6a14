-- 0009: undoing an incident without bringing the attacker back. A freeze (or restoring a
-- deleted account) records the account's incident window: from its earliest suspicious change
-- (reset, email change, 2FA change, new-device login, token) within
-- recovery.incident_lookback_days up to the freeze (or deletion). Undos never bring back what the
-- account did inside a window (uploads, roles it gained), and an account handed back signs in
-- only after a reset through an address verified before its window.
CREATE TABLE account_incidents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users(id),
    -- freeze | restore
    kind TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    window_end BIGINT NOT NULL,
    opened_at BIGINT NOT NULL,
    opened_by TEXT NOT NULL,
    -- when the account was handed back (unfrozen; restored accounts are handed back at once)
    returned_at BIGINT,
    returned_by TEXT
);
CREATE INDEX account_incidents_user ON account_incidents(user_id, window_start);
-- Addresses and factors added in an incident window: listed for the owner to keep or drop on
-- the first sign-in after the reset; until then a suspect address gets no mail and a suspect
-- factor does not sign in.
ALTER TABLE emails ADD COLUMN suspect_at BIGINT;
ALTER TABLE totp_secrets ADD COLUMN suspect_at BIGINT;
ALTER TABLE webauthn_credentials ADD COLUMN suspect_at BIGINT;
ALTER TABLE recovery_codes ADD COLUMN suspect_at BIGINT;
