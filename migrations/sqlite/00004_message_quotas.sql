-- Per-sender and total usage of the durable message queue, for the chat
-- server's quotas: messages and body bytes each sender has queued, and the
-- same for all senders together (one row, id = 1). Enqueue adds to them and
-- AckDelivered subtracts, in the same transaction as the rows they count.
-- Existing queued messages are counted when this migration runs.

-- +goose Up
CREATE TABLE message_senders (
    sender VARCHAR(64) NOT NULL PRIMARY KEY,
    queued INTEGER     NOT NULL CHECK (queued >= 0),
    bytes  INTEGER     NOT NULL CHECK (bytes >= 0)
);

CREATE TABLE message_totals (
    id     INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    queued INTEGER NOT NULL CHECK (queued >= 0),
    bytes  INTEGER NOT NULL CHECK (bytes >= 0)
);

INSERT INTO message_senders (sender, queued, bytes)
    SELECT sender, COUNT(*), COALESCE(SUM(LENGTH(body)), 0) FROM messages GROUP BY sender;
INSERT INTO message_totals (id, queued, bytes)
    SELECT 1, COUNT(*), COALESCE(SUM(LENGTH(body)), 0) FROM messages;

-- +goose Down
DROP TABLE message_totals;
DROP TABLE message_senders;
