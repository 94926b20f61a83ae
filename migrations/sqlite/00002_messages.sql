-- Durable per-recipient message queue for the chat server, and the index the
-- live revocation feed reads the audit log by.
-- sent_at is UTC text 'YYYY-MM-DD HH:MM:SS.ffffff'. AUTOINCREMENT keeps ids
-- strictly increasing even after the newest rows are acknowledged (deleted).
-- message_queues holds each recipient's queued-row count for the bound
-- (SQLite writers are already serialised by BEGIN IMMEDIATE).

-- +goose Up
CREATE TABLE messages (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    recipient VARCHAR(64) NOT NULL,
    sender    VARCHAR(64) NOT NULL,
    room      VARCHAR(64) NOT NULL DEFAULT '',
    msg_id    VARCHAR(64) NOT NULL,
    body      BLOB        NOT NULL,
    sent_at   DATETIME    NOT NULL,
    CONSTRAINT uq_messages_recipient_msg_id UNIQUE (recipient, msg_id)
);
CREATE INDEX idx_messages_recipient_id ON messages (recipient, id);

CREATE TABLE message_queues (
    recipient VARCHAR(64) NOT NULL PRIMARY KEY,
    queued    INTEGER     NOT NULL CHECK (queued >= 0)
);

CREATE INDEX idx_audit_log_action_id ON audit_log (action, id);

-- +goose Down
DROP INDEX idx_audit_log_action_id;
DROP TABLE message_queues;
DROP TABLE messages;
