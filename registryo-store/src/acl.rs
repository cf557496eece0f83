//! ACL rules, stored as text.

use crate::error::db;
use crate::rows::{AclRuleRow, Model};
use crate::store::{WritePool, check_text, now};
use crate::{AclRule, NewAclRule, Store, StoreError};
use async_trait::async_trait;
use registryo_core::storage::{Audit, ListQuery, Page, RuleStore};

#[async_trait]
impl RuleStore for Store {
    /// Adds a rule at the end of the list. [`StoreError::Invalid`] if a field is empty.
    /// Bumps the policy revision; the audit events are written in the same transaction.
    async fn add_acl_rule(
        &self,
        rule: &NewAclRule,
        audit: Audit<'_, AclRule>,
    ) -> Result<AclRule, StoreError> {
        check_text("ACL subject", &rule.subject, 512)?;
        check_text("ACL pattern", &rule.pattern, 1024)?;
        check_text("ACL actions", &rule.actions, 256)?;
        let now = now();
        let rule = dispatch!(self, pool => {
            let mut tx = pool.begin_write().await.map_err(db)?;
            let rule = sqlx::query_as::<_, AclRuleRow>(
                "INSERT INTO acl_rules (subject, pattern, actions, created_at, created_by) \
                 VALUES ($1, $2, $3, $4, $5) \
                 RETURNING id, subject, pattern, actions, created_at, created_by",
            )
            .bind(&rule.subject)
            .bind(&rule.pattern)
            .bind(&rule.actions)
            .bind(now)
            .bind(rule.created_by.as_deref())
            .fetch_one(&mut *tx)
            .await.map_err(db)?.model();
            write_audit!(tx, now, audit, &rule);
            let rev = bump_revision!(tx, now);
            log_change!(tx, rev, now, "rule", rule.id);
            tx.commit().await.map_err(db)?;
            rule
        });
        Ok(rule)
    }

    /// Adds rules at the end of the list in one transaction: all or none. A field that is
    /// empty or too long is refused ([`StoreError::Invalid`]) with the position of the rule
    /// (from 1). One policy revision for them all; the audit events are written in the
    /// same transaction.
    async fn add_acl_rules(
        &self,
        rules: &[NewAclRule],
        audit: Audit<'_, [AclRule]>,
    ) -> Result<Vec<AclRule>, StoreError> {
        for (i, rule) in rules.iter().enumerate() {
            let at = |e: StoreError| match e {
                StoreError::Invalid(m) => StoreError::Invalid(format!("rule {}: {m}", i + 1)),
                e => e,
            };
            check_text("ACL subject", &rule.subject, 512).map_err(at)?;
            check_text("ACL pattern", &rule.pattern, 1024).map_err(at)?;
            check_text("ACL actions", &rule.actions, 256).map_err(at)?;
        }
        if rules.is_empty() {
            return Ok(Vec::new());
        }
        let now = now();
        let stored = dispatch!(self, pool => {
            let mut tx = pool.begin_write().await.map_err(db)?;
            let rev = bump_revision!(tx, now);
            let mut stored = Vec::with_capacity(rules.len());
            for rule in rules {
                let row = sqlx::query_as::<_, AclRuleRow>(
                    "INSERT INTO acl_rules (subject, pattern, actions, created_at, created_by) \
                     VALUES ($1, $2, $3, $4, $5) \
                     RETURNING id, subject, pattern, actions, created_at, created_by",
                )
                .bind(&rule.subject)
                .bind(&rule.pattern)
                .bind(&rule.actions)
                .bind(now)
                .bind(rule.created_by.as_deref())
                .fetch_one(&mut *tx)
                .await.map_err(db)?.model();
                log_change!(tx, rev, now, "rule", row.id);
                stored.push(row);
            }
            write_audit!(tx, now, audit, stored.as_slice());
            tx.commit().await.map_err(db)?;
            stored
        });
        Ok(stored)
    }

    /// Every rule, in the order they were added (by id).
    async fn list_acl_rules(&self) -> Result<Vec<AclRule>, StoreError> {
        let rules = dispatch!(self, pool => {
            sqlx::query_as::<_, AclRuleRow>(
                "SELECT id, subject, pattern, actions, created_at, created_by FROM acl_rules \
                 ORDER BY id",
            )
            .fetch_all(pool)
            .await.map_err(db)?.model()
        });
        Ok(rules)
    }

    /// A page of rules by id; `after` is a rule id, the filter looks in the subject and the
    /// pattern.
    async fn list_acl_rules_page(&self, query: &ListQuery) -> Result<Page<AclRule>, StoreError> {
        let size = query.page_size();
        let like = query.like_pattern();
        let after: i64 = match query.after.as_deref() {
            None | Some("") => 0,
            Some(a) => a.parse().map_err(|_| {
                StoreError::Invalid(format!("a page of rules starts after a rule id, not {a:?}"))
            })?,
        };
        let rows = dispatch!(self, pool => {
            sqlx::query_as::<_, AclRuleRow>(
                "SELECT id, subject, pattern, actions, created_at, created_by FROM acl_rules \
                 WHERE id > $1 AND ($2 = '%%' OR lower(subject || '\t' || pattern) \
                 LIKE $2 ESCAPE '\\') ORDER BY id LIMIT $3",
            )
            .bind(after)
            .bind(&like)
            .bind(i64::from(size) + 1)
            .fetch_all(pool)
            .await.map_err(db)?.model()
        });
        Ok(Page::from_rows(rows, size, |r: &AclRule| r.id.to_string()))
    }

    /// Deletes a rule and returns it. [`StoreError::NotFound`] if there is none with this id
    /// (and no event). Bumps the policy revision; the audit events are written in the same
    /// transaction.
    async fn delete_acl_rule(
        &self,
        id: i64,
        audit: Audit<'_, AclRule>,
    ) -> Result<AclRule, StoreError> {
        let now = now();
        dispatch!(self, pool => {
            let mut tx = pool.begin_write().await.map_err(db)?;
            let rule: Option<AclRule> = sqlx::query_as::<_, AclRuleRow>(
                "DELETE FROM acl_rules WHERE id = $1 \
                 RETURNING id, subject, pattern, actions, created_at, created_by",
            )
            .bind(id)
            .fetch_optional(&mut *tx)
            .await.map_err(db)?.model();
            let Some(rule) = rule else {
                return Err(StoreError::NotFound(format!("ACL rule {id}")));
            };
            write_audit!(tx, now, audit, &rule);
            let rev = bump_revision!(tx, now);
            log_change!(tx, rev, now, "rule", rule.id);
            tx.commit().await.map_err(db)?;
            Ok(rule)
        })
    }
}
