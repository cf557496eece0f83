//! ACL rules, stored as text.

use crate::error::db;
use crate::rows::{AclRuleRow, Model};
use crate::store::{WritePool, check_text, now};
use crate::{AclRule, NewAclRule, Store, StoreError};
use async_trait::async_trait;
use registryo_core::storage::RuleStore;

#[async_trait]
impl RuleStore for Store {
    /// Adds a rule at the end of the list. [`StoreError::Invalid`] if a field is empty.
    /// Bumps the policy revision.
    async fn add_acl_rule(&self, rule: &NewAclRule) -> Result<AclRule, StoreError> {
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
            bump_revision!(tx, now);
            tx.commit().await.map_err(db)?;
            rule
        });
        Ok(rule)
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

    /// Deletes a rule. [`StoreError::NotFound`] if there is none with this id. Bumps the
    /// policy revision.
    async fn delete_acl_rule(&self, id: i64) -> Result<(), StoreError> {
        let changed = self
            .delete_by_id_bumping_revision("DELETE FROM acl_rules WHERE id = $1", id)
            .await
            .map_err(db)?;
        if changed == 0 {
            return Err(StoreError::NotFound(format!("ACL rule {id}")));
        }
        Ok(())
    }
}
