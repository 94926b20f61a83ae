-- Certificate inventory, CRL numbers and the hash-chained audit log.
-- All times are UTC DATETIME(6); unknown values are NULL, never zero dates.

-- +goose Up
CREATE TABLE certificates (
    id            BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    issuer_key_id VARCHAR(64)  NOT NULL,
    serial        VARCHAR(64)  NOT NULL,
    type          VARCHAR(16)  NOT NULL,
    cn            VARCHAR(64)  NOT NULL,
    sans          TEXT         NOT NULL,
    not_before    DATETIME(6)  NOT NULL,
    not_after     DATETIME(6)  NOT NULL,
    status        VARCHAR(16)  NOT NULL,
    revoked_at    DATETIME(6)  NULL,
    reason        SMALLINT     NULL,
    revoked_by    VARCHAR(255) NULL,
    fingerprint   CHAR(64)     NOT NULL,
    der           MEDIUMBLOB   NOT NULL,
    issued_at     DATETIME(6)  NOT NULL,
    issued_by     VARCHAR(255) NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uq_certificates_issuer_serial (issuer_key_id, serial),
    UNIQUE KEY uq_certificates_fingerprint (fingerprint),
    KEY idx_certificates_status_not_after (status, not_after),
    KEY idx_certificates_type (type),
    KEY idx_certificates_cn (cn),
    KEY idx_certificates_serial (serial),
    KEY idx_certificates_issuer_status (issuer_key_id, status),
    CONSTRAINT ck_certificates_status CHECK (
        (status = 'active' AND revoked_at IS NULL) OR
        (status = 'revoked' AND revoked_at IS NOT NULL))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE crl_numbers (
    issuer_key_id VARCHAR(64) NOT NULL,
    last_number   BIGINT      NOT NULL,
    PRIMARY KEY (issuer_key_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE audit_log (
    id            BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    at            DATETIME(6)  NOT NULL,
    actor         VARCHAR(255) NOT NULL,
    action        VARCHAR(32)  NOT NULL,
    issuer_key_id VARCHAR(64)  NOT NULL,
    serial        VARCHAR(64)  NOT NULL,
    details       TEXT         NOT NULL,
    prev_hash     CHAR(64)     NOT NULL,
    hash          CHAR(64)     NOT NULL,
    PRIMARY KEY (id),
    KEY idx_audit_log_issuer_serial (issuer_key_id, serial)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- audit_head is the single row appenders lock (SELECT ... FOR UPDATE) to
-- serialise the hash chain, and the anchor that lets VerifyAudit notice
-- entries cut off the end of the log.
CREATE TABLE audit_head (
    id        TINYINT         NOT NULL,
    last_id   BIGINT UNSIGNED NOT NULL,
    last_hash CHAR(64)        NOT NULL,
    PRIMARY KEY (id),
    CONSTRAINT ck_audit_head_single CHECK (id = 1)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

INSERT INTO audit_head (id, last_id, last_hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- +goose Down
DROP TABLE audit_head;
DROP TABLE audit_log;
DROP TABLE crl_numbers;
DROP TABLE certificates;
