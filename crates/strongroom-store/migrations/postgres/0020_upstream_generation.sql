-- 0020: one counter every server reads with each upstream page (issue 12): any change to what
-- the gateway may serve (an upstream rule, an advisory import) bumps it in the same
-- transaction, so every server's cached upstream pages and JSON documents built before the
-- change stop being served at once. One row, never deleted.
CREATE TABLE upstream_generation (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    generation BIGINT NOT NULL
);
INSERT INTO upstream_generation (id, generation) VALUES (1, 0);
