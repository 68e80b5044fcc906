-- The lessons pipeline: workshops and their takeaways, lessons distilled from takeaways and
-- published cases, DIEF sessions with their agenda; flagged posts, takeaways and lessons join
-- the review queue; a read-only 'donor' role for aggregate indicators.

ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check
    CHECK (role IN ('admin', 'moderator', 'facilitator', 'delegate', 'observer', 'donor'));
ALTER TABLE invitations DROP CONSTRAINT invitations_role_check;
ALTER TABLE invitations ADD CONSTRAINT invitations_role_check
    CHECK (role IN ('admin', 'moderator', 'facilitator', 'delegate', 'observer', 'donor'));

CREATE TABLE workshops (
    id                uuid PRIMARY KEY,
    title             text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    region_code       text REFERENCES regions (code),
    place             text NOT NULL DEFAULT '' CHECK (length(place) <= 200),
    starts_on         date NOT NULL,
    ends_on           date NOT NULL,
    room_id           uuid NOT NULL UNIQUE REFERENCES rooms (id),
    officials_trained integer NOT NULL DEFAULT 0 CHECK (officials_trained BETWEEN 0 AND 100000),
    created_by        uuid REFERENCES users (id),
    created_at        timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_on >= starts_on)
);

-- A takeaway's text is confidential to the workshop: sealed under the workshop room's key.
CREATE TABLE takeaways (
    id          uuid PRIMARY KEY,
    workshop_id uuid NOT NULL REFERENCES workshops (id),
    kind        text NOT NULL CHECK (kind IN ('risk', 'mitigation', 'challenge', 'question')),
    body        bytea,
    shareable   boolean NOT NULL DEFAULT false,
    author_id   uuid REFERENCES users (id),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX takeaways_workshop_idx ON takeaways (workshop_id, created_at);

-- Lessons are the anonymised, shareable product meant for the DIEF: stored in clear (a leak
-- check against the linked cases runs before approval; see moderation/curation/service.py).
CREATE TABLE lessons (
    id          uuid PRIMARY KEY,
    title       text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    summary     text NOT NULL CHECK (length(summary) <= 5000),
    risk        text NOT NULL DEFAULT '' CHECK (length(risk) <= 5000),
    indicators  text NOT NULL DEFAULT '' CHECK (length(indicators) <= 5000),
    mitigation  text NOT NULL DEFAULT '' CHECK (length(mitigation) <= 5000),
    challenge   text NOT NULL DEFAULT '' CHECK (length(challenge) <= 5000),
    region_code text REFERENCES regions (code),   -- NULL: cross-regional
    tags        text[] NOT NULL DEFAULT '{}',
    status      text NOT NULL DEFAULT 'draft'
                CHECK (status IN ('draft', 'approved', 'scheduled', 'presented')),
    created_by  uuid REFERENCES users (id),
    edited_by   uuid REFERENCES users (id),    -- the last editor, for four-eyes approval
    approved_by uuid REFERENCES users (id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Where a lesson came from: shown to moderators only.
CREATE TABLE lesson_sources (
    lesson_id   uuid NOT NULL REFERENCES lessons (id),
    takeaway_id uuid REFERENCES takeaways (id),
    case_id     uuid REFERENCES cases (id),
    CHECK ((takeaway_id IS NULL) <> (case_id IS NULL))
);
CREATE UNIQUE INDEX lesson_sources_takeaway_idx ON lesson_sources (lesson_id, takeaway_id)
    WHERE takeaway_id IS NOT NULL;
CREATE UNIQUE INDEX lesson_sources_case_idx ON lesson_sources (lesson_id, case_id)
    WHERE case_id IS NOT NULL;

CREATE TABLE dief_sessions (
    id         uuid PRIMARY KEY,
    title      text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    held_on    date NOT NULL,
    place      text NOT NULL DEFAULT 'Geneva' CHECK (length(place) BETWEEN 1 AND 200),
    status     text NOT NULL DEFAULT 'planned' CHECK (status IN ('planned', 'held')),
    created_by uuid REFERENCES users (id),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE agenda_items (
    id              uuid PRIMARY KEY,
    session_id      uuid NOT NULL REFERENCES dief_sessions (id),
    position        integer NOT NULL CHECK (position >= 1),
    lesson_id       uuid REFERENCES lessons (id),
    case_id         uuid REFERENCES cases (id),
    presenter_notes text NOT NULL DEFAULT '' CHECK (length(presenter_notes) <= 5000),
    CHECK ((lesson_id IS NULL) <> (case_id IS NULL))
);
CREATE INDEX agenda_items_session_idx ON agenda_items (session_id, position);
CREATE UNIQUE INDEX agenda_items_lesson_idx ON agenda_items (session_id, lesson_id)
    WHERE lesson_id IS NOT NULL;
CREATE UNIQUE INDEX agenda_items_case_idx ON agenda_items (session_id, case_id)
    WHERE case_id IS NOT NULL;

-- The review queue takes every type of item moderators act on.
ALTER TABLE review_items DROP CONSTRAINT review_items_kind_check;
ALTER TABLE review_items ADD CONSTRAINT review_items_kind_check
    CHECK (kind IN ('case', 'flag', 'takeaway', 'lesson'));
ALTER TABLE review_items ADD COLUMN post_id uuid REFERENCES posts (id);
ALTER TABLE review_items ADD COLUMN takeaway_id uuid REFERENCES takeaways (id);
ALTER TABLE review_items ADD COLUMN lesson_id uuid REFERENCES lessons (id);
ALTER TABLE review_items ADD COLUMN region_code text REFERENCES regions (code);
ALTER TABLE review_items ADD CONSTRAINT review_items_target_check CHECK (
    (kind = 'case') = (case_id IS NOT NULL) AND (kind = 'flag') = (post_id IS NOT NULL)
    AND (kind = 'takeaway') = (takeaway_id IS NOT NULL)
    AND (kind = 'lesson') = (lesson_id IS NOT NULL));
CREATE UNIQUE INDEX review_items_post_idx ON review_items (post_id) WHERE kind = 'flag';
CREATE UNIQUE INDEX review_items_takeaway_idx ON review_items (takeaway_id)
    WHERE kind = 'takeaway';
CREATE UNIQUE INDEX review_items_lesson_idx ON review_items (lesson_id) WHERE kind = 'lesson';
