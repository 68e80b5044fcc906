-- Confidential rooms, memberships, threads, posts, revisions, mentions, flags, read positions,
-- and the wrapped data keys that encrypt their text (DESIGN §4).

-- One data key per scope ('room:<uuid>', later 'case:<uuid>'), stored only wrapped by a KEK.
-- At most one current (neither retired nor destroyed) key per scope takes new writes.
CREATE TABLE data_keys (
    id           uuid PRIMARY KEY,
    scope        text NOT NULL CHECK (scope ~ '^[a-z_]+:[0-9a-f-]{36}$'),
    wrapped      bytea,
    kek_id       text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    retired_at   timestamptz,
    destroyed_at timestamptz,
    CHECK ((destroyed_at IS NULL) = (wrapped IS NOT NULL))
);
CREATE UNIQUE INDEX data_keys_current_idx ON data_keys (scope)
    WHERE retired_at IS NULL AND destroyed_at IS NULL;
CREATE INDEX data_keys_scope_idx ON data_keys (scope);

CREATE TABLE rooms (
    id           uuid PRIMARY KEY,
    slug         text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
    kind         text NOT NULL
                 CHECK (kind IN ('regional', 'subregional', 'working_group', 'workshop',
                                 'plenary')),
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 120),
    description  text NOT NULL DEFAULT '' CHECK (length(description) <= 2000),
    region_code  text REFERENCES regions (code),
    parent_id    uuid REFERENCES rooms (id),
    confidential boolean NOT NULL DEFAULT true,
    created_by   uuid REFERENCES users (id),
    created_at   timestamptz NOT NULL DEFAULT now(),
    archived_at  timestamptz,
    CHECK (parent_id IS NULL OR kind = 'working_group')
);

CREATE TABLE room_members (
    room_id   uuid NOT NULL REFERENCES rooms (id),
    user_id   uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    room_role text NOT NULL DEFAULT 'member' CHECK (room_role IN ('member', 'facilitator')),
    added_by  uuid REFERENCES users (id),
    added_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (room_id, user_id)
);
CREATE INDEX room_members_user_idx ON room_members (user_id, room_id);

-- Title and bodies are AES-256-GCM ciphertexts under the room's data key (crypto/envelope.py).
CREATE TABLE threads (
    id           uuid PRIMARY KEY,
    room_id      uuid NOT NULL REFERENCES rooms (id),
    author_id    uuid REFERENCES users (id),
    title        bytea NOT NULL,
    pinned       boolean NOT NULL DEFAULT false,
    locked       boolean NOT NULL DEFAULT false,
    post_count   integer NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_post_at timestamptz NOT NULL DEFAULT now()
);
-- Keyset pagination of a room's thread list: pinned first, then latest activity.
CREATE INDEX threads_room_activity_idx ON threads (room_id, pinned DESC, last_post_at DESC, id DESC);

CREATE TABLE posts (
    id          uuid PRIMARY KEY,
    thread_id   uuid NOT NULL REFERENCES threads (id),
    room_id     uuid NOT NULL REFERENCES rooms (id),
    author_id   uuid REFERENCES users (id),
    seq         integer NOT NULL CHECK (seq >= 1),
    body        bytea,
    html        bytea,
    quote_of    uuid REFERENCES posts (id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    edited_at   timestamptz,
    deleted_at  timestamptz,
    hidden_at   timestamptz,
    hidden_reason text CHECK (length(hidden_reason) <= 500),
    CHECK ((deleted_at IS NULL) = (body IS NOT NULL AND html IS NOT NULL)),
    UNIQUE (thread_id, seq)
);
CREATE INDEX posts_author_time_idx ON posts (author_id, created_at);

CREATE TABLE post_revisions (
    id         uuid PRIMARY KEY,
    post_id    uuid NOT NULL REFERENCES posts (id),
    revision   integer NOT NULL CHECK (revision >= 1),
    body       bytea,
    editor_id  uuid REFERENCES users (id),
    created_at timestamptz NOT NULL,
    UNIQUE (post_id, revision)
);

CREATE TABLE post_mentions (
    post_id uuid NOT NULL REFERENCES posts (id),
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (post_id, user_id)
);
CREATE INDEX post_mentions_user_idx ON post_mentions (user_id);

CREATE TABLE post_flags (
    id          uuid PRIMARY KEY,
    post_id     uuid NOT NULL REFERENCES posts (id),
    room_id     uuid NOT NULL REFERENCES rooms (id),
    flagger_id  uuid REFERENCES users (id) ON DELETE SET NULL,
    reason      text NOT NULL
                CHECK (reason IN ('identifying_information', 'sensitive_detail', 'harassment',
                                  'spam', 'off_topic', 'other')),
    note        bytea,
    created_at  timestamptz NOT NULL DEFAULT now(),
    resolved_at timestamptz,
    UNIQUE (post_id, flagger_id)
);
CREATE INDEX post_flags_open_idx ON post_flags (created_at) WHERE resolved_at IS NULL;

CREATE TABLE thread_reads (
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    thread_id     uuid NOT NULL REFERENCES threads (id),
    last_read_seq integer NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, thread_id)
);
