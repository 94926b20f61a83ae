-- Durable per-recipient message queue for the chat server, and the index the
-- live revocation feed reads the audit log by.
-- sent_at is UTC DATETIME(6). Names and message ids compare byte for byte
-- (utf8mb4_bin), as in SQLite: 'Alice' and 'alice' are different queues.
-- message_queues holds one row per recipient: the row Enqueue and
-- AckDelivered lock to serialise that recipient's queue, and its queued-row
-- count for the bound.

-- +goose Up
CREATE TABLE messages (
    id        BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    recipient VARCHAR(64) COLLATE utf8mb4_bin NOT NULL,
    sender    VARCHAR(64) COLLATE utf8mb4_bin NOT NULL,
    room      VARCHAR(64) COLLATE utf8mb4_bin NOT NULL DEFAULT '',
    msg_id    VARCHAR(64) COLLATE utf8mb4_bin NOT NULL,
    body      MEDIUMBLOB  NOT NULL,
    sent_at   DATETIME(6) NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uq_messages_recipient_msg_id (recipient, msg_id),
    KEY idx_messages_recipient_id (recipient, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE message_queues (
    recipient VARCHAR(64)     COLLATE utf8mb4_bin NOT NULL,
    queued    BIGINT UNSIGNED NOT NULL,
    PRIMARY KEY (recipient)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE INDEX idx_audit_log_action_id ON audit_log (action, id);

-- +goose Down
DROP INDEX idx_audit_log_action_id ON audit_log;
DROP TABLE message_queues;
DROP TABLE messages;
