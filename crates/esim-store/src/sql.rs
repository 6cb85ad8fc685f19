//! The SQL implementation shared by SQLite and PostgreSQL.
//!
//! Both backends run the same statements (`$1`-style placeholders work on
//! both: sqlx binds SQLite's `$NNN` parameters by number). The differences are
//! passed to [`sql_backend!`] as literals: PostgreSQL claims with
//! `FOR UPDATE SKIP LOCKED` and locks the parent row with `FOR UPDATE`; SQLite
//! has neither and needs neither, because its store uses a single connection
//! (one writer; every statement and transaction runs alone).

use std::fmt::Display;
use std::str::FromStr;

use crate::error::StoreError;

/// Maps a sqlx error: unique violations become [`StoreError::Duplicate`] of
/// `what`/`key`, foreign-key violations [`StoreError::NotFound`] of the parent
/// `parent`/`key`, everything else [`StoreError::Backend`].
pub(crate) fn map_err(
    what: &'static str,
    parent: &'static str,
    key: impl Display,
) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| match &e {
        sqlx::Error::Database(d) => match d.kind() {
            sqlx::error::ErrorKind::UniqueViolation => StoreError::duplicate(what, key),
            sqlx::error::ErrorKind::ForeignKeyViolation => StoreError::not_found(parent, key),
            _ => StoreError::Backend(e.to_string()),
        },
        _ => StoreError::Backend(e.to_string()),
    }
}

/// Any other sqlx error.
pub(crate) fn backend(e: sqlx::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

pub(crate) fn parse<T: FromStr>(col: &str, s: &str) -> Result<T, StoreError>
where
    T::Err: Display,
{
    s.parse()
        .map_err(|e| StoreError::Corrupt(format!("column {col}: {e}")))
}

pub(crate) fn json_text(v: &serde_json::Value) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(crate) fn json_parse<T: serde::de::DeserializeOwned>(
    col: &str,
    s: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("column {col}: {e}")))
}

pub(crate) fn to_u32(col: &str, v: i64) -> Result<u32, StoreError> {
    u32::try_from(v).map_err(|_| StoreError::Corrupt(format!("column {col}: {v} out of range")))
}

pub(crate) fn to_u64(col: &str, v: i64) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("column {col}: {v} out of range")))
}

pub(crate) fn to_u8(col: &str, v: i64) -> Result<u8, StoreError> {
    u8::try_from(v).map_err(|_| StoreError::Corrupt(format!("column {col}: {v} out of range")))
}

pub(crate) fn limit(n: u32) -> i64 {
    if n == 0 { i64::MAX } else { i64::from(n) }
}

pub(crate) fn hash32(col: &str, v: Vec<u8>) -> Result<[u8; 32], StoreError> {
    <[u8; 32]>::try_from(v.as_slice())
        .map_err(|_| StoreError::Corrupt(format!("column {col}: {} bytes, expected 32", v.len())))
}

/// Generates the trait implementations for one SQL backend.
///
/// `$store` must have a field `pool: sqlx::Pool<$db>`; `$skip_locked` is the
/// row-locking clause for claim sub-selects, `$for_update` the one for
/// locking a parent row.
macro_rules! sql_backend {
    ($store:ident, $db:ty, $row:ty, skip_locked = $skip_locked:literal, for_update = $for_update:literal) => {
        mod sql_impl {
            use super::$store;
            use async_trait::async_trait;
            use esim_codec::ids::{Aid, Eid, Iccid, Imsi};
            use sqlx::Row;

            use crate::error::{StoreError, StoreResult};
            use crate::memory::{COUNTER_MAX, check_counter};
            use crate::model::*;
            use crate::sql::{
                backend, hash32, json_parse, json_text, limit, map_err, parse, to_u8, to_u32,
                to_u64,
            };
            use crate::traits::*;

            type R = $row;

            fn col<'r, T>(row: &'r R, name: &str) -> StoreResult<T>
            where
                T: sqlx::Decode<'r, $db> + sqlx::Type<$db>,
            {
                row.try_get(name)
                    .map_err(|e| StoreError::Corrupt(format!("column {name}: {e}")))
            }

            fn opt_parse<T: std::str::FromStr>(
                name: &str,
                v: Option<String>,
            ) -> StoreResult<Option<T>>
            where
                T::Err: std::fmt::Display,
            {
                v.map(|s| parse(name, &s)).transpose()
            }

            fn lease(holder: Option<String>, until: Option<i64>) -> Option<Lease> {
                match (holder, until) {
                    (Some(holder), Some(until)) => Some(Lease {
                        holder,
                        until: Timestamp(until),
                    }),
                    _ => None,
                }
            }

            fn eis_from(row: &R) -> StoreResult<EisRecord> {
                Ok(EisRecord {
                    eid: parse("eid", &col::<String>(row, "eid")?)?,
                    eum_id: col(row, "eum_id")?,
                    smsr_id: col(row, "smsr_id")?,
                    platform_type: col(row, "platform_type")?,
                    platform_version: col(row, "platform_version")?,
                    signed_eis: SealedBlob {
                        key_id: col(row, "signed_eis_key_id")?,
                        bytes: col(row, "signed_eis")?,
                    },
                    remaining_memory: to_u32("remaining_memory", col(row, "remaining_memory")?)?,
                    available_memory_for_profiles: to_u32(
                        "available_memory",
                        col(row, "available_memory")?,
                    )?,
                    last_audit: col::<Option<i64>>(row, "last_audit")?.map(Timestamp),
                    locked_by: opt_parse("locked_by", col(row, "locked_by")?)?,
                    additional_properties: json_parse(
                        "additional_properties",
                        &col::<String>(row, "additional_properties")?,
                    )?,
                    version: col(row, "version")?,
                    registered_at: Timestamp(col(row, "registered_at")?),
                    updated_at: Timestamp(col(row, "updated_at")?),
                })
            }

            fn profile_from(row: &R) -> StoreResult<ProfileRecord> {
                let pol2: Option<String> = col(row, "pol2")?;
                Ok(ProfileRecord {
                    eid: parse("eid", &col::<String>(row, "eid")?)?,
                    iccid: parse("iccid", &col::<String>(row, "iccid")?)?,
                    isd_p_aid: parse::<Aid>("isd_p_aid", &col::<String>(row, "isd_p_aid")?)?,
                    mno_id: col(row, "mno_id")?,
                    smdp_id: col(row, "smdp_id")?,
                    profile_type: col(row, "profile_type")?,
                    state: ProfileState::parse(&col::<String>(row, "state")?)?,
                    fallback: col(row, "fallback")?,
                    subscription_address: SubscriptionAddress {
                        imsi: opt_parse::<Imsi>("imsi", col(row, "imsi")?)?,
                        msisdn: col(row, "msisdn")?,
                    },
                    pol2: pol2.map(|s| json_parse("pol2", &s)).transpose()?,
                    allocated_memory: to_u32("allocated_memory", col(row, "allocated_memory")?)?,
                    free_memory: to_u32("free_memory", col(row, "free_memory")?)?,
                    updated_at: Timestamp(col(row, "updated_at")?),
                })
            }

            fn keyset_from(row: &R) -> StoreResult<KeysetRecord> {
                Ok(KeysetRecord {
                    eid: parse("eid", &col::<String>(row, "eid")?)?,
                    kvn: to_u8("kvn", col(row, "kvn")?)?,
                    kind: KeysetKind::parse(&col::<String>(row, "kind")?)?,
                    keys: SealedBlob {
                        key_id: col(row, "keys_key_id")?,
                        bytes: col(row, "keys")?,
                    },
                    psk_identity: col(row, "psk_identity")?,
                    counter: to_u64("counter", col(row, "counter")?)?,
                    created_at: Timestamp(col(row, "created_at")?),
                })
            }

            fn op_from(row: &R) -> StoreResult<Operation> {
                let result: Option<String> = col(row, "result")?;
                Ok(Operation {
                    id: OperationId::parse(&col::<String>(row, "id")?)?,
                    kind: col(row, "kind")?,
                    owner: col(row, "owner")?,
                    function_call_id: col(row, "function_call_id")?,
                    eid: opt_parse::<Eid>("eid", col(row, "eid")?)?,
                    state: json_parse("state", &col::<String>(row, "state")?)?,
                    status: OperationStatus::parse(&col::<String>(row, "status")?)?,
                    wake_at: col::<Option<i64>>(row, "wake_at")?.map(Timestamp),
                    result: result.map(|s| json_parse("result", &s)).transpose()?,
                    lease: lease(col(row, "lease_holder")?, col(row, "lease_until")?),
                    version: col(row, "version")?,
                    created_at: Timestamp(col(row, "created_at")?),
                    updated_at: Timestamp(col(row, "updated_at")?),
                })
            }

            fn cmd_from(row: &R) -> StoreResult<QueuedCommand> {
                Ok(QueuedCommand {
                    id: col(row, "id")?,
                    eid: parse("eid", &col::<String>(row, "eid")?)?,
                    seq: col(row, "seq")?,
                    operation_id: col::<Option<String>>(row, "operation_id")?
                        .map(|s| OperationId::parse(&s))
                        .transpose()?,
                    payload: col(row, "payload")?,
                    attempts: to_u32("attempts", col(row, "attempts")?)?,
                    not_before: Timestamp(col(row, "not_before")?),
                    expires_at: col::<Option<i64>>(row, "expires_at")?.map(Timestamp),
                    status: CommandStatus::parse(&col::<String>(row, "status")?)?,
                    lease: lease(col(row, "lease_holder")?, col(row, "lease_until")?),
                    last_error: col(row, "last_error")?,
                    enqueued_at: Timestamp(col(row, "enqueued_at")?),
                    result: col(row, "result")?,
                })
            }

            fn inv_from(row: &R) -> StoreResult<InventoryProfile> {
                Ok(InventoryProfile {
                    iccid: parse("iccid", &col::<String>(row, "iccid")?)?,
                    imsi: opt_parse::<Imsi>("imsi", col(row, "imsi")?)?,
                    profile_type: col(row, "profile_type")?,
                    owner: col(row, "owner")?,
                    template: col(row, "template")?,
                    secrets: SealedBlob {
                        key_id: col(row, "secrets_key_id")?,
                        bytes: col(row, "secrets")?,
                    },
                    state: InventoryState::parse(&col::<String>(row, "state")?)?,
                    eid: opt_parse::<Eid>("eid", col(row, "eid")?)?,
                    imported_at: Timestamp(col(row, "imported_at")?),
                    updated_at: Timestamp(col(row, "updated_at")?),
                })
            }

            fn audit_from(row: &R) -> StoreResult<AuditEntry> {
                Ok(AuditEntry {
                    id: col(row, "id")?,
                    at: Timestamp(col(row, "at")?),
                    eid: opt_parse::<Eid>("eid", col(row, "eid")?)?,
                    iccid: opt_parse::<Iccid>("iccid", col(row, "iccid")?)?,
                    isd_p_aid: opt_parse::<Aid>("isd_p_aid", col(row, "isd_p_aid")?)?,
                    operator: col(row, "operator")?,
                    function: col(row, "function")?,
                    function_call_id: col(row, "function_call_id")?,
                    status: col(row, "status")?,
                    detail: json_parse("detail", &col::<String>(row, "detail")?)?,
                })
            }

            fn call_from(row: &R) -> StoreResult<IdempotencyRecord> {
                Ok(IdempotencyRecord {
                    caller: col(row, "caller")?,
                    function_call_id: col(row, "function_call_id")?,
                    function: col(row, "function")?,
                    request_hash: hash32("request_hash", col(row, "request_hash")?)?,
                    operation_id: col::<Option<String>>(row, "operation_id")?
                        .map(|s| OperationId::parse(&s))
                        .transpose()?,
                    response: col(row, "response")?,
                    created_at: Timestamp(col(row, "created_at")?),
                    completed_at: col::<Option<i64>>(row, "completed_at")?.map(Timestamp),
                })
            }

            fn ks_key(eid: &Eid, kvn: u8) -> String {
                format!("{eid}/{kvn}")
            }

            const INSERT_PROFILE: &str = "INSERT INTO profiles (eid, iccid, isd_p_aid, mno_id, smdp_id, profile_type, state, fallback, imsi, msisdn, pol2, allocated_memory, free_memory, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)";

            fn bind_profile<'q>(
                q: sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments>,
                p: &ProfileRecord,
            ) -> StoreResult<sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments>> {
                let pol2 = p.pol2.as_ref().map(json_text).transpose()?;
                Ok(q.bind(p.eid.to_string())
                    .bind(p.iccid.to_string())
                    .bind(p.isd_p_aid.to_string())
                    .bind(p.mno_id.clone())
                    .bind(p.smdp_id.clone())
                    .bind(p.profile_type.clone())
                    .bind(p.state.as_str())
                    .bind(p.fallback)
                    .bind(p.subscription_address.imsi.as_ref().map(|i| i.to_string()))
                    .bind(p.subscription_address.msisdn.clone())
                    .bind(pol2)
                    .bind(i64::from(p.allocated_memory))
                    .bind(i64::from(p.free_memory))
                    .bind(p.updated_at.0))
            }

            const UPSERT_KEYSET: &str = "INSERT INTO keysets (eid, kvn, kind, keys_key_id, keys, psk_identity, counter, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (eid, kvn) DO UPDATE SET kind = excluded.kind, keys_key_id = excluded.keys_key_id, keys = excluded.keys, psk_identity = excluded.psk_identity, counter = CASE WHEN keysets.counter > excluded.counter THEN keysets.counter ELSE excluded.counter END, created_at = excluded.created_at";

            fn bind_keyset<'q>(
                q: sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments>,
                k: &KeysetRecord,
            ) -> StoreResult<sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments>> {
                check_counter(&k.eid, k.kvn, k.counter)?;
                Ok(q.bind(k.eid.to_string())
                    .bind(i64::from(k.kvn))
                    .bind(k.kind.as_str())
                    .bind(k.keys.key_id.clone())
                    .bind(k.keys.bytes.clone())
                    .bind(k.psk_identity.clone())
                    .bind(k.counter as i64)
                    .bind(k.created_at.0))
            }

            #[async_trait]
            impl EisStore for $store {
                async fn register_eis(
                    &self,
                    eis: &EisRecord,
                    keysets: &[KeysetRecord],
                    profiles: &[ProfileRecord],
                ) -> StoreResult<()> {
                    let mut tx = self.pool.begin().await.map_err(backend)?;
                    let props = serde_json::to_string(&eis.additional_properties)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    sqlx::query("INSERT INTO eis (eid, eum_id, smsr_id, platform_type, platform_version, signed_eis_key_id, signed_eis, remaining_memory, available_memory, last_audit, locked_by, additional_properties, version, registered_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 1, $13, $14)")
                        .bind(eis.eid.to_string())
                        .bind(eis.eum_id.clone())
                        .bind(eis.smsr_id.clone())
                        .bind(eis.platform_type.clone())
                        .bind(eis.platform_version.clone())
                        .bind(eis.signed_eis.key_id.clone())
                        .bind(eis.signed_eis.bytes.clone())
                        .bind(i64::from(eis.remaining_memory))
                        .bind(i64::from(eis.available_memory_for_profiles))
                        .bind(eis.last_audit.map(|t| t.0))
                        .bind(eis.locked_by.as_ref().map(|o| o.to_string()))
                        .bind(props)
                        .bind(eis.registered_at.0)
                        .bind(eis.updated_at.0)
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err("eis", "eis", &eis.eid))?;
                    for p in profiles {
                        if p.eid != eis.eid {
                            return Err(StoreError::invalid("profile", &p.iccid, "belongs to another EID"));
                        }
                        bind_profile(sqlx::query(INSERT_PROFILE), p)?
                            .execute(&mut *tx)
                            .await
                            .map_err(map_err("profile", "eis", &p.iccid))?;
                    }
                    for k in keysets {
                        if k.eid != eis.eid {
                            return Err(StoreError::invalid("keyset", k.kvn, "belongs to another EID"));
                        }
                        // Plain insert: a repeated KVN in one registration is a duplicate.
                        bind_keyset(sqlx::query("INSERT INTO keysets (eid, kvn, kind, keys_key_id, keys, psk_identity, counter, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"), k)?
                            .execute(&mut *tx)
                            .await
                            .map_err(map_err("keyset", "eis", k.kvn))?;
                    }
                    tx.commit().await.map_err(backend)
                }

                async fn get_eis(&self, eid: &Eid) -> StoreResult<EisRecord> {
                    let row = sqlx::query("SELECT * FROM eis WHERE eid = $1")
                        .bind(eid.to_string())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(backend)?;
                    row.as_ref()
                        .map(eis_from)
                        .transpose()?
                        .ok_or_else(|| StoreError::not_found("eis", eid))
                }

                async fn update_eis(&self, eis: &EisRecord) -> StoreResult<i64> {
                    let props = serde_json::to_string(&eis.additional_properties)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    let row = sqlx::query("UPDATE eis SET eum_id = $2, smsr_id = $3, platform_type = $4, platform_version = $5, signed_eis_key_id = $6, signed_eis = $7, remaining_memory = $8, available_memory = $9, last_audit = $10, locked_by = $11, additional_properties = $12, updated_at = $13, version = version + 1 WHERE eid = $1 AND version = $14 RETURNING version")
                        .bind(eis.eid.to_string())
                        .bind(eis.eum_id.clone())
                        .bind(eis.smsr_id.clone())
                        .bind(eis.platform_type.clone())
                        .bind(eis.platform_version.clone())
                        .bind(eis.signed_eis.key_id.clone())
                        .bind(eis.signed_eis.bytes.clone())
                        .bind(i64::from(eis.remaining_memory))
                        .bind(i64::from(eis.available_memory_for_profiles))
                        .bind(eis.last_audit.map(|t| t.0))
                        .bind(eis.locked_by.as_ref().map(|o| o.to_string()))
                        .bind(props)
                        .bind(eis.updated_at.0)
                        .bind(eis.version)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(backend)?;
                    match row {
                        Some(r) => col(&r, "version"),
                        None => {
                            self.get_eis(&eis.eid).await?;
                            Err(StoreError::VersionMismatch {
                                what: "eis",
                                key: eis.eid.to_string(),
                                expected: eis.version,
                            })
                        }
                    }
                }

                async fn delete_eis(&self, eid: &Eid) -> StoreResult<()> {
                    let mut tx = self.pool.begin().await.map_err(backend)?;
                    for sql in ["DELETE FROM profiles WHERE eid = $1", "DELETE FROM keysets WHERE eid = $1"] {
                        sqlx::query(sql)
                            .bind(eid.to_string())
                            .execute(&mut *tx)
                            .await
                            .map_err(backend)?;
                    }
                    let n = sqlx::query("DELETE FROM eis WHERE eid = $1")
                        .bind(eid.to_string())
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?
                        .rows_affected();
                    if n == 0 {
                        return Err(StoreError::not_found("eis", eid));
                    }
                    tx.commit().await.map_err(backend)
                }

                async fn list_eids(&self, after: Option<&Eid>, lim: u32) -> StoreResult<Vec<Eid>> {
                    let rows = sqlx::query("SELECT eid FROM eis WHERE eid > $1 ORDER BY eid LIMIT $2")
                        .bind(after.map(|e| e.to_string()).unwrap_or_default())
                        .bind(i64::from(lim))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(backend)?;
                    rows.iter()
                        .map(|r| parse("eid", &col::<String>(r, "eid")?))
                        .collect()
                }

                async fn insert_profile(&self, p: &ProfileRecord) -> StoreResult<()> {
                    bind_profile(sqlx::query(INSERT_PROFILE), p)?
                        .execute(&self.pool)
                        .await
                        .map_err(|e| match map_err("profile", "eis", &p.iccid)(e) {
                            StoreError::NotFound { .. } => StoreError::not_found("eis", &p.eid),
                            other => other,
                        })?;
                    Ok(())
                }

                async fn update_profile(&self, p: &ProfileRecord) -> StoreResult<()> {
                    let pol2 = p.pol2.as_ref().map(json_text).transpose()?;
                    let n = sqlx::query("UPDATE profiles SET isd_p_aid = $3, mno_id = $4, smdp_id = $5, profile_type = $6, state = $7, fallback = $8, imsi = $9, msisdn = $10, pol2 = $11, allocated_memory = $12, free_memory = $13, updated_at = $14 WHERE eid = $1 AND iccid = $2")
                        .bind(p.eid.to_string())
                        .bind(p.iccid.to_string())
                        .bind(p.isd_p_aid.to_string())
                        .bind(p.mno_id.clone())
                        .bind(p.smdp_id.clone())
                        .bind(p.profile_type.clone())
                        .bind(p.state.as_str())
                        .bind(p.fallback)
                        .bind(p.subscription_address.imsi.as_ref().map(|i| i.to_string()))
                        .bind(p.subscription_address.msisdn.clone())
                        .bind(pol2)
                        .bind(i64::from(p.allocated_memory))
                        .bind(i64::from(p.free_memory))
                        .bind(p.updated_at.0)
                        .execute(&self.pool)
                        .await
                        .map_err(map_err("profile", "eis", &p.isd_p_aid))?
                        .rows_affected();
                    if n == 0 {
                        return Err(StoreError::not_found("profile", &p.iccid));
                    }
                    Ok(())
                }

                async fn get_profile(&self, eid: &Eid, iccid: &Iccid) -> StoreResult<ProfileRecord> {
                    let row = sqlx::query("SELECT * FROM profiles WHERE eid = $1 AND iccid = $2")
                        .bind(eid.to_string())
                        .bind(iccid.to_string())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(backend)?;
                    row.as_ref()
                        .map(profile_from)
                        .transpose()?
                        .ok_or_else(|| StoreError::not_found("profile", iccid))
                }

                async fn profiles(&self, eid: &Eid) -> StoreResult<Vec<ProfileRecord>> {
                    let rows = sqlx::query("SELECT * FROM profiles WHERE eid = $1 ORDER BY iccid")
                        .bind(eid.to_string())
                        .fetch_all(&self.pool)
                        .await
                        .map_err(backend)?;
                    rows.iter().map(profile_from).collect()
                }

                async fn set_profile_state(
                    &self,
                    eid: &Eid,
                    iccid: &Iccid,
                    state: ProfileState,
                    now: Timestamp,
                ) -> StoreResult<()> {
                    let mut tx = self.pool.begin().await.map_err(backend)?;
                    // Serialize profile changes of one eUICC (row lock on PostgreSQL).
                    sqlx::query(concat!("SELECT eid FROM eis WHERE eid = $1", $for_update))
                        .bind(eid.to_string())
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(backend)?
                        .ok_or_else(|| StoreError::not_found("profile", iccid))?;
                    let n = sqlx::query("UPDATE profiles SET state = $3, updated_at = $4 WHERE eid = $1 AND iccid = $2")
                        .bind(eid.to_string())
                        .bind(iccid.to_string())
                        .bind(state.as_str())
                        .bind(now.0)
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?
                        .rows_affected();
                    if n == 0 {
                        return Err(StoreError::not_found("profile", iccid));
                    }
                    if state == ProfileState::Enabled {
                        sqlx::query("UPDATE profiles SET state = 'Disabled', updated_at = $3 WHERE eid = $1 AND iccid <> $2 AND state = 'Enabled'")
                            .bind(eid.to_string())
                            .bind(iccid.to_string())
                            .bind(now.0)
                            .execute(&mut *tx)
                            .await
                            .map_err(backend)?;
                    }
                    tx.commit().await.map_err(backend)
                }

                async fn set_fallback(&self, eid: &Eid, iccid: &Iccid, now: Timestamp) -> StoreResult<()> {
                    let mut tx = self.pool.begin().await.map_err(backend)?;
                    sqlx::query(concat!("SELECT eid FROM eis WHERE eid = $1", $for_update))
                        .bind(eid.to_string())
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(backend)?
                        .ok_or_else(|| StoreError::not_found("profile", iccid))?;
                    let n = sqlx::query("UPDATE profiles SET fallback = (iccid = $2), updated_at = $3 WHERE eid = $1 AND (fallback OR iccid = $2)")
                        .bind(eid.to_string())
                        .bind(iccid.to_string())
                        .bind(now.0)
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?
                        .rows_affected();
                    let exists = sqlx::query("SELECT iccid FROM profiles WHERE eid = $1 AND iccid = $2")
                        .bind(eid.to_string())
                        .bind(iccid.to_string())
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(backend)?
                        .is_some();
                    if n == 0 || !exists {
                        return Err(StoreError::not_found("profile", iccid));
                    }
                    tx.commit().await.map_err(backend)
                }

                async fn delete_profile(&self, eid: &Eid, iccid: &Iccid) -> StoreResult<()> {
                    let n = sqlx::query("DELETE FROM profiles WHERE eid = $1 AND iccid = $2")
                        .bind(eid.to_string())
                        .bind(iccid.to_string())
                        .execute(&self.pool)
                        .await
                        .map_err(backend)?
                        .rows_affected();
                    if n == 0 {
                        return Err(StoreError::not_found("profile", iccid));
                    }
                    Ok(())
                }

                async fn put_keyset(&self, k: &KeysetRecord) -> StoreResult<()> {
                    bind_keyset(sqlx::query(UPSERT_KEYSET), k)?
                        .execute(&self.pool)
                        .await
                        .map_err(|e| match map_err("keyset", "eis", ks_key(&k.eid, k.kvn))(e) {
                            StoreError::NotFound { .. } => StoreError::not_found("eis", &k.eid),
                            other => other,
                        })?;
                    Ok(())
                }

                async fn get_keyset(&self, eid: &Eid, kvn: u8) -> StoreResult<KeysetRecord> {
                    let row = sqlx::query("SELECT * FROM keysets WHERE eid = $1 AND kvn = $2")
                        .bind(eid.to_string())
                        .bind(i64::from(kvn))
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(backend)?;
                    row.as_ref()
                        .map(keyset_from)
                        .transpose()?
                        .ok_or_else(|| StoreError::not_found("keyset", ks_key(eid, kvn)))
                }

                async fn keysets(&self, eid: &Eid) -> StoreResult<Vec<KeysetRecord>> {
                    let rows = sqlx::query("SELECT * FROM keysets WHERE eid = $1 ORDER BY kvn")
                        .bind(eid.to_string())
                        .fetch_all(&self.pool)
                        .await
                        .map_err(backend)?;
                    rows.iter().map(keyset_from).collect()
                }

                async fn delete_keyset(&self, eid: &Eid, kvn: u8) -> StoreResult<()> {
                    let n = sqlx::query("DELETE FROM keysets WHERE eid = $1 AND kvn = $2")
                        .bind(eid.to_string())
                        .bind(i64::from(kvn))
                        .execute(&self.pool)
                        .await
                        .map_err(backend)?
                        .rows_affected();
                    if n == 0 {
                        return Err(StoreError::not_found("keyset", ks_key(eid, kvn)));
                    }
                    Ok(())
                }
            }

            #[async_trait]
            impl CounterStore for $store {
                async fn allocate_counter(&self, eid: &Eid, kvn: u8) -> StoreResult<u64> {
                    let row = sqlx::query("UPDATE keysets SET counter = counter + 1 WHERE eid = $1 AND kvn = $2 AND counter < $3 RETURNING counter")
                        .bind(eid.to_string())
                        .bind(i64::from(kvn))
                        .bind(COUNTER_MAX as i64)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(backend)?;
                    match row {
                        Some(r) => to_u64("counter", col(&r, "counter")?),
                        None => {
                            self.get_keyset(eid, kvn).await?;
                            Err(StoreError::Exhausted(format!(
                                "SCP80 counter of keyset {eid}/{kvn} is at its maximum"
                            )))
                        }
                    }
                }

                async fn raise_counter(&self, eid: &Eid, kvn: u8, seen: u64) -> StoreResult<u64> {
                    check_counter(eid, kvn, seen)?;
                    let row = sqlx::query("UPDATE keysets SET counter = CASE WHEN counter < $3 THEN $3 ELSE counter END WHERE eid = $1 AND kvn = $2 RETURNING counter")
                        .bind(eid.to_string())
                        .bind(i64::from(kvn))
                        .bind(seen as i64)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(backend)?
                        .ok_or_else(|| StoreError::not_found("keyset", ks_key(eid, kvn)))?;
                    to_u64("counter", col(&row, "counter")?)
                }
            }

            impl $store {
                async fn diagnose_op(&self, id: &OperationId, expected: Option<i64>, detail: &str) -> StoreError {
                    match self.get_operation(id).await {
                        Err(e) => e,
                        Ok(op) if op.status.is_terminal() => {
                            StoreError::invalid("operation", id, format!("already {}", op.status))
                        }
                        Ok(_) => match expected {
                            Some(expected) => StoreError::VersionMismatch {
                                what: "operation",
                                key: id.to_string(),
                                expected,
                            },
                            None => StoreError::invalid("operation", id, detail),
                        },
                    }
                }

                async fn diagnose_cmd(&self, id: i64, holder: &str) -> StoreError {
                    match self.get_command(id).await {
                        Err(e) => e,
                        Ok(c) => StoreError::invalid(
                            "command",
                            id,
                            format!("not in flight for {holder} (status {})", c.status),
                        ),
                    }
                }

                async fn diagnose_inv(&self, iccid: &Iccid, want: &str) -> StoreError {
                    match self.get_inventory(iccid).await {
                        Err(e) => e,
                        Ok(p) => StoreError::invalid("inventory", iccid, format!("is {}, not {want}", p.state)),
                    }
                }
            }

            #[async_trait]
            impl OperationStore for $store {
                async fn create_operation(&self, n: &NewOperation) -> StoreResult<CreateOutcome> {
                    let res = sqlx::query("INSERT INTO operations (id, kind, owner, function_call_id, eid, state, status, wake_at, result, lease_holder, lease_until, version, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, $9, $10, 1, $11, $11) RETURNING *")
                        .bind(n.id.to_string())
                        .bind(n.kind.clone())
                        .bind(n.owner.clone())
                        .bind(n.function_call_id.clone())
                        .bind(n.eid.as_ref().map(|e| e.to_string()))
                        .bind(json_text(&n.state)?)
                        .bind(n.status.as_str())
                        .bind(n.wake_at.map(|t| t.0))
                        .bind(n.lease.as_ref().map(|l| l.holder.clone()))
                        .bind(n.lease.as_ref().map(|l| l.until.0))
                        .bind(n.now.0)
                        .fetch_one(&self.pool)
                        .await
                        .map_err(map_err("operation", "operation", &n.id));
                    match res {
                        Ok(row) => Ok(CreateOutcome::Created(op_from(&row)?)),
                        Err(StoreError::Duplicate { .. }) if n.function_call_id.is_some() => {
                            let fcid = n.function_call_id.as_deref().unwrap_or_default();
                            match self.find_operation(&n.owner, fcid).await? {
                                Some(op) => Ok(CreateOutcome::Existing(op)),
                                None => Err(StoreError::duplicate("operation", &n.id)),
                            }
                        }
                        Err(e) => Err(e),
                    }
                }

                async fn get_operation(&self, id: &OperationId) -> StoreResult<Operation> {
                    let row = sqlx::query("SELECT * FROM operations WHERE id = $1")
                        .bind(id.to_string())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(backend)?;
                    row.as_ref()
                        .map(op_from)
                        .transpose()?
                        .ok_or_else(|| StoreError::not_found("operation", id))
                }

                async fn find_operation(&self, owner: &str, fcid: &str) -> StoreResult<Option<Operation>> {
                    let row = sqlx::query("SELECT * FROM operations WHERE owner = $1 AND function_call_id = $2")
                        .bind(owner.to_string())
                        .bind(fcid.to_string())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(backend)?;
                    row.as_ref().map(op_from).transpose()
                }

                async fn save_step(
                    &self,
                    id: &OperationId,
                    expected_version: i64,
                    u: &OperationUpdate,
                ) -> StoreResult<Operation> {
                    let result = u.result.as_ref().map(json_text).transpose()?;
                    let row = sqlx::query("UPDATE operations SET state = $3, status = $4, wake_at = $5, result = $6, lease_holder = CASE WHEN $7 THEN NULL ELSE lease_holder END, lease_until = CASE WHEN $7 THEN NULL ELSE lease_until END, version = version + 1, updated_at = $8 WHERE id = $1 AND version = $2 AND status NOT IN ('succeeded', 'failed') RETURNING *")
                        .bind(id.to_string())
                        .bind(expected_version)
                        .bind(json_text(&u.state)?)
                        .bind(u.status.as_str())
                        .bind(u.wake_at.map(|t| t.0))
                        .bind(result)
                        .bind(u.release_lease)
                        .bind(u.now.0)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(backend)?;
                    match row {
                        Some(r) => op_from(&r),
                        None => Err(self.diagnose_op(id, Some(expected_version), "").await),
                    }
                }

                async fn claim_runnable(
                    &self,
                    holder: &str,
                    now: Timestamp,
                    lease_until: Timestamp,
                    lim: u32,
                ) -> StoreResult<Vec<Operation>> {
                    let rows = sqlx::query(concat!(
                        "UPDATE operations SET lease_holder = $1, lease_until = $2, version = version + 1, updated_at = $3 WHERE id IN (",
                        "SELECT id FROM operations WHERE ((status = 'runnable' AND (wake_at IS NULL OR wake_at <= $3)) OR (status = 'waiting' AND wake_at IS NOT NULL AND wake_at <= $3)) ",
                        "AND (lease_until IS NULL OR lease_until <= $3) ORDER BY COALESCE(wake_at, created_at), created_at, id LIMIT $4",
                        $skip_locked,
                        ") AND (lease_until IS NULL OR lease_until <= $3) RETURNING *"
                    ))
                    .bind(holder.to_string())
                    .bind(lease_until.0)
                    .bind(now.0)
                    .bind(i64::from(lim))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(backend)?;
                    let mut ops = rows.iter().map(op_from).collect::<StoreResult<Vec<_>>>()?;
                    ops.sort_by_key(|o| (o.wake_at.unwrap_or(o.created_at), o.created_at, o.id.clone()));
                    Ok(ops)
                }

                async fn claim_operation(
                    &self,
                    id: &OperationId,
                    holder: &str,
                    now: Timestamp,
                    lease_until: Timestamp,
                ) -> StoreResult<Operation> {
                    let row = sqlx::query("UPDATE operations SET lease_holder = $2, lease_until = $3, version = version + 1, updated_at = $4 WHERE id = $1 AND status NOT IN ('succeeded', 'failed') AND (lease_until IS NULL OR lease_until <= $4 OR lease_holder = $2) RETURNING *")
                        .bind(id.to_string())
                        .bind(holder.to_string())
                        .bind(lease_until.0)
                        .bind(now.0)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(backend)?;
                    match row {
                        Some(r) => op_from(&r),
                        None => Err(self.diagnose_op(id, None, "leased by another holder").await),
                    }
                }

                async fn expired_leases(&self, now: Timestamp, lim: u32) -> StoreResult<Vec<Operation>> {
                    let rows = sqlx::query("SELECT * FROM operations WHERE status NOT IN ('succeeded', 'failed') AND lease_until IS NOT NULL AND lease_until <= $1 ORDER BY lease_until, created_at, id LIMIT $2")
                        .bind(now.0)
                        .bind(limit(lim))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(backend)?;
                    rows.iter().map(op_from).collect()
                }

                async fn release_leases(&self, holder: &str, now: Timestamp) -> StoreResult<u64> {
                    let n = sqlx::query("UPDATE operations SET lease_until = $2, version = version + 1 WHERE lease_holder = $1 AND status NOT IN ('succeeded', 'failed') AND lease_until > $2")
                        .bind(holder.to_string())
                        .bind(now.0)
                        .execute(&self.pool)
                        .await
                        .map_err(backend)?
                        .rows_affected();
                    Ok(n)
                }

                async fn active_operations_for(&self, eid: &Eid) -> StoreResult<Vec<Operation>> {
                    let rows = sqlx::query("SELECT * FROM operations WHERE eid = $1 AND status NOT IN ('succeeded', 'failed') ORDER BY created_at, id")
                        .bind(eid.to_string())
                        .fetch_all(&self.pool)
                        .await
                        .map_err(backend)?;
                    rows.iter().map(op_from).collect()
                }
            }

            #[async_trait]
            impl QueueStore for $store {
                async fn enqueue(&self, n: &NewCommand) -> StoreResult<QueuedCommand> {
                    let mut tx = self.pool.begin().await.map_err(backend)?;
                    let seq: i64 = {
                        let row = sqlx::query("INSERT INTO queue_seq (eid, last_seq) VALUES ($1, 1) ON CONFLICT (eid) DO UPDATE SET last_seq = queue_seq.last_seq + 1 RETURNING last_seq")
                            .bind(n.eid.to_string())
                            .fetch_one(&mut *tx)
                            .await
                            .map_err(backend)?;
                        col(&row, "last_seq")?
                    };
                    let row = sqlx::query("INSERT INTO commands (eid, seq, operation_id, payload, attempts, not_before, expires_at, status, enqueued_at) VALUES ($1, $2, $3, $4, 0, $5, $6, 'pending', $7) RETURNING *")
                        .bind(n.eid.to_string())
                        .bind(seq)
                        .bind(n.operation_id.as_ref().map(|o| o.to_string()))
                        .bind(n.payload.clone())
                        .bind(n.not_before.0)
                        .bind(n.expires_at.map(|t| t.0))
                        .bind(n.now.0)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(map_err("command", "eis", &n.eid))?;
                    let cmd = cmd_from(&row)?;
                    tx.commit().await.map_err(backend)?;
                    Ok(cmd)
                }

                async fn claim_next(
                    &self,
                    eid: &Eid,
                    holder: &str,
                    now: Timestamp,
                    lease_until: Timestamp,
                ) -> StoreResult<Option<QueuedCommand>> {
                    let row = sqlx::query(concat!(
                        "UPDATE commands SET status = 'in_flight', attempts = attempts + 1, lease_holder = $2, lease_until = $4 WHERE id = (",
                        "SELECT id FROM commands WHERE eid = $1 AND status IN ('pending', 'in_flight') ORDER BY seq LIMIT 1",
                        $for_update,
                        ") AND ((status = 'pending' AND not_before <= $3) OR (status = 'in_flight' AND lease_until <= $3)) AND (expires_at IS NULL OR expires_at > $3) RETURNING *"
                    ))
                    .bind(eid.to_string())
                    .bind(holder.to_string())
                    .bind(now.0)
                    .bind(lease_until.0)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(backend)?;
                    row.as_ref().map(cmd_from).transpose()
                }

                async fn claim_ready(
                    &self,
                    holder: &str,
                    now: Timestamp,
                    lease_until: Timestamp,
                    lim: u32,
                ) -> StoreResult<Vec<QueuedCommand>> {
                    let rows = sqlx::query(concat!(
                        "UPDATE commands SET status = 'in_flight', attempts = attempts + 1, lease_holder = $1, lease_until = $2 WHERE id IN (",
                        "SELECT c.id FROM commands c WHERE c.status IN ('pending', 'in_flight') ",
                        "AND NOT EXISTS (SELECT 1 FROM commands d WHERE d.eid = c.eid AND d.status IN ('pending', 'in_flight') AND d.seq < c.seq) ",
                        "AND ((c.status = 'pending' AND c.not_before <= $3) OR (c.status = 'in_flight' AND c.lease_until <= $3)) ",
                        "AND (c.expires_at IS NULL OR c.expires_at > $3) ORDER BY c.not_before, c.id LIMIT $4",
                        $skip_locked,
                        ") AND ((status = 'pending' AND not_before <= $3) OR (status = 'in_flight' AND lease_until <= $3)) RETURNING *"
                    ))
                    .bind(holder.to_string())
                    .bind(lease_until.0)
                    .bind(now.0)
                    .bind(i64::from(lim))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(backend)?;
                    let mut v = rows.iter().map(cmd_from).collect::<StoreResult<Vec<_>>>()?;
                    v.sort_by_key(|c| (c.not_before, c.id));
                    Ok(v)
                }

                async fn ack(&self, id: i64, holder: &str, result: Option<&[u8]>) -> StoreResult<()> {
                    let n = sqlx::query("UPDATE commands SET status = 'done', lease_holder = NULL, lease_until = NULL, result = $3 WHERE id = $1 AND status = 'in_flight' AND lease_holder = $2")
                        .bind(id)
                        .bind(holder.to_string())
                        .bind(result.map(<[u8]>::to_vec))
                        .execute(&self.pool)
                        .await
                        .map_err(backend)?
                        .rows_affected();
                    if n == 0 {
                        return Err(self.diagnose_cmd(id, holder).await);
                    }
                    Ok(())
                }

                async fn retry(
                    &self,
                    id: i64,
                    holder: &str,
                    not_before: Timestamp,
                    error: &str,
                ) -> StoreResult<()> {
                    let n = sqlx::query("UPDATE commands SET status = 'pending', lease_holder = NULL, lease_until = NULL, not_before = $3, last_error = $4 WHERE id = $1 AND status = 'in_flight' AND lease_holder = $2")
                        .bind(id)
                        .bind(holder.to_string())
                        .bind(not_before.0)
                        .bind(error.to_string())
                        .execute(&self.pool)
                        .await
                        .map_err(backend)?
                        .rows_affected();
                    if n == 0 {
                        return Err(self.diagnose_cmd(id, holder).await);
                    }
                    Ok(())
                }

                async fn fail(&self, id: i64, error: &str) -> StoreResult<()> {
                    let n = sqlx::query("UPDATE commands SET status = 'failed', lease_holder = NULL, lease_until = NULL, last_error = $2 WHERE id = $1 AND status IN ('pending', 'in_flight')")
                        .bind(id)
                        .bind(error.to_string())
                        .execute(&self.pool)
                        .await
                        .map_err(backend)?
                        .rows_affected();
                    if n == 0 {
                        let c = self.get_command(id).await?;
                        return Err(StoreError::invalid("command", id, format!("already {}", c.status)));
                    }
                    Ok(())
                }

                async fn expire_due(&self, now: Timestamp) -> StoreResult<Vec<QueuedCommand>> {
                    let rows = sqlx::query("UPDATE commands SET status = 'expired', lease_holder = NULL, lease_until = NULL WHERE status IN ('pending', 'in_flight') AND expires_at IS NOT NULL AND expires_at <= $1 AND NOT (status = 'in_flight' AND lease_until > $1) RETURNING *")
                        .bind(now.0)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(backend)?;
                    let mut v = rows.iter().map(cmd_from).collect::<StoreResult<Vec<_>>>()?;
                    v.sort_by_key(|c| c.id);
                    Ok(v)
                }

                async fn get_command(&self, id: i64) -> StoreResult<QueuedCommand> {
                    let row = sqlx::query("SELECT * FROM commands WHERE id = $1")
                        .bind(id)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(backend)?;
                    row.as_ref()
                        .map(cmd_from)
                        .transpose()?
                        .ok_or_else(|| StoreError::not_found("command", id))
                }

                async fn release_command_leases(&self, holder: &str, now: Timestamp) -> StoreResult<u64> {
                    let n = sqlx::query("UPDATE commands SET lease_until = $2 WHERE lease_holder = $1 AND status = 'in_flight' AND lease_until > $2")
                        .bind(holder.to_string())
                        .bind(now.0)
                        .execute(&self.pool)
                        .await
                        .map_err(backend)?
                        .rows_affected();
                    Ok(n)
                }

                async fn pending_commands(&self, eid: &Eid) -> StoreResult<Vec<QueuedCommand>> {
                    let rows = sqlx::query("SELECT * FROM commands WHERE eid = $1 AND status IN ('pending', 'in_flight') ORDER BY seq")
                        .bind(eid.to_string())
                        .fetch_all(&self.pool)
                        .await
                        .map_err(backend)?;
                    rows.iter().map(cmd_from).collect()
                }

                async fn operation_commands(&self, operation: &OperationId) -> StoreResult<Vec<QueuedCommand>> {
                    let rows = sqlx::query("SELECT * FROM commands WHERE operation_id = $1 ORDER BY id")
                        .bind(operation.as_str())
                        .fetch_all(&self.pool)
                        .await
                        .map_err(backend)?;
                    rows.iter().map(cmd_from).collect()
                }
            }

            #[async_trait]
            impl InventoryStore for $store {
                async fn import_profiles(&self, profiles: &[InventoryProfile]) -> StoreResult<u64> {
                    let mut tx = self.pool.begin().await.map_err(backend)?;
                    for p in profiles {
                        if p.state != InventoryState::Available {
                            return Err(StoreError::invalid(
                                "inventory",
                                &p.iccid,
                                format!("imported as {}, must be available", p.state),
                            ));
                        }
                        sqlx::query("INSERT INTO inventory (iccid, imsi, profile_type, owner, template, secrets_key_id, secrets, state, eid, imported_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 'available', NULL, $8, $9)")
                            .bind(p.iccid.to_string())
                            .bind(p.imsi.as_ref().map(|i| i.to_string()))
                            .bind(p.profile_type.clone())
                            .bind(p.owner.clone())
                            .bind(p.template.clone())
                            .bind(p.secrets.key_id.clone())
                            .bind(p.secrets.bytes.clone())
                            .bind(p.imported_at.0)
                            .bind(p.updated_at.0)
                            .execute(&mut *tx)
                            .await
                            .map_err(map_err("inventory", "inventory", &p.iccid))?;
                    }
                    tx.commit().await.map_err(backend)?;
                    Ok(profiles.len() as u64)
                }

                async fn allocate_by_type(
                    &self,
                    owner: &str,
                    profile_type: &str,
                    eid: &Eid,
                    now: Timestamp,
                ) -> StoreResult<InventoryProfile> {
                    let row = sqlx::query(concat!(
                        "UPDATE inventory SET state = 'allocated', eid = $3, updated_at = $4 WHERE iccid = (",
                        "SELECT iccid FROM inventory WHERE owner = $1 AND profile_type = $2 AND state = 'available' ORDER BY iccid LIMIT 1",
                        $skip_locked,
                        ") AND state = 'available' RETURNING *"
                    ))
                    .bind(owner.to_string())
                    .bind(profile_type.to_string())
                    .bind(eid.to_string())
                    .bind(now.0)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(backend)?;
                    match row {
                        Some(r) => inv_from(&r),
                        None => Err(StoreError::Exhausted(format!(
                            "no available profile of type {profile_type:?} for {owner:?}"
                        ))),
                    }
                }

                async fn allocate_iccid(
                    &self,
                    iccid: &Iccid,
                    eid: &Eid,
                    now: Timestamp,
                ) -> StoreResult<InventoryProfile> {
                    let row = sqlx::query("UPDATE inventory SET state = 'allocated', eid = $2, updated_at = $3 WHERE iccid = $1 AND state = 'available' RETURNING *")
                        .bind(iccid.to_string())
                        .bind(eid.to_string())
                        .bind(now.0)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(backend)?;
                    match row {
                        Some(r) => inv_from(&r),
                        None => Err(self.diagnose_inv(iccid, "available").await),
                    }
                }

                async fn mark_installed(&self, iccid: &Iccid, now: Timestamp) -> StoreResult<()> {
                    let n = sqlx::query("UPDATE inventory SET state = 'installed', updated_at = $2 WHERE iccid = $1 AND state = 'allocated'")
                        .bind(iccid.to_string())
                        .bind(now.0)
                        .execute(&self.pool)
                        .await
                        .map_err(backend)?
                        .rows_affected();
                    if n == 0 {
                        return Err(self.diagnose_inv(iccid, "allocated").await);
                    }
                    Ok(())
                }

                async fn release(&self, iccid: &Iccid, now: Timestamp) -> StoreResult<()> {
                    let n = sqlx::query("UPDATE inventory SET state = 'released', token_key_id = NULL, token_key = NULL, updated_at = $2 WHERE iccid = $1 AND state IN ('allocated', 'installed')")
                        .bind(iccid.to_string())
                        .bind(now.0)
                        .execute(&self.pool)
                        .await
                        .map_err(backend)?
                        .rows_affected();
                    if n == 0 {
                        return Err(self.diagnose_inv(iccid, "allocated or installed").await);
                    }
                    Ok(())
                }

                async fn get_inventory(&self, iccid: &Iccid) -> StoreResult<InventoryProfile> {
                    let row = sqlx::query("SELECT * FROM inventory WHERE iccid = $1")
                        .bind(iccid.to_string())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(backend)?;
                    row.as_ref()
                        .map(inv_from)
                        .transpose()?
                        .ok_or_else(|| StoreError::not_found("inventory", iccid))
                }

                async fn count_available(&self, owner: &str, profile_type: &str) -> StoreResult<u64> {
                    let row = sqlx::query("SELECT COUNT(*) AS n FROM inventory WHERE owner = $1 AND profile_type = $2 AND state = 'available'")
                        .bind(owner.to_string())
                        .bind(profile_type.to_string())
                        .fetch_one(&self.pool)
                        .await
                        .map_err(backend)?;
                    to_u64("n", col(&row, "n")?)
                }

                async fn allocated_to(&self, eid: &Eid) -> StoreResult<Vec<InventoryProfile>> {
                    let rows = sqlx::query("SELECT * FROM inventory WHERE eid = $1 AND state = 'allocated' ORDER BY iccid")
                        .bind(eid.to_string())
                        .fetch_all(&self.pool)
                        .await
                        .map_err(backend)?;
                    rows.iter().map(inv_from).collect()
                }

                async fn put_token_key(&self, iccid: &Iccid, key: &SealedBlob, now: Timestamp) -> StoreResult<()> {
                    let n = sqlx::query("UPDATE inventory SET token_key_id = $2, token_key = $3, updated_at = $4 WHERE iccid = $1 AND state IN ('allocated', 'installed')")
                        .bind(iccid.to_string())
                        .bind(key.key_id.clone())
                        .bind(key.bytes.clone())
                        .bind(now.0)
                        .execute(&self.pool)
                        .await
                        .map_err(backend)?
                        .rows_affected();
                    if n == 0 {
                        return Err(self.diagnose_inv(iccid, "allocated or installed").await);
                    }
                    Ok(())
                }

                async fn token_key(&self, iccid: &Iccid) -> StoreResult<Option<SealedBlob>> {
                    let row = sqlx::query("SELECT token_key_id, token_key FROM inventory WHERE iccid = $1")
                        .bind(iccid.to_string())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(backend)?
                        .ok_or_else(|| StoreError::not_found("inventory", iccid))?;
                    let key_id: Option<String> = col(&row, "token_key_id")?;
                    let bytes: Option<Vec<u8>> = col(&row, "token_key")?;
                    Ok(match (key_id, bytes) {
                        (Some(key_id), Some(bytes)) => Some(SealedBlob { key_id, bytes }),
                        _ => None,
                    })
                }
            }

            #[async_trait]
            impl OperatorStore for $store {
                async fn put_operator(&self, op: &OperatorRecord) -> StoreResult<()> {
                    let roles = serde_json::to_string(&op.roles)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    let mut tx = self.pool.begin().await.map_err(backend)?;
                    sqlx::query("INSERT INTO operators (id, name, roles, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO UPDATE SET name = excluded.name, roles = excluded.roles, created_at = excluded.created_at")
                        .bind(op.id.clone())
                        .bind(op.name.clone())
                        .bind(roles)
                        .bind(op.created_at.0)
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
                    sqlx::query("DELETE FROM operator_tokens WHERE operator_id = $1")
                        .bind(op.id.clone())
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
                    for h in &op.token_hashes {
                        sqlx::query("INSERT INTO operator_tokens (token_hash, operator_id) VALUES ($1, $2)")
                            .bind(h.to_vec())
                            .bind(op.id.clone())
                            .execute(&mut *tx)
                            .await
                            .map_err(map_err("operator token", "operator", &op.id))?;
                    }
                    tx.commit().await.map_err(backend)
                }

                async fn get_operator(&self, id: &str) -> StoreResult<OperatorRecord> {
                    let row = sqlx::query("SELECT * FROM operators WHERE id = $1")
                        .bind(id.to_string())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(backend)?
                        .ok_or_else(|| StoreError::not_found("operator", id))?;
                    let tokens = sqlx::query("SELECT token_hash FROM operator_tokens WHERE operator_id = $1 ORDER BY token_hash")
                        .bind(id.to_string())
                        .fetch_all(&self.pool)
                        .await
                        .map_err(backend)?;
                    Ok(OperatorRecord {
                        id: col(&row, "id")?,
                        name: col(&row, "name")?,
                        roles: json_parse("roles", &col::<String>(&row, "roles")?)?,
                        token_hashes: tokens
                            .iter()
                            .map(|t| hash32("token_hash", col(t, "token_hash")?))
                            .collect::<StoreResult<_>>()?,
                        created_at: Timestamp(col(&row, "created_at")?),
                    })
                }

                async fn operator_by_token_hash(&self, hash: &[u8; 32]) -> StoreResult<Option<OperatorRecord>> {
                    let row = sqlx::query("SELECT operator_id FROM operator_tokens WHERE token_hash = $1")
                        .bind(hash.to_vec())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(backend)?;
                    match row {
                        Some(r) => Ok(Some(self.get_operator(&col::<String>(&r, "operator_id")?).await?)),
                        None => Ok(None),
                    }
                }
            }

            #[async_trait]
            impl AuditStore for $store {
                async fn append_audit(&self, e: &AuditEntry) -> StoreResult<i64> {
                    let row = sqlx::query("INSERT INTO audit (at, eid, iccid, isd_p_aid, operator, function, function_call_id, status, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id")
                        .bind(e.at.0)
                        .bind(e.eid.as_ref().map(|x| x.to_string()))
                        .bind(e.iccid.as_ref().map(|x| x.to_string()))
                        .bind(e.isd_p_aid.as_ref().map(|x| x.to_string()))
                        .bind(e.operator.clone())
                        .bind(e.function.clone())
                        .bind(e.function_call_id.clone())
                        .bind(e.status.clone())
                        .bind(json_text(&e.detail)?)
                        .fetch_one(&self.pool)
                        .await
                        .map_err(backend)?;
                    col(&row, "id")
                }

                async fn query_audit(&self, q: &AuditQuery) -> StoreResult<Vec<AuditEntry>> {
                    let rows = sqlx::query("SELECT * FROM audit WHERE ($1 IS NULL OR eid = $1) AND ($2 IS NULL OR operator = $2) AND ($3 IS NULL OR at >= $3) AND ($4 IS NULL OR at < $4) AND id > $5 ORDER BY id LIMIT $6")
                        .bind(q.eid.as_ref().map(|x| x.to_string()))
                        .bind(q.operator.clone())
                        .bind(q.since.map(|t| t.0))
                        .bind(q.until.map(|t| t.0))
                        .bind(q.after_id.unwrap_or(0))
                        .bind(limit(q.limit))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(backend)?;
                    rows.iter().map(audit_from).collect()
                }
            }

            #[async_trait]
            impl IdempotencyStore for $store {
                async fn begin_call(&self, rec: &IdempotencyRecord) -> StoreResult<BeginOutcome> {
                    let n = sqlx::query("INSERT INTO calls (caller, function_call_id, function, request_hash, operation_id, response, created_at, completed_at) VALUES ($1, $2, $3, $4, $5, NULL, $6, NULL) ON CONFLICT (caller, function_call_id) DO NOTHING")
                        .bind(rec.caller.clone())
                        .bind(rec.function_call_id.clone())
                        .bind(rec.function.clone())
                        .bind(rec.request_hash.to_vec())
                        .bind(rec.operation_id.as_ref().map(|o| o.to_string()))
                        .bind(rec.created_at.0)
                        .execute(&self.pool)
                        .await
                        .map_err(backend)?
                        .rows_affected();
                    let stored = self
                        .get_call(&rec.caller, &rec.function_call_id)
                        .await?
                        .ok_or_else(|| StoreError::Backend("call vanished after insert".into()))?;
                    Ok(if n == 1 {
                        BeginOutcome::New(stored)
                    } else {
                        BeginOutcome::Repeat(stored)
                    })
                }

                async fn complete_call(
                    &self,
                    caller: &str,
                    fcid: &str,
                    response: &[u8],
                    now: Timestamp,
                ) -> StoreResult<IdempotencyRecord> {
                    let row = sqlx::query("UPDATE calls SET response = $3, completed_at = $4 WHERE caller = $1 AND function_call_id = $2 AND response IS NULL RETURNING *")
                        .bind(caller.to_string())
                        .bind(fcid.to_string())
                        .bind(response.to_vec())
                        .bind(now.0)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(backend)?;
                    match row {
                        Some(r) => call_from(&r),
                        None => match self.get_call(caller, fcid).await? {
                            None => Err(StoreError::not_found("call", fcid)),
                            Some(_) => Err(StoreError::invalid("call", fcid, "already completed")),
                        },
                    }
                }

                async fn get_call(&self, caller: &str, fcid: &str) -> StoreResult<Option<IdempotencyRecord>> {
                    let row = sqlx::query("SELECT * FROM calls WHERE caller = $1 AND function_call_id = $2")
                        .bind(caller.to_string())
                        .bind(fcid.to_string())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(backend)?;
                    row.as_ref().map(call_from).transpose()
                }
            }
        }
    };
}

pub(crate) use sql_backend;
