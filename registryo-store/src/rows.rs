//! The rows the queries read, as `sqlx::FromRow` types, and their conversion into the storage
//! ports' records (`registryo_core::storage`, which know nothing of sqlx).

use registryo_core::storage::{
    AclRule, AuditEvent, FailureCount, Group, PasswordToken, PolicyRevision, RefreshToken,
    RegistryEvent, Session, TokenPurpose, User, UserKind,
};

/// A row into its record: one at a time, optionally, or a list.
pub(crate) trait Model {
    type Out;
    fn model(self) -> Self::Out;
}

/// Declares `$row`, the `FromRow` twin of the record `$record` (same fields, `$conv` fields
/// read as text and converted), and its conversions.
macro_rules! row {
    ($row:ident => $record:ident { $($field:ident: $ty:ty),* $(,)? } $(convert { $($cfield:ident: $cty:ty),* })?) => {
        #[derive(sqlx::FromRow)]
        pub(crate) struct $row {
            $(pub(crate) $field: $ty,)*
            $($(#[sqlx(try_from = "String")] pub(crate) $cfield: $cty,)*)?
        }

        impl From<$row> for $record {
            fn from(r: $row) -> $record {
                $record {
                    $($field: r.$field,)*
                    $($($cfield: r.$cfield,)*)?
                }
            }
        }

        impl Model for $row {
            type Out = $record;
            fn model(self) -> $record {
                self.into()
            }
        }

        impl Model for Option<$row> {
            type Out = Option<$record>;
            fn model(self) -> Option<$record> {
                self.map(Into::into)
            }
        }

        impl Model for Vec<$row> {
            type Out = Vec<$record>;
            fn model(self) -> Vec<$record> {
                self.into_iter().map(Into::into).collect()
            }
        }
    };
}

row!(UserRow => User {
    id: i64,
    username: String,
    password_hash: Option<String>,
    is_admin: bool,
    disabled: bool,
    first_name: String,
    last_name: String,
    email: Option<String>,
    expires_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
    password_changed_at: Option<i64>,
} convert { kind: UserKind });

row!(GroupRow => Group { id: i64, name: String, created_at: i64 });

row!(AclRuleRow => AclRule {
    id: i64,
    subject: String,
    pattern: String,
    actions: String,
    created_at: i64,
    created_by: Option<String>,
});

row!(RefreshTokenRow => RefreshToken {
    id: i64,
    user_id: i64,
    token_hash: String,
    client_id: String,
    service: String,
    created_at: i64,
    last_used_at: Option<i64>,
    revoked_at: Option<i64>,
    created_addr: Option<String>,
    last_used_addr: Option<String>,
});

row!(AuditEventRow => AuditEvent {
    id: i64,
    at: i64,
    actor: Option<String>,
    action: String,
    target: Option<String>,
    detail: Option<String>,
    remote_addr: Option<String>,
    count: i64,
});

row!(RegistryEventRow => RegistryEvent {
    id: i64,
    event_id: Option<String>,
    at: i64,
    action: String,
    subject: String,
    repository: String,
    from_repository: Option<String>,
    tag: Option<String>,
    digest: Option<String>,
    media_type: Option<String>,
    size: Option<i64>,
    actor: Option<String>,
    remote_addr: Option<String>,
    user_agent: Option<String>,
    audit_id: Option<i64>,
    count: i64,
});

row!(SessionRow => Session {
    id_hash: String,
    user_id: i64,
    csrf_token: String,
    created_at: i64,
    expires_at: i64,
});

row!(PolicyRevisionRow => PolicyRevision { revision: i64, changed_at: i64 });

row!(PasswordTokenRow => PasswordToken {
    id: i64,
    user_id: i64,
    token_hash: String,
    created_at: i64,
    expires_at: i64,
    used_at: Option<i64>,
} convert { purpose: TokenPurpose });

row!(FailureCountRow => FailureCount { minute: i64, from_addr: i64, total: i64 });
