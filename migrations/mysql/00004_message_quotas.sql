-- Per-sender and total usage of the durable message queue, for the chat
-- server's quotas: messages and body bytes each sender has queued, and the
-- same for all senders together (one row, id = 1). Enqueue adds to them and
-- AckDelivered subtracts, in the same transaction as the rows they count,
-- after locking the rows in one order (recipients, senders, total).
-- Sender names compare byte for byte (utf8mb4_bin), as in messages.
-- Existing queued messages are counted when this migration runs.

-- +goose Up
CREATE TABLE message_senders (
    sender VARCHAR(64)     COLLATE utf8mb4_bin NOT NULL,
    queued BIGINT UNSIGNED NOT NULL,
    bytes  BIGINT UNSIGNED NOT NULL,
    PRIMARY KEY (sender)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE message_totals (
    id     TINYINT UNSIGNED NOT NULL,
    queued BIGINT UNSIGNED  NOT NULL,
    bytes  BIGINT UNSIGNED  NOT NULL,
    PRIMARY KEY (id),
    CONSTRAINT ck_message_totals_one_row CHECK (id = 1)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

INSERT INTO message_senders (sender, queued, bytes)
    SELECT sender, COUNT(*), COALESCE(SUM(LENGTH(body)), 0) FROM messages GROUP BY sender;
INSERT INTO message_totals (id, queued, bytes)
    SELECT 1, COUNT(*), COALESCE(SUM(LENGTH(body)), 0) FROM messages;

-- +goose Down
DROP TABLE message_totals;
DROP TABLE message_senders;
