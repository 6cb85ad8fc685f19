-- esim-store schema, PostgreSQL (times: ms since the Unix epoch; JSON as TEXT).
CREATE TABLE eis (
    eid TEXT PRIMARY KEY NOT NULL,
    eum_id TEXT NOT NULL,
    smsr_id TEXT NOT NULL,
    platform_type TEXT NOT NULL,
    platform_version TEXT NOT NULL,
    signed_eis_key_id TEXT NOT NULL,
    signed_eis BYTEA NOT NULL,
    remaining_memory BIGINT NOT NULL,
    available_memory BIGINT NOT NULL,
    last_audit BIGINT,
    locked_by TEXT,
    additional_properties TEXT NOT NULL,
    version BIGINT NOT NULL,
    registered_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE profiles (
    eid TEXT NOT NULL REFERENCES eis(eid) ON DELETE CASCADE,
    iccid TEXT NOT NULL,
    isd_p_aid TEXT NOT NULL,
    mno_id TEXT NOT NULL,
    smdp_id TEXT NOT NULL,
    profile_type TEXT NOT NULL,
    state TEXT NOT NULL,
    fallback BOOLEAN NOT NULL,
    imsi TEXT,
    msisdn TEXT,
    pol2 TEXT,
    allocated_memory BIGINT NOT NULL,
    free_memory BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (eid, iccid),
    UNIQUE (eid, isd_p_aid)
);

CREATE TABLE keysets (
    eid TEXT NOT NULL REFERENCES eis(eid) ON DELETE CASCADE,
    kvn BIGINT NOT NULL,
    kind TEXT NOT NULL,
    keys_key_id TEXT NOT NULL,
    keys BYTEA NOT NULL,
    psk_identity BYTEA,
    counter BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (eid, kvn)
);

CREATE TABLE operations (
    id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    owner TEXT NOT NULL,
    function_call_id TEXT,
    eid TEXT,
    state TEXT NOT NULL,
    status TEXT NOT NULL,
    wake_at BIGINT,
    result TEXT,
    lease_holder TEXT,
    lease_until BIGINT,
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (owner, function_call_id)
);
CREATE INDEX operations_runnable ON operations (status, wake_at);
CREATE INDEX operations_eid ON operations (eid);

CREATE TABLE queue_seq (
    eid TEXT PRIMARY KEY NOT NULL,
    last_seq BIGINT NOT NULL
);

CREATE TABLE commands (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    eid TEXT NOT NULL,
    seq BIGINT NOT NULL,
    operation_id TEXT,
    payload BYTEA NOT NULL,
    attempts BIGINT NOT NULL,
    not_before BIGINT NOT NULL,
    expires_at BIGINT,
    status TEXT NOT NULL,
    lease_holder TEXT,
    lease_until BIGINT,
    last_error TEXT,
    enqueued_at BIGINT NOT NULL,
    UNIQUE (eid, seq)
);
CREATE INDEX commands_open ON commands (status, eid, seq);

CREATE TABLE inventory (
    iccid TEXT PRIMARY KEY NOT NULL,
    imsi TEXT,
    profile_type TEXT NOT NULL,
    owner TEXT NOT NULL,
    template TEXT,
    secrets_key_id TEXT NOT NULL,
    secrets BYTEA NOT NULL,
    state TEXT NOT NULL,
    eid TEXT,
    imported_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX inventory_pick ON inventory (owner, profile_type, state, iccid);

CREATE TABLE operators (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    roles TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE operator_tokens (
    token_hash BYTEA PRIMARY KEY NOT NULL,
    operator_id TEXT NOT NULL REFERENCES operators(id) ON DELETE CASCADE
);

CREATE TABLE audit (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at BIGINT NOT NULL,
    eid TEXT,
    iccid TEXT,
    isd_p_aid TEXT,
    operator TEXT,
    function TEXT NOT NULL,
    function_call_id TEXT,
    status TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX audit_eid ON audit (eid, id);
CREATE INDEX audit_operator ON audit (operator, id);

CREATE TABLE calls (
    caller TEXT NOT NULL,
    function_call_id TEXT NOT NULL,
    function TEXT NOT NULL,
    request_hash BYTEA NOT NULL,
    operation_id TEXT,
    response BYTEA,
    created_at BIGINT NOT NULL,
    completed_at BIGINT,
    PRIMARY KEY (caller, function_call_id)
);
