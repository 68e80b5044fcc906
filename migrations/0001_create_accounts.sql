-- Foundation: reference data (regions, States), accounts, invitations, sessions, tokens,
-- sign-in throttling and the keyed audit chain.

CREATE TABLE regions (
    code        text PRIMARY KEY CHECK (code ~ '^[a-z][a-z0-9_]{1,31}$'),
    name_en     text NOT NULL,
    name_fr     text NOT NULL,
    name_es     text NOT NULL,
    position    integer NOT NULL DEFAULT 0
);

-- The five UN regional groups (domain-notes §4). Configurable: admins may add others.
INSERT INTO regions (code, name_en, name_fr, name_es, position) VALUES
    ('african', 'African Group', 'Groupe des États d''Afrique', 'Grupo de Estados de África', 1),
    ('asia_pacific', 'Asia-Pacific Group', 'Groupe des États d''Asie et du Pacifique',
        'Grupo de Estados de Asia y el Pacífico', 2),
    ('eastern_european', 'Eastern European Group', 'Groupe des États d''Europe orientale',
        'Grupo de Estados de Europa Oriental', 3),
    ('latin_american_caribbean', 'Latin American and Caribbean Group',
        'Groupe des États d''Amérique latine et des Caraïbes',
        'Grupo de Estados de América Latina y el Caribe', 4),
    ('western_european_others', 'Western European and Others Group',
        'Groupe des États d''Europe occidentale et autres États',
        'Grupo de Estados de Europa Occidental y otros Estados', 5);

-- ISO 3166-1 States, names from pycountry/Babel (seeded by forum.refdata at migrate time).
-- ATT status starts 'unknown' for every State: no verifiable list ships with the code, so
-- an administrator records party/signatory status from the Secretariat's own records.
CREATE TABLE states (
    iso3        char(3) PRIMARY KEY CHECK (iso3 ~ '^[A-Z]{3}$'),
    iso2        char(2) NOT NULL UNIQUE,
    name_en     text NOT NULL,
    name_fr     text NOT NULL,
    name_es     text NOT NULL,
    att_status  text NOT NULL DEFAULT 'unknown'
                CHECK (att_status IN ('party', 'signatory', 'other', 'unknown')),
    region_code text REFERENCES regions (code),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id                uuid PRIMARY KEY,
    email             text NOT NULL UNIQUE CHECK (email = lower(email) AND length(email) <= 254),
    display_name      text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 80),
    role              text NOT NULL
                      CHECK (role IN ('admin', 'moderator', 'facilitator', 'delegate', 'observer')),
    state_iso3        char(3) REFERENCES states (iso3),
    password_hash     text NOT NULL,
    language          text CHECK (language IN ('en', 'fr', 'es')),
    totp_secret       bytea,
    totp_pending      bytea,
    totp_last_counter bigint,
    totp_enrolled_at  timestamptz,
    is_demo           boolean NOT NULL DEFAULT false,
    disabled_at       timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    CHECK (role <> 'delegate' OR state_iso3 IS NOT NULL)
);

CREATE TABLE recovery_codes (
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  bytea NOT NULL,
    used_at    timestamptz,
    PRIMARY KEY (user_id, code_hash)
);

CREATE TABLE invitations (
    id               uuid PRIMARY KEY,
    token_hash       bytea NOT NULL UNIQUE,
    email            text NOT NULL CHECK (email = lower(email)),
    role             text NOT NULL
                     CHECK (role IN ('admin', 'moderator', 'facilitator', 'delegate', 'observer')),
    state_iso3       char(3) REFERENCES states (iso3),
    invited_by       uuid REFERENCES users (id),
    created_at       timestamptz NOT NULL DEFAULT now(),
    expires_at       timestamptz NOT NULL,
    accepted_at      timestamptz,
    accepted_user_id uuid REFERENCES users (id),
    CHECK (role <> 'delegate' OR state_iso3 IS NOT NULL)
);
CREATE INDEX invitations_email_idx ON invitations (email);

-- Server-side sessions: the cookie holds a 256-bit random token, the table only its SHA-256.
CREATE TABLE sessions (
    id           uuid PRIMARY KEY,
    token_hash   bytea NOT NULL UNIQUE,
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    mfa_passed   boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    client_label text NOT NULL DEFAULT '' CHECK (length(client_label) <= 120)
);
CREATE INDEX sessions_user_idx ON sessions (user_id);

CREATE TABLE api_tokens (
    id           uuid PRIMARY KEY,
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 80),
    token_hash   bytea NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX api_tokens_user_idx ON api_tokens (user_id);

-- Failed sign-ins, keyed by an HMAC of the email or the client address (never raw values).
CREATE TABLE login_failures (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind       text NOT NULL CHECK (kind IN ('account', 'client')),
    key_hash   bytea NOT NULL,
    failed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_failures_key_idx ON login_failures (kind, key_hash, failed_at);

-- Append-only keyed chain; see forum/audit.py and crypto/chain.py.
CREATE TABLE audit_log (
    seq         bigint PRIMARY KEY,
    occurred_at timestamptz NOT NULL,
    actor_id    uuid,
    action      text NOT NULL,
    target_type text NOT NULL DEFAULT '',
    target_id   text NOT NULL DEFAULT '',
    details     jsonb NOT NULL DEFAULT '{}'::jsonb,
    key_id      text NOT NULL,
    prev_mac    bytea NOT NULL,
    mac         bytea NOT NULL
);
CREATE INDEX audit_log_actor_idx ON audit_log (actor_id, seq);
