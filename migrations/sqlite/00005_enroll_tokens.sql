-- One-time enrollment tokens for the online CA (scca token, POST /v1/sign).
-- Only the SHA-256 of a token is stored; id is its public half, shown in
-- listings and the audit log. used_at/used_serial are set, once, in the
-- transaction that records the certificate the token paid for.
-- Times are UTC text 'YYYY-MM-DD HH:MM:SS.ffffff'; unknown values are NULL.

-- +goose Up
CREATE TABLE enroll_tokens (
    id          CHAR(16)     NOT NULL PRIMARY KEY,
    hash        CHAR(64)     NOT NULL,
    cn          VARCHAR(64)  NOT NULL,
    profile     VARCHAR(16)  NOT NULL,
    sans        TEXT         NOT NULL,
    created_at  DATETIME     NOT NULL,
    created_by  VARCHAR(255) NOT NULL,
    expires_at  DATETIME     NOT NULL,
    used_at     DATETIME     NULL,
    used_serial VARCHAR(64)  NULL
);
CREATE INDEX idx_enroll_tokens_expires_at ON enroll_tokens (expires_at);

-- enrollments says what authorised each certificate issued through the API:
-- the token it consumed, or the certificate it renewed (and superseded).
CREATE TABLE enrollments (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    issuer_key_id   VARCHAR(64)  NOT NULL,
    serial          VARCHAR(64)  NOT NULL,
    method          VARCHAR(16)  NOT NULL,
    token_id        CHAR(16)     NULL,
    previous_serial VARCHAR(64)  NULL,
    at              DATETIME     NOT NULL,
    CONSTRAINT uq_enrollments_issuer_serial UNIQUE (issuer_key_id, serial)
);
CREATE INDEX idx_enrollments_previous ON enrollments (issuer_key_id, previous_serial);

-- +goose Down
DROP TABLE enrollments;
DROP TABLE enroll_tokens;
