-- Anonymous diversion cases, their follow-up messages, blind indexes, the moderators' review
-- queue and publications. DESIGN §5: nothing here names the submitter, and nothing written by
-- a submission or a source's follow-up carries a time of day (dates, or a batch's release time).

CREATE TABLE cases (
    id                    uuid PRIMARY KEY,               -- uuid4
    submitted_on          date NOT NULL,                  -- the UTC date, never the time
    receipt_hash          bytea NOT NULL UNIQUE,          -- HMAC of the receipt
    status                text NOT NULL DEFAULT 'pending'
                          CHECK (status IN ('pending', 'in_review', 'needs_information',
                                            'approved', 'published', 'rejected', 'withdrawn')),
    released_at           timestamptz,                    -- the batch release that queued it
    -- analytic metadata, in clear so it can be counted
    detection_status      text,
    item_categories       text[] NOT NULL DEFAULT '{}',
    transfer_stage        text NOT NULL,
    diversion_methods     text[] NOT NULL DEFAULT '{}',
    actor_types           text[] NOT NULL DEFAULT '{}',
    red_flags             text[] NOT NULL DEFAULT '{}',
    detection_channel     text,
    response_measures     text[] NOT NULL DEFAULT '{}',
    sharing_scope         text NOT NULL,
    attribution           text NOT NULL DEFAULT 'anonymous',
    attributed_state      char(3) REFERENCES states (iso3),
    language              text,
    -- generalised
    region_code           text REFERENCES regions (code),
    period                text CHECK (period ~ '^[0-9]{4}(-Q[1-4])?$'),
    quantity_band         text,
    transport_mode        text,
    -- sensitive, AES-256-GCM under the data key of scope 'case:<id>'
    narrative             bytea,
    states_involved       bytea,
    named_entities        bytea,
    document_refs         bytea,
    dates_places          bytea,
    investigation_status  bytea,
    item_model            bytea,
    submitter_lessons     bytea,
    original_destroyed_on date,
    reject_reason         text CHECK (length(reject_reason) <= 2000),
    CHECK ((attribution = 'attributed') = (attributed_state IS NOT NULL))
);
CREATE INDEX cases_status_idx ON cases (status);

-- Questions from moderators and answers from the source, under the case's data key.
CREATE TABLE case_messages (
    id           uuid PRIMARY KEY,
    case_id      uuid NOT NULL REFERENCES cases (id),
    seq          integer NOT NULL,
    sender       text NOT NULL CHECK (sender IN ('source', 'moderator')),
    moderator_id uuid REFERENCES users (id),
    body         bytea,
    sent_on      date NOT NULL,
    released_at  timestamptz,          -- source messages reach moderators at a batch release
    UNIQUE (case_id, seq),
    CHECK ((sender = 'moderator') = (moderator_id IS NOT NULL))
);

-- Blind indexes of named entities and document references (HMAC, no plaintext).
CREATE TABLE case_index (
    case_id uuid NOT NULL REFERENCES cases (id),
    field   text NOT NULL CHECK (field IN ('named_entities', 'document_refs')),
    digest  bytea NOT NULL,
    PRIMARY KEY (case_id, field, digest)
);
CREATE INDEX case_index_digest_idx ON case_index (field, digest);

-- Wrong receipts, keyed by an HMAC of the client address, for throttling only.
CREATE TABLE receipt_failures (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key_hash  bytea NOT NULL,
    failed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX receipt_failures_key_idx ON receipt_failures (key_hash, failed_at);

-- The moderators' review queue. Items enter it only at batch releases, in random order.
CREATE TABLE review_items (
    id          uuid PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('case')),
    case_id     uuid REFERENCES cases (id),
    state       text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'claimed', 'waiting',
                                                             'done')),
    assignee_id uuid REFERENCES users (id),
    sort_key    double precision NOT NULL,   -- random at release: arrival order is not kept
    released_at timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    UNIQUE (kind, case_id)
);
CREATE INDEX review_items_open_idx ON review_items (state, sort_key);

CREATE TABLE review_history (
    id          uuid PRIMARY KEY,
    item_id     uuid NOT NULL REFERENCES review_items (id),
    actor_id    uuid REFERENCES users (id),
    action      text NOT NULL,
    note        text CHECK (length(note) <= 2000),
    occurred_at timestamptz NOT NULL
);
CREATE INDEX review_history_item_idx ON review_history (item_id, occurred_at);

-- The moderators' redacted version of a case: a JSON object of fields, encrypted under the
-- case key while in review; the published copy is re-encrypted under the target room's key so
-- that destroying the original wording (the case key) leaves the publication readable.
CREATE TABLE case_redactions (
    id          uuid PRIMARY KEY REFERENCES cases (id),   -- the case's id
    content     bytea NOT NULL,
    diff        bytea,
    editor_id   uuid REFERENCES users (id),
    approved_by uuid REFERENCES users (id),
    updated_at  timestamptz NOT NULL
);

CREATE TABLE case_publications (
    id           uuid PRIMARY KEY REFERENCES cases (id),  -- the case's id
    room_id      uuid NOT NULL REFERENCES rooms (id),
    thread_id    uuid NOT NULL REFERENCES threads (id),
    content      bytea NOT NULL,
    published_by uuid REFERENCES users (id),
    published_on date NOT NULL
);
CREATE INDEX case_publications_room_idx ON case_publications (room_id);
