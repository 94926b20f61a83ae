-- Per-sender and total usage of the durable message queue, for the chat
-- server's quotas: messages and body bytes each sender has queued, and the
-- same for all senders together (one row, id = 1). Enqueue adds to them and
-- AckDelivered subtracts, in the same transaction as the rows they count,
-- after locking the rows in one order (recipients, senders, total).
-- Existing queued messages are counted when this migration runs.

-- +goose Up
CREATE TABLE message_senders (
    sender VARCHAR(64) NOT NULL PRIMARY KEY,
    queued BIGINT      NOT NULL CHECK (queued >= 0),
    bytes  BIGINT      NOT NULL CHECK (bytes >= 0)
);

CREATE TABLE message_totals (
    id     SMALLINT NOT NULL PRIMARY KEY CHECK (id = 1),
    queued BIGINT   NOT NULL CHECK (queued >= 0),
    bytes  BIGINT   NOT NULL CHECK (bytes >= 0)
);

INSERT INTO message_senders (sender, queued, bytes)
    SELECT sender, COUNT(*), COALESCE(SUM(LENGTH(body)), 0) FROM messages GROUP BY sender;
INSERT INTO message_totals (id, queued, bytes)
    SELECT 1, COUNT(*), COALESCE(SUM(LENGTH(body)), 0) FROM messages;

-- +goose Down
DROP TABLE message_totals;
DROP TABLE message_senders;
