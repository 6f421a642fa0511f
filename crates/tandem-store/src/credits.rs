//! Credits: a per-workspace ledger of what AI features spend (smart replies, the writing assistant).
//!
//! A workspace's account holds its plan (an allowance per billing cycle) and two balances: what is
//! left of the current cycle's allowance, reset when a new cycle begins (unused credits expire),
//! and top-ups, which never expire. A debit spends the allowance first, then top-ups. Every change
//! of a balance is an entry of the ledger, written in the same transaction as the account update it
//! records, and numbered (`seq`) in the order it was applied: each entry's `balance_after` is the
//! previous one's plus its `amount`, from zero.
//!
//! Exact under concurrency on both databases: every change first locks the account row (an
//! `UPDATE ... RETURNING`, as `add_source` does with its agent), so a workspace's writers take
//! turns and each sees the balances it changes; the change itself is one conditional `UPDATE` that
//! cannot take a balance below zero (`WHERE allowance_remaining >= $a AND topup_balance >= $t`),
//! backed by `CHECK` constraints. An idempotency key is unique per workspace: a retried debit finds
//! its entry and charges nothing more. A cycle is reset by an `UPDATE` conditional on the cycle it
//! ends, so it happens once however many requests notice it.

use serde::{Deserialize, Serialize};
use sqlx::AnyConnection;
use tandem_core::{Timestamp, WorkspaceId};

use crate::{error::corrupt, sql::run, Page, Paged, Result, Store, StoreError};

/// The most credits one operation (debit, top-up, refund) or one cycle's allowance may move.
pub const MAX_CREDITS: i64 = 1_000_000_000;
/// The longest billing cycle, in days.
pub const MAX_CYCLE_DAYS: i64 = 3_660;
const DAY_MS: i64 = 86_400_000;

/// What a workspace's plan grants: `allowance_per_cycle` credits every `cycle_days` days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CreditPlan {
    pub allowance_per_cycle: i64,
    pub cycle_days: i64,
}

impl CreditPlan {
    fn check(self) -> Result<Self> {
        if !(0..=MAX_CREDITS).contains(&self.allowance_per_cycle) {
            return Err(StoreError::invalid(
                "allowance_per_cycle",
                "invalid_allowance",
                format!("an allowance is 0 to {MAX_CREDITS} credits per cycle"),
            ));
        }
        if !(1..=MAX_CYCLE_DAYS).contains(&self.cycle_days) {
            return Err(StoreError::invalid("cycle_days", "invalid_cycle", format!("a billing cycle is 1 to {MAX_CYCLE_DAYS} days")));
        }
        Ok(self)
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CreditAccount {
    #[serde(skip)]
    pub workspace_id: WorkspaceId,
    pub allowance_per_cycle: i64,
    pub cycle_days: i64,
    /// When the current cycle began.
    pub cycle_start: Timestamp,
    /// When the allowance is next reset.
    pub cycle_end: Timestamp,
    /// What is left of the current cycle's allowance (spent first; expires at `cycle_end`).
    pub allowance_remaining: i64,
    /// Credits bought (spent once the allowance is used up; never expire).
    pub topup_balance: i64,
    /// `allowance_remaining + topup_balance`: what a debit may spend.
    pub balance: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CreditEntryKind {
    /// A cycle began: the allowance was set to the plan's (what was left of the last one expired).
    AllowanceReset,
    TopUp,
    Debit,
    /// Credits of a debit given back (a reservation that produced less than it reserved).
    Refund,
}

impl CreditEntryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AllowanceReset => "allowance_reset",
            Self::TopUp => "top_up",
            Self::Debit => "debit",
            Self::Refund => "refund",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "allowance_reset" => Self::AllowanceReset,
            "top_up" => Self::TopUp,
            "debit" => Self::Debit,
            "refund" => Self::Refund,
            other => return Err(StoreError::Corrupt(format!("credit entry kind {other}"))),
        })
    }
}

/// One change of a workspace's credits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CreditEntry {
    pub id: String,
    /// Position in the workspace's ledger: 1, 2, 3, ... in the order the changes were applied.
    pub seq: i64,
    pub kind: CreditEntryKind,
    /// Signed change of the balance (negative for a debit), `allowance_amount + topup_amount`.
    pub amount: i64,
    /// The part of `amount` on the cycle's allowance.
    pub allowance_amount: i64,
    /// The part of `amount` on top-ups.
    pub topup_amount: i64,
    pub reason: String,
    pub conversation_id: Option<String>,
    pub idempotency_key: Option<String>,
    /// The debit a refund gives credits back to.
    pub refund_of: Option<String>,
    pub allowance_after: i64,
    pub topup_after: i64,
    pub balance_after: i64,
    pub created_at: Timestamp,
}

const ACCOUNT_COLUMNS: &str =
    "workspace_id, allowance_per_cycle, cycle_days, cycle_start, allowance_remaining, topup_balance, seq, created_at, updated_at";

#[derive(sqlx::FromRow)]
struct AccountRow {
    workspace_id: String,
    allowance_per_cycle: i64,
    cycle_days: i64,
    cycle_start: i64,
    allowance_remaining: i64,
    topup_balance: i64,
    seq: i64,
    created_at: i64,
    updated_at: i64,
}

impl AccountRow {
    fn cycle_end(&self) -> i64 {
        self.cycle_start.saturating_add(self.cycle_days.saturating_mul(DAY_MS))
    }

    fn balance(&self) -> i64 {
        self.allowance_remaining + self.topup_balance
    }
}

impl TryFrom<AccountRow> for CreditAccount {
    type Error = StoreError;
    fn try_from(r: AccountRow) -> Result<Self> {
        Ok(Self {
            workspace_id: r.workspace_id.parse().map_err(corrupt("workspace id"))?,
            allowance_per_cycle: r.allowance_per_cycle,
            cycle_days: r.cycle_days,
            cycle_start: Timestamp::from_millis(r.cycle_start),
            cycle_end: Timestamp::from_millis(r.cycle_end()),
            allowance_remaining: r.allowance_remaining,
            topup_balance: r.topup_balance,
            balance: r.balance(),
            created_at: Timestamp::from_millis(r.created_at),
            updated_at: Timestamp::from_millis(r.updated_at),
        })
    }
}

const ENTRY_COLUMNS: &str = "id, seq, kind, amount, allowance_amount, topup_amount, reason, conversation_id, idempotency_key, refund_of, \
     allowance_after, topup_after, balance_after, created_at";

#[derive(sqlx::FromRow)]
struct EntryRow {
    id: String,
    seq: i64,
    kind: String,
    amount: i64,
    allowance_amount: i64,
    topup_amount: i64,
    reason: String,
    conversation_id: Option<String>,
    idempotency_key: Option<String>,
    refund_of: Option<String>,
    allowance_after: i64,
    topup_after: i64,
    balance_after: i64,
    created_at: i64,
}

impl TryFrom<EntryRow> for CreditEntry {
    type Error = StoreError;
    fn try_from(r: EntryRow) -> Result<Self> {
        Ok(Self {
            id: r.id,
            seq: r.seq,
            kind: CreditEntryKind::parse(&r.kind)?,
            amount: r.amount,
            allowance_amount: r.allowance_amount,
            topup_amount: r.topup_amount,
            reason: r.reason,
            conversation_id: r.conversation_id,
            idempotency_key: r.idempotency_key,
            refund_of: r.refund_of,
            allowance_after: r.allowance_after,
            topup_after: r.topup_after,
            balance_after: r.balance_after,
            created_at: Timestamp::from_millis(r.created_at),
        })
    }
}

/// A change to apply to a locked account, and the entry that records it.
struct Change<'a> {
    kind: CreditEntryKind,
    allowance: i64,
    topup: i64,
    reason: &'a str,
    conversation: Option<&'a str>,
    key: Option<&'a str>,
    refund_of: Option<&'a str>,
}

fn check_amount(amount: i64) -> Result<()> {
    if !(1..=MAX_CREDITS).contains(&amount) {
        return Err(StoreError::invalid("amount", "invalid_amount", format!("an amount is 1 to {MAX_CREDITS} credits")));
    }
    Ok(())
}

fn check_reason(reason: &str) -> Result<&str> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(StoreError::invalid("reason", "invalid_reason", "a reason is 1 to 500 characters"));
    }
    Ok(reason)
}

fn check_text(field: &str, code: &'static str, value: Option<&str>) -> Result<()> {
    if value.is_some_and(|v| v.is_empty() || v.chars().count() > 255) {
        return Err(StoreError::invalid(field, code, format!("{field} is 1 to 255 characters")));
    }
    Ok(())
}

/// The account locked a moment ago is gone: only a deleted workspace does that.
fn vanished() -> StoreError {
    StoreError::Corrupt("credit account vanished".into())
}

/// The entry a retry with `key` finds must be the same request, else the key was reused.
fn same_request(entry: CreditEntry, kind: CreditEntryKind, amount: i64, refund_of: Option<&str>) -> Result<CreditEntry> {
    if entry.kind == kind && entry.amount == amount && entry.refund_of.as_deref() == refund_of {
        Ok(entry)
    } else {
        let key = entry.idempotency_key.unwrap_or_default();
        Err(StoreError::Conflict {
            code: "idempotency_key_reused",
            message: format!("idempotency key `{key}` was already used for another credit operation"),
        })
    }
}

impl Store {
    /// The workspace's account, created with `default` when it has none yet (its first cycle
    /// starts now with the full allowance); a cycle that has ended is reset first.
    pub async fn credit_account(&self, ws: WorkspaceId, default: CreditPlan) -> Result<CreditAccount> {
        let default = default.check()?;
        let now = Timestamp::now().millis();
        let mut sql = self.sql(&format!("SELECT {ACCOUNT_COLUMNS} FROM credit_accounts WHERE workspace_id = "));
        sql.bind(ws.to_string());
        if let Some(row) = run!(sql, as AccountRow, fetch_optional(&self.pool))? {
            if now < row.cycle_end() {
                return row.try_into();
            }
        }
        let turn = self.writes().await?;
        let mut tx = turn.begin().await?;
        let row = match self.lock_account(&mut tx, ws, now).await? {
            Some(mut row) => {
                self.roll_over(&mut tx, &mut row, now).await?;
                row
            }
            None => self.create_account(&mut tx, ws, default, now).await?,
        };
        tx.commit().await?;
        row.try_into()
    }

    /// Sets the workspace's plan, creating its account if needed. On an existing account the new
    /// allowance applies from the next cycle (what is left of the current one is kept); the
    /// current cycle ends `cycle_days` after it began.
    pub async fn set_credit_plan(&self, ws: WorkspaceId, plan: CreditPlan) -> Result<CreditAccount> {
        let plan = plan.check()?;
        let now = Timestamp::now().millis();
        let turn = self.writes().await?;
        let mut tx = turn.begin().await?;
        let row = match self.update_plan(&mut tx, ws, plan, now).await? {
            Some(row) => row,
            None => {
                let row = self.create_account(&mut tx, ws, plan, now).await?;
                if (row.allowance_per_cycle, row.cycle_days) == (plan.allowance_per_cycle, plan.cycle_days) {
                    row
                } else {
                    // Created first by a concurrent call, with its plan.
                    self.update_plan(&mut tx, ws, plan, now).await?.ok_or_else(vanished)?
                }
            }
        };
        tx.commit().await?;
        row.try_into()
    }

    async fn update_plan(&self, conn: &mut AnyConnection, ws: WorkspaceId, plan: CreditPlan, now: i64) -> Result<Option<AccountRow>> {
        let mut sql = self.sql("UPDATE credit_accounts SET allowance_per_cycle = ");
        sql.bind(plan.allowance_per_cycle).push(", cycle_days = ").bind(plan.cycle_days).push(", updated_at = ").bind(now);
        sql.push(" WHERE workspace_id = ").bind(ws.to_string()).push(&format!(" RETURNING {ACCOUNT_COLUMNS}"));
        Ok(run!(sql, as AccountRow, fetch_optional(&mut *conn))?)
    }

    /// Adds `amount` bought credits (they never expire). With an `idempotency_key` (a payment's
    /// id), a retry returns the first top-up's entry and adds nothing.
    pub async fn top_up_credits(&self, ws: WorkspaceId, amount: i64, reason: &str, idempotency_key: Option<&str>) -> Result<CreditEntry> {
        check_amount(amount)?;
        let reason = check_reason(reason)?;
        check_text("idempotency_key", "invalid_idempotency_key", idempotency_key)?;
        let now = Timestamp::now().millis();
        let turn = self.writes().await?;
        let mut tx = turn.begin().await?;
        let mut account = self.lock_account(&mut tx, ws, now).await?.ok_or(StoreError::NotFound("credit account"))?;
        if let Some(key) = idempotency_key {
            if let Some(entry) = self.entry_by_key(&mut tx, ws, key).await? {
                tx.rollback().await?;
                return same_request(entry, CreditEntryKind::TopUp, amount, None);
            }
        }
        self.roll_over(&mut tx, &mut account, now).await?;
        let change = Change {
            kind: CreditEntryKind::TopUp,
            allowance: 0,
            topup: amount,
            reason,
            conversation: None,
            key: idempotency_key,
            refund_of: None,
        };
        let entry = self.apply(&mut tx, &mut account, change, now).await?.ok_or_else(vanished)?;
        tx.commit().await?;
        Ok(entry)
    }

    /// Spends `amount` credits, the cycle's allowance first, then top-ups, and records why (and in
    /// which conversation). When the balance is short, fails with
    /// [`StoreError::InsufficientCredits`] and charges nothing. A retry with the same
    /// `idempotency_key` returns the first debit's entry and charges nothing more (a key used for
    /// another amount or operation is a `Conflict`, `idempotency_key_reused`).
    pub async fn debit_credits(
        &self,
        ws: WorkspaceId,
        amount: i64,
        reason: &str,
        conversation: Option<&str>,
        idempotency_key: &str,
    ) -> Result<CreditEntry> {
        check_amount(amount)?;
        let reason = check_reason(reason)?;
        check_text("idempotency_key", "invalid_idempotency_key", Some(idempotency_key))?;
        check_text("conversation_id", "invalid_conversation_id", conversation)?;
        let now = Timestamp::now().millis();
        let turn = self.writes().await?;
        let mut tx = turn.begin().await?;
        let mut account = self.lock_account(&mut tx, ws, now).await?.ok_or(StoreError::NotFound("credit account"))?;
        if let Some(entry) = self.entry_by_key(&mut tx, ws, idempotency_key).await? {
            tx.rollback().await?;
            return same_request(entry, CreditEntryKind::Debit, -amount, None);
        }
        let reset = self.roll_over(&mut tx, &mut account, now).await?;
        let from_allowance = amount.min(account.allowance_remaining);
        let change = Change {
            kind: CreditEntryKind::Debit,
            allowance: -from_allowance,
            topup: -(amount - from_allowance),
            reason,
            conversation,
            key: Some(idempotency_key),
            refund_of: None,
        };
        let available = account.balance();
        let entry = if available >= amount { self.apply(&mut tx, &mut account, change, now).await? } else { None };
        match entry {
            Some(entry) => {
                tx.commit().await?;
                Ok(entry)
            }
            None => {
                // A new cycle noticed on the way is kept; the debit leaves no trace.
                if reset {
                    tx.commit().await?;
                } else {
                    tx.rollback().await?;
                }
                Err(StoreError::InsufficientCredits { needed: amount, available })
            }
        }
    }

    /// Gives back `amount` credits of the debit `debit_id` (a reservation that produced less than it
    /// reserved); the refunds of a debit never add up to more than it took (else `Invalid`,
    /// `refund_exceeds_debit`, and nothing is written). Credits return where the debit took them,
    /// top-ups first; those it took from an allowance whose cycle has since ended become top-ups.
    /// With an `idempotency_key`, a retry returns the first refund's entry.
    pub async fn refund_credits(
        &self,
        ws: WorkspaceId,
        debit_id: &str,
        amount: i64,
        reason: &str,
        idempotency_key: Option<&str>,
    ) -> Result<CreditEntry> {
        check_amount(amount)?;
        let reason = check_reason(reason)?;
        check_text("idempotency_key", "invalid_idempotency_key", idempotency_key)?;
        let now = Timestamp::now().millis();
        let turn = self.writes().await?;
        let mut tx = turn.begin().await?;
        let mut account = self.lock_account(&mut tx, ws, now).await?.ok_or(StoreError::NotFound("credit account"))?;
        if let Some(key) = idempotency_key {
            if let Some(entry) = self.entry_by_key(&mut tx, ws, key).await? {
                tx.rollback().await?;
                return same_request(entry, CreditEntryKind::Refund, amount, Some(debit_id));
            }
        }
        let mut sql = self.sql(&format!("SELECT {ENTRY_COLUMNS} FROM credit_entries WHERE kind = 'debit' AND workspace_id = "));
        sql.bind(ws.to_string()).push(" AND id = ").bind(debit_id.to_string());
        let debit: CreditEntry =
            run!(sql, as EntryRow, fetch_optional(&mut *tx))?.ok_or(StoreError::NotFound("credit debit"))?.try_into()?;
        let mut sql = self.sql("SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM credit_entries WHERE workspace_id = ");
        sql.bind(ws.to_string()).push(" AND refund_of = ").bind(debit_id.to_string());
        let (refunded,): (i64,) = run!(sql, as (i64,), fetch_one(&mut *tx))?;
        let left = -debit.amount - refunded;
        if amount > left {
            tx.rollback().await?;
            return Err(StoreError::invalid(
                "amount",
                "refund_exceeds_debit",
                format!("this debit took {} credits and {left} remain to refund; {amount} cannot be", -debit.amount),
            ));
        }
        self.roll_over(&mut tx, &mut account, now).await?;
        // Refunds give back the debit's top-up part first: what stays spent is what a debit of the
        // smaller amount would have taken.
        let topup_part = -debit.topup_amount;
        let mut topup = amount.min(topup_part - refunded.min(topup_part));
        let mut allowance = amount - topup;
        let mut sql = self.sql("SELECT COUNT(*) FROM credit_entries WHERE kind = 'allowance_reset' AND workspace_id = ");
        sql.bind(ws.to_string()).push(" AND seq > ").bind(debit.seq);
        let (resets_since,): (i64,) = run!(sql, as (i64,), fetch_one(&mut *tx))?;
        if resets_since > 0 {
            topup += allowance;
            allowance = 0;
        }
        let change = Change {
            kind: CreditEntryKind::Refund,
            allowance,
            topup,
            reason,
            conversation: debit.conversation_id.as_deref(),
            key: idempotency_key,
            refund_of: Some(debit_id),
        };
        let entry = self.apply(&mut tx, &mut account, change, now).await?.ok_or_else(vanished)?;
        tx.commit().await?;
        Ok(entry)
    }

    /// The workspace's ledger, newest entry first.
    pub async fn list_credit_entries(&self, ws: WorkspaceId, page: Page) -> Result<Paged<CreditEntry>> {
        let mut sql = self.sql(&format!("SELECT {ENTRY_COLUMNS} FROM credit_entries WHERE workspace_id = "));
        sql.bind(ws.to_string()).push(" ORDER BY seq DESC LIMIT ").bind(page.limit + 1).push(" OFFSET ").bind(page.offset);
        let rows = run!(sql, as EntryRow, fetch_all(&self.pool))?.into_iter().map(TryInto::try_into).collect::<Result<Vec<_>>>()?;
        Ok(page.finish(rows))
    }

    /// Moves the start of the workspace's current cycle `ms` into the past (tests of cycle ends).
    #[cfg(feature = "testing")]
    pub async fn backdate_credit_cycle(&self, ws: WorkspaceId, ms: i64) -> Result<()> {
        let mut sql = self.sql("UPDATE credit_accounts SET cycle_start = cycle_start - ");
        sql.bind(ms).push(" WHERE workspace_id = ").bind(ws.to_string());
        run!(sql, execute(&*self.writes().await?))?;
        Ok(())
    }

    /// Locks the workspace's account until the transaction ends and returns it as it then is.
    async fn lock_account(&self, conn: &mut AnyConnection, ws: WorkspaceId, now: i64) -> Result<Option<AccountRow>> {
        let mut sql = self.sql("UPDATE credit_accounts SET updated_at = ");
        sql.bind(now).push(" WHERE workspace_id = ").bind(ws.to_string()).push(&format!(" RETURNING {ACCOUNT_COLUMNS}"));
        Ok(run!(sql, as AccountRow, fetch_optional(&mut *conn))?)
    }

    /// Creates the account with its first cycle starting now, or, when a concurrent call created it
    /// first, locks that one.
    async fn create_account(&self, conn: &mut AnyConnection, ws: WorkspaceId, plan: CreditPlan, now: i64) -> Result<AccountRow> {
        let mut sql = self.sql(&format!("INSERT INTO credit_accounts ({ACCOUNT_COLUMNS}) VALUES ("));
        sql.bind(ws.to_string()).push(", ").bind(plan.allowance_per_cycle).push(", ").bind(plan.cycle_days).push(", ").bind(now);
        sql.push(", 0, 0, 0, ").bind(now).push(", ").bind(now).push(") ON CONFLICT DO NOTHING");
        let inserted = run!(sql, execute(&mut *conn)).map_err(|e| match &e {
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => StoreError::NotFound("workspace"),
            _ => StoreError::Database(e),
        })?;
        let mut account = self.lock_account(conn, ws, now).await?.ok_or_else(vanished)?;
        if inserted.rows_affected() == 1 {
            self.reset_allowance(conn, &mut account, now, now).await?;
        }
        Ok(account)
    }

    /// Starts the cycle that `now` falls in when the account's current one has ended; `true` if it did.
    async fn roll_over(&self, conn: &mut AnyConnection, account: &mut AccountRow, now: i64) -> Result<bool> {
        if now < account.cycle_end() {
            return Ok(false);
        }
        let cycle_ms = account.cycle_days * DAY_MS;
        let start = account.cycle_start + (now - account.cycle_start) / cycle_ms * cycle_ms;
        self.reset_allowance(conn, account, start, now).await
    }

    /// Sets the allowance to the plan's for the cycle starting at `start`, once: the `UPDATE` is
    /// conditional on the cycle it ends. `false` if another writer did it first.
    async fn reset_allowance(&self, conn: &mut AnyConnection, account: &mut AccountRow, start: i64, now: i64) -> Result<bool> {
        let old_allowance = account.allowance_remaining;
        let mut sql = self.sql("UPDATE credit_accounts SET allowance_remaining = allowance_per_cycle, seq = seq + 1, cycle_start = ");
        sql.bind(start).push(", updated_at = ").bind(now).push(" WHERE workspace_id = ").bind(account.workspace_id.clone());
        sql.push(" AND cycle_start = ").bind(account.cycle_start).push(" AND seq = ").bind(account.seq);
        sql.push(&format!(" RETURNING {ACCOUNT_COLUMNS}"));
        let Some(row) = run!(sql, as AccountRow, fetch_optional(&mut *conn))? else {
            return Ok(false);
        };
        *account = row;
        let change = Change {
            kind: CreditEntryKind::AllowanceReset,
            allowance: account.allowance_remaining - old_allowance,
            topup: 0,
            reason: &format!("billing cycle of {} days: {} credits", account.cycle_days, account.allowance_per_cycle),
            conversation: None,
            key: None,
            refund_of: None,
        };
        self.insert_entry(conn, account, &change, now).await?;
        Ok(true)
    }

    /// Applies `change` to the locked `account` and records it. The `UPDATE` refuses to take either
    /// balance below zero (`None`), so no interleaving of writers can overdraw.
    async fn apply(&self, conn: &mut AnyConnection, account: &mut AccountRow, change: Change<'_>, now: i64) -> Result<Option<CreditEntry>> {
        let mut sql = self.sql("UPDATE credit_accounts SET allowance_remaining = allowance_remaining + ");
        sql.bind(change.allowance).push(", topup_balance = topup_balance + ").bind(change.topup);
        sql.push(", seq = seq + 1, updated_at = ").bind(now);
        sql.push(" WHERE workspace_id = ").bind(account.workspace_id.clone());
        sql.push(" AND allowance_remaining + topup_balance + ").bind(change.allowance + change.topup).push(" >= 0");
        sql.push(" AND allowance_remaining + ").bind(change.allowance).push(" >= 0");
        sql.push(" AND topup_balance + ").bind(change.topup).push(" >= 0");
        sql.push(&format!(" RETURNING {ACCOUNT_COLUMNS}"));
        let Some(row) = run!(sql, as AccountRow, fetch_optional(&mut *conn))? else {
            return Ok(None);
        };
        *account = row;
        self.insert_entry(conn, account, &change, now).await.map(Some)
    }

    /// Writes the entry of a change just applied to `account` (which holds the balances after it).
    async fn insert_entry(&self, conn: &mut AnyConnection, account: &AccountRow, change: &Change<'_>, now: i64) -> Result<CreditEntry> {
        let entry = CreditEntry {
            id: uuid::Uuid::now_v7().to_string(),
            seq: account.seq,
            kind: change.kind,
            amount: change.allowance + change.topup,
            allowance_amount: change.allowance,
            topup_amount: change.topup,
            reason: change.reason.to_string(),
            conversation_id: change.conversation.map(str::to_string),
            idempotency_key: change.key.map(str::to_string),
            refund_of: change.refund_of.map(str::to_string),
            allowance_after: account.allowance_remaining,
            topup_after: account.topup_balance,
            balance_after: account.balance(),
            created_at: Timestamp::from_millis(now),
        };
        let mut sql = self.sql(&format!("INSERT INTO credit_entries (workspace_id, {ENTRY_COLUMNS}) VALUES ("));
        sql.bind(account.workspace_id.clone()).push(", ").bind(entry.id.clone()).push(", ").bind(entry.seq);
        sql.push(", ").bind(entry.kind.as_str()).push(", ").bind(entry.amount).push(", ").bind(entry.allowance_amount);
        sql.push(", ").bind(entry.topup_amount).push(", ").bind(entry.reason.clone()).push(", ").bind(entry.conversation_id.clone());
        sql.push(", ").bind(entry.idempotency_key.clone()).push(", ").bind(entry.refund_of.clone());
        sql.push(", ").bind(entry.allowance_after).push(", ").bind(entry.topup_after).push(", ").bind(entry.balance_after);
        sql.push(", ").bind(now).push(")");
        run!(sql, execute(&mut *conn)).map_err(StoreError::on_conflict(
            "idempotency_key_reused",
            "this idempotency key was already used for another credit operation",
        ))?;
        Ok(entry)
    }

    async fn entry_by_key(&self, conn: &mut AnyConnection, ws: WorkspaceId, key: &str) -> Result<Option<CreditEntry>> {
        let mut sql = self.sql(&format!("SELECT {ENTRY_COLUMNS} FROM credit_entries WHERE workspace_id = "));
        sql.bind(ws.to_string()).push(" AND idempotency_key = ").bind(key.to_string());
        run!(sql, as EntryRow, fetch_optional(&mut *conn))?.map(TryInto::try_into).transpose()
    }
}
