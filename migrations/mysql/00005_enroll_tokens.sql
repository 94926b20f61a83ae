-- One-time enrollment tokens for the online CA (scca token, POST /v1/sign).
-- Only the SHA-256 of a token is stored; id is its public half, shown in
-- listings and the audit log. used_at/used_serial are set, once, in the
-- transaction that records the certificate the token paid for.
-- All times are UTC DATETIME(6); unknown values are NULL.

-- +goose Up
CREATE TABLE enroll_tokens (
    id          CHAR(16)     COLLATE utf8mb4_bin NOT NULL,
    hash        CHAR(64)     NOT NULL,
    cn          VARCHAR(64)  NOT NULL,
    profile     VARCHAR(16)  NOT NULL,
    sans        TEXT         NOT NULL,
    created_at  DATETIME(6)  NOT NULL,
    created_by  VARCHAR(255) NOT NULL,
    expires_at  DATETIME(6)  NOT NULL,
    used_at     DATETIME(6)  NULL,
    used_serial VARCHAR(64)  NULL,
    PRIMARY KEY (id),
    KEY idx_enroll_tokens_expires_at (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- enrollments says what authorised each certificate issued through the API:
-- the token it consumed, or the certificate it renewed (and superseded).
CREATE TABLE enrollments (
    id              BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    issuer_key_id   VARCHAR(64)  NOT NULL,
    serial          VARCHAR(64)  NOT NULL,
    method          VARCHAR(16)  NOT NULL,
    token_id        CHAR(16)     COLLATE utf8mb4_bin NULL,
    previous_serial VARCHAR(64)  NULL,
    at              DATETIME(6)  NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uq_enrollments_issuer_serial (issuer_key_id, serial),
    KEY idx_enrollments_previous (issuer_key_id, previous_serial)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- +goose Down
DROP TABLE enrollments;
DROP TABLE enroll_tokens;
