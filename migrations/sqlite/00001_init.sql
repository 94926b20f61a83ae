-- Certificate inventory, CRL numbers and the hash-chained audit log.
-- Times are UTC text 'YYYY-MM-DD HH:MM:SS.ffffff' (fixed width, so text
-- comparison is time order); unknown values are NULL.

-- +goose Up
CREATE TABLE certificates (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    issuer_key_id VARCHAR(64)  NOT NULL,
    serial        VARCHAR(64)  NOT NULL,
    type          VARCHAR(16)  NOT NULL,
    cn            VARCHAR(64)  NOT NULL,
    sans          TEXT         NOT NULL,
    not_before    DATETIME     NOT NULL,
    not_after     DATETIME     NOT NULL,
    status        VARCHAR(16)  NOT NULL,
    revoked_at    DATETIME     NULL,
    reason        SMALLINT     NULL,
    revoked_by    VARCHAR(255) NULL,
    fingerprint   CHAR(64)     NOT NULL,
    der           BLOB         NOT NULL,
    issued_at     DATETIME     NOT NULL,
    issued_by     VARCHAR(255) NOT NULL,
    CONSTRAINT uq_certificates_issuer_serial UNIQUE (issuer_key_id, serial),
    CONSTRAINT uq_certificates_fingerprint UNIQUE (fingerprint),
    CONSTRAINT ck_certificates_status CHECK (
        (status = 'active' AND revoked_at IS NULL) OR
        (status = 'revoked' AND revoked_at IS NOT NULL))
);
CREATE INDEX idx_certificates_status_not_after ON certificates (status, not_after);
CREATE INDEX idx_certificates_type ON certificates (type);
CREATE INDEX idx_certificates_cn ON certificates (cn);
CREATE INDEX idx_certificates_serial ON certificates (serial);
CREATE INDEX idx_certificates_issuer_status ON certificates (issuer_key_id, status);

CREATE TABLE crl_numbers (
    issuer_key_id VARCHAR(64) NOT NULL PRIMARY KEY,
    last_number   BIGINT      NOT NULL
);

CREATE TABLE audit_log (
    id            INTEGER PRIMARY KEY,
    at            DATETIME     NOT NULL,
    actor         VARCHAR(255) NOT NULL,
    action        VARCHAR(32)  NOT NULL,
    issuer_key_id VARCHAR(64)  NOT NULL,
    serial        VARCHAR(64)  NOT NULL,
    details       TEXT         NOT NULL,
    prev_hash     CHAR(64)     NOT NULL,
    hash          CHAR(64)     NOT NULL
);
CREATE INDEX idx_audit_log_issuer_serial ON audit_log (issuer_key_id, serial);

-- audit_head anchors the hash chain so VerifyAudit notices entries cut off
-- the end of the log (SQLite writers are already serialised by BEGIN IMMEDIATE).
CREATE TABLE audit_head (
    id        INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    last_id   INTEGER NOT NULL,
    last_hash CHAR(64) NOT NULL
);
INSERT INTO audit_head (id, last_id, last_hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- +goose Down
DROP TABLE audit_head;
DROP TABLE audit_log;
DROP TABLE crl_numbers;
DROP TABLE certificates;
