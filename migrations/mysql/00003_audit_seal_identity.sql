-- An audit log a database writer cannot rewrite, and one holder per client
-- identity.
-- audit_log.seal is the hex Ed25519 signature, by the audit key kept beside
-- the CA key (never in the database), of the entry's hash; NULL for entries
-- written before the key existed.
-- certificates.cn_skeleton is the UTS #39 skeleton of an active client
-- certificate's CN (NULL for every other row): the unique index lets one
-- query find a holder of a look-alike name, and makes two concurrent
-- issuances of confusable names collide in the database. It compares byte
-- for byte (utf8mb4_bin): the skeleton already folds what should match.

-- +goose Up
ALTER TABLE audit_log ADD COLUMN seal VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NULL;
ALTER TABLE certificates ADD COLUMN cn_skeleton VARCHAR(255) COLLATE utf8mb4_bin NULL;
CREATE UNIQUE INDEX uq_certificates_cn_skeleton ON certificates (cn_skeleton);

-- +goose Down
DROP INDEX uq_certificates_cn_skeleton ON certificates;
ALTER TABLE certificates DROP COLUMN cn_skeleton;
ALTER TABLE audit_log DROP COLUMN seal;
