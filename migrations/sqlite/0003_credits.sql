-- Credits: what AI features spend (1 credit per smart-reply suggestion, 1 per improved draft).
-- One account per workspace holds the plan (an allowance per billing cycle) and two balances: what
-- is left of the current cycle's allowance (reset at each new cycle, unused credits expire) and
-- top-ups (bought, never expire). Debits spend the allowance first, then top-ups.
--
-- Every change of a balance is one row of `credit_entries`, written in the same transaction as the
-- account update that it records; entries are never updated or deleted (but go with their
-- workspace). `seq` numbers a workspace's entries in the order they were applied, so that each
-- entry's `balance_after` is the previous entry's plus its `amount`, from zero.

CREATE TABLE credit_accounts (
    workspace_id TEXT PRIMARY KEY REFERENCES workspaces(id) ON DELETE CASCADE,
    allowance_per_cycle BIGINT NOT NULL CHECK (allowance_per_cycle >= 0),
    cycle_days BIGINT NOT NULL CHECK (cycle_days >= 1),
    cycle_start BIGINT NOT NULL,
    allowance_remaining BIGINT NOT NULL CHECK (allowance_remaining >= 0),
    topup_balance BIGINT NOT NULL CHECK (topup_balance >= 0),
    -- The `seq` of the latest entry.
    seq BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE credit_entries (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('allowance_reset', 'top_up', 'debit', 'refund')),
    -- Signed change of the balance, and its two parts: on the cycle's allowance and on top-ups.
    amount BIGINT NOT NULL,
    allowance_amount BIGINT NOT NULL,
    topup_amount BIGINT NOT NULL,
    reason TEXT NOT NULL,
    -- The conversation a debit was spent on; no foreign key: the ledger outlives conversations.
    conversation_id TEXT,
    idempotency_key TEXT,
    -- The debit a refund gives credits back to.
    refund_of TEXT REFERENCES credit_entries(id),
    allowance_after BIGINT NOT NULL CHECK (allowance_after >= 0),
    topup_after BIGINT NOT NULL CHECK (topup_after >= 0),
    balance_after BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    CHECK (amount = allowance_amount + topup_amount),
    CHECK (balance_after = allowance_after + topup_after),
    UNIQUE (workspace_id, seq),
    UNIQUE (workspace_id, idempotency_key)
);
CREATE INDEX credit_entries_by_refund ON credit_entries (refund_of);
