-- Re-drives of dead-lettered messages (hub/redrive.py says why it is built this way). An
-- operator asks at the desk for a refused journal row to be triaged again; the desk writes
-- a row here (it publishes nothing), and a hub worker takes it up, triages the journaled
-- bytes under the key ring and policy in force, and records what came of it. The row names
-- the original journal row and, once done, the journal row the re-drive made (or found:
-- a duplicate), so a re-driven message is marked as such without rewriting the journal.
CREATE TABLE redrives (
    id                bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    journal_seq       bigint      NOT NULL REFERENCES journal (seq),
    requested_by      text        NOT NULL,
    requested_at      timestamptz NOT NULL DEFAULT now(),
    selection_sha256  text        NOT NULL,
    state             text        NOT NULL DEFAULT 'pending'
                      CHECK (state IN ('pending', 'delivered', 'held', 'duplicate', 'refused',
                                       'unavailable')),
    done_at           timestamptz,
    result_seq        bigint      REFERENCES journal (seq),
    reason_code       text,
    reason            text,
    CHECK ((state = 'pending') = (done_at IS NULL)),
    CHECK ((state IN ('delivered', 'held', 'duplicate')) = (result_seq IS NOT NULL))
);

-- One open re-drive per journal row: two operators confirming at once queue it once.
CREATE UNIQUE INDEX redrives_open ON redrives (journal_seq) WHERE state = 'pending';
CREATE INDEX redrives_journal ON redrives (journal_seq);
CREATE INDEX redrives_result ON redrives (result_seq) WHERE result_seq IS NOT NULL;
