-- Case forms already sent, so that a reload of the receipt page or a double click does not
-- share the same case twice. A row holds a keyed hash of the form's random token and a date:
-- nothing that names the case, the account, the State or the time of day.

CREATE TABLE case_submissions (
    token_hash   bytea PRIMARY KEY CHECK (length(token_hash) = 32),
    submitted_on date NOT NULL
);
