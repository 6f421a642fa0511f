use std::collections::HashSet;

use tandem_core::WorkspaceId;
use tandem_store::{
    credits::{CreditEntry, CreditEntryKind, CreditPlan},
    Page, Store, StoreError,
};

use crate::on_both;

const DAY_MS: i64 = 86_400_000;

fn plan(allowance_per_cycle: i64) -> CreditPlan {
    CreditPlan { allowance_per_cycle, cycle_days: 30 }
}

/// The whole ledger, oldest first.
async fn ledger(store: &Store, ws: WorkspaceId) -> Vec<CreditEntry> {
    let mut entries = store.list_credit_entries(ws, Page::new(Some(Page::MAX_LIMIT), None)).await.unwrap();
    assert!(entries.next_offset.is_none());
    entries.items.reverse();
    entries.items
}

/// Entries are numbered 1, 2, 3, ... and each balance is the previous one plus the amount, never
/// negative; the last one is the account's.
async fn check_ledger(store: &Store, ws: WorkspaceId) -> Vec<CreditEntry> {
    let entries = ledger(store, ws).await;
    let (mut allowance, mut topup) = (0, 0);
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(e.seq, i as i64 + 1, "{entries:#?}");
        allowance += e.allowance_amount;
        topup += e.topup_amount;
        assert_eq!(e.amount, e.allowance_amount + e.topup_amount);
        assert_eq!((e.allowance_after, e.topup_after, e.balance_after), (allowance, topup, allowance + topup), "{e:#?}");
        assert!(e.allowance_after >= 0 && e.topup_after >= 0, "{e:#?}");
    }
    let account = store.credit_account(ws, plan(0)).await.unwrap();
    assert_eq!((account.allowance_remaining, account.topup_balance, account.balance), (allowance, topup, allowance + topup));
    entries
}

on_both!(credits_spend_allowance_then_top_ups, |store: Store| async move {
    let ws = store.create_workspace("Acme", None).await.unwrap().id;
    let account = store.credit_account(ws, plan(10)).await.unwrap();
    assert_eq!((account.allowance_per_cycle, account.allowance_remaining, account.topup_balance, account.balance), (10, 10, 0, 10));
    assert_eq!(account.cycle_end.millis() - account.cycle_start.millis(), 30 * DAY_MS);
    // The default applies only when the account is created.
    assert_eq!(store.credit_account(ws, plan(99)).await.unwrap().allowance_per_cycle, 10);

    let top_up = store.top_up_credits(ws, 20, "pack of 20", Some("pay_1")).await.unwrap();
    assert_eq!((top_up.kind, top_up.amount, top_up.topup_after, top_up.balance_after), (CreditEntryKind::TopUp, 20, 20, 30));

    let d = store.debit_credits(ws, 4, "smart reply: 4 suggestions", Some("conv-1"), "k1").await.unwrap();
    assert_eq!((d.kind, d.amount, d.allowance_amount, d.topup_amount, d.balance_after), (CreditEntryKind::Debit, -4, -4, 0, 26));
    assert_eq!((d.conversation_id.as_deref(), d.reason.as_str()), (Some("conv-1"), "smart reply: 4 suggestions"));
    // 6 left in the allowance: this one takes them and 3 of the top-ups.
    let d = store.debit_credits(ws, 9, "writing assistant", None, "k2").await.unwrap();
    assert_eq!((d.allowance_amount, d.topup_amount, d.allowance_after, d.topup_after), (-6, -3, 0, 17));
    let d = store.debit_credits(ws, 2, "writing assistant", None, "k3").await.unwrap();
    assert_eq!((d.allowance_amount, d.topup_amount, d.balance_after), (0, -2, 15));

    let account = store.credit_account(ws, plan(10)).await.unwrap();
    assert_eq!((account.allowance_remaining, account.topup_balance, account.balance), (0, 15, 15));
    let kinds: Vec<_> = check_ledger(&store, ws).await.iter().map(|e| e.kind).collect();
    use CreditEntryKind::*;
    assert_eq!(kinds, [AllowanceReset, TopUp, Debit, Debit, Debit]);

    // A top-up retried with its payment's key adds nothing.
    assert_eq!(store.top_up_credits(ws, 20, "pack of 20", Some("pay_1")).await.unwrap().id, top_up.id);
    assert_eq!(store.credit_account(ws, plan(10)).await.unwrap().balance, 15);

    // Newest first, paged.
    let page = store.list_credit_entries(ws, Page::new(Some(2), None)).await.unwrap();
    assert_eq!((page.items.iter().map(|e| e.seq).collect::<Vec<_>>(), page.next_offset), (vec![5, 4], Some(2)));

    // Nonsense is refused.
    assert!(matches!(store.debit_credits(ws, 0, "x", None, "k4").await, Err(StoreError::Invalid(_))));
    assert!(matches!(store.debit_credits(ws, 1, " ", None, "k4").await, Err(StoreError::Invalid(_))));
    assert!(matches!(store.debit_credits(ws, 1, "x", None, "").await, Err(StoreError::Invalid(_))));
    assert!(matches!(store.top_up_credits(ws, -5, "x", None).await, Err(StoreError::Invalid(_))));
    assert!(matches!(store.credit_account(ws, CreditPlan { allowance_per_cycle: 1, cycle_days: 0 }).await, Err(StoreError::Invalid(_))));
    assert_eq!(ledger(&store, ws).await.len(), 5);
});

on_both!(credits_insufficient_balance_writes_nothing, |store: Store| async move {
    let ws = store.create_workspace("Acme", None).await.unwrap().id;
    store.credit_account(ws, plan(3)).await.unwrap();
    store.top_up_credits(ws, 2, "pack", None).await.unwrap();
    let before = store.credit_account(ws, plan(3)).await.unwrap();

    let refused = store.debit_credits(ws, 6, "smart reply", Some("conv-1"), "k1").await.unwrap_err();
    assert!(matches!(refused, StoreError::InsufficientCredits { needed: 6, available: 5 }), "{refused:?}");
    assert_eq!(refused.to_string(), "not enough credits: 6 needed, 5 available");
    let after = store.credit_account(ws, plan(3)).await.unwrap();
    assert_eq!((after.allowance_remaining, after.topup_balance), (before.allowance_remaining, before.topup_balance));
    assert_eq!(ledger(&store, ws).await.len(), 2);

    // The refused key was not used up: once credits exist, the same request goes through.
    store.top_up_credits(ws, 1, "pack", None).await.unwrap();
    let d = store.debit_credits(ws, 6, "smart reply", Some("conv-1"), "k1").await.unwrap();
    assert_eq!(d.balance_after, 0);
    assert!(matches!(
        store.debit_credits(ws, 1, "smart reply", None, "k2").await,
        Err(StoreError::InsufficientCredits { needed: 1, available: 0 })
    ));
    assert_eq!(check_ledger(&store, ws).await.len(), 4);

    // Without an account there is nothing to spend or top up.
    let other = store.create_workspace("Other", None).await.unwrap().id;
    assert!(matches!(store.debit_credits(other, 1, "x", None, "k").await, Err(StoreError::NotFound(_))));
    assert!(matches!(store.top_up_credits(other, 1, "x", None).await, Err(StoreError::NotFound(_))));
    assert!(ledger(&store, other).await.is_empty());
});

on_both!(credits_debit_retried_with_its_key_is_charged_once, |store: Store| async move {
    let ws = store.create_workspace("Acme", None).await.unwrap().id;
    store.credit_account(ws, plan(10)).await.unwrap();
    let first = store.debit_credits(ws, 3, "smart reply", Some("conv-1"), "req-1").await.unwrap();
    let again = store.debit_credits(ws, 3, "smart reply", Some("conv-1"), "req-1").await.unwrap();
    assert_eq!(again, first);
    assert_eq!(store.credit_account(ws, plan(10)).await.unwrap().balance, 7);
    // The key of another request: a conflict, not a charge.
    for reused in [store.debit_credits(ws, 4, "smart reply", None, "req-1").await, store.top_up_credits(ws, 3, "pack", Some("req-1")).await]
    {
        assert!(matches!(reused, Err(StoreError::Conflict { code: "idempotency_key_reused", .. })), "{reused:?}");
    }
    assert_eq!(check_ledger(&store, ws).await.len(), 2);
});

on_both!(credits_refund_is_bounded_by_its_debit, |store: Store| async move {
    let ws = store.create_workspace("Acme", None).await.unwrap().id;
    store.credit_account(ws, plan(2)).await.unwrap();
    store.top_up_credits(ws, 10, "pack", None).await.unwrap();
    // Reserves 5 (2 from the allowance, 3 from top-ups), produces 1.
    let debit = store.debit_credits(ws, 5, "smart reply: 5 suggestions", Some("conv-1"), "req-1").await.unwrap();
    assert_eq!((debit.allowance_amount, debit.topup_amount), (-2, -3));

    // Top-ups come back first: what stays spent is what a debit of 2 would have taken.
    let r = store.refund_credits(ws, &debit.id, 3, "3 suggestions not produced", Some("req-1:refund")).await.unwrap();
    assert_eq!((r.kind, r.amount, r.allowance_amount, r.topup_amount), (CreditEntryKind::Refund, 3, 0, 3));
    assert_eq!((r.refund_of.as_deref(), r.conversation_id.as_deref()), (Some(debit.id.as_str()), Some("conv-1")));
    // Retried: the same refund, nothing more.
    assert_eq!(store.refund_credits(ws, &debit.id, 3, "3 suggestions not produced", Some("req-1:refund")).await.unwrap(), r);
    assert_eq!(store.credit_account(ws, plan(2)).await.unwrap().balance, 10);

    // 2 remain refundable: 3 is refused, and nothing is written.
    let e = store.refund_credits(ws, &debit.id, 3, "more", None).await.unwrap_err();
    assert!(matches!(&e, StoreError::Invalid(v) if v.code == "refund_exceeds_debit"), "{e:?}");
    let r = store.refund_credits(ws, &debit.id, 1, "one more", None).await.unwrap();
    assert_eq!((r.allowance_amount, r.topup_amount), (1, 0));
    store.refund_credits(ws, &debit.id, 1, "the last one", None).await.unwrap();
    assert!(matches!(store.refund_credits(ws, &debit.id, 1, "too many", None).await, Err(StoreError::Invalid(_))));
    let account = store.credit_account(ws, plan(2)).await.unwrap();
    assert_eq!((account.allowance_remaining, account.topup_balance), (2, 10));

    // Only debits are refunded.
    let top_up = store.top_up_credits(ws, 1, "pack", None).await.unwrap();
    assert!(matches!(store.refund_credits(ws, &top_up.id, 1, "x", None).await, Err(StoreError::NotFound(_))));
    assert!(matches!(store.refund_credits(ws, "no-such-entry", 1, "x", None).await, Err(StoreError::NotFound(_))));

    // The allowance part of a debit of an ended cycle comes back as top-ups.
    let debit = store.debit_credits(ws, 4, "writing assistant", None, "req-2").await.unwrap();
    assert_eq!((debit.allowance_amount, debit.topup_amount), (-2, -2));
    store.backdate_credit_cycle(ws, 31 * DAY_MS).await.unwrap();
    let r = store.refund_credits(ws, &debit.id, 4, "failed", None).await.unwrap();
    assert_eq!((r.allowance_amount, r.topup_amount, r.allowance_after, r.topup_after), (0, 4, 2, 13));
    check_ledger(&store, ws).await;
});

on_both!(credits_cycle_rolls_over_once, |store: Store| async move {
    let ws = store.create_workspace("Acme", None).await.unwrap().id;
    let first = store.credit_account(ws, CreditPlan { allowance_per_cycle: 10, cycle_days: 7 }).await.unwrap();
    store.top_up_credits(ws, 5, "pack", None).await.unwrap();
    store.debit_credits(ws, 8, "smart reply", None, "k1").await.unwrap();
    // The new plan waits for the next cycle.
    let account = store.set_credit_plan(ws, CreditPlan { allowance_per_cycle: 20, cycle_days: 7 }).await.unwrap();
    assert_eq!((account.allowance_per_cycle, account.allowance_remaining, account.topup_balance), (20, 2, 5));

    // Two and a half cycles later: many readers and writers notice at once; one reset happens.
    store.backdate_credit_cycle(ws, 17 * DAY_MS + 12 * 3_600_000).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            if i % 2 == 0 {
                store.credit_account(ws, plan(0)).await.map(|_| ())
            } else {
                store.debit_credits(ws, 1, "smart reply", None, &format!("r{i}")).await.map(|_| ())
            }
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let entries = check_ledger(&store, ws).await;
    let resets: Vec<_> = entries.iter().filter(|e| e.kind == CreditEntryKind::AllowanceReset).collect();
    assert_eq!(resets.len(), 2, "{resets:#?}"); // the first cycle's, and this one
    assert_eq!((resets[1].amount, resets[1].allowance_after), (18, 20)); // the 2 left expired
    let account = store.credit_account(ws, plan(0)).await.unwrap();
    // The cycle that now falls in: the third since the first, 7 days long.
    assert_eq!(account.cycle_start.millis() - (first.cycle_start.millis() - 17 * DAY_MS - 12 * 3_600_000), 14 * DAY_MS);
    assert_eq!(account.cycle_end.millis() - account.cycle_start.millis(), 7 * DAY_MS);
    assert_eq!((account.allowance_remaining, account.topup_balance), (10, 5));
    // Read again: no second reset.
    store.credit_account(ws, plan(0)).await.unwrap();
    assert_eq!(ledger(&store, ws).await.len(), entries.len());
});

on_both!(credits_are_per_workspace, |store: Store| async move {
    let a = store.create_workspace("A", None).await.unwrap().id;
    let b = store.create_workspace("B", None).await.unwrap().id;
    store.credit_account(a, plan(10)).await.unwrap();
    let debit = store.debit_credits(a, 4, "smart reply", None, "same-key").await.unwrap();

    // B has its own account, and a key of A's means nothing in B.
    assert_eq!(store.credit_account(b, plan(0)).await.unwrap().balance, 0);
    assert!(matches!(store.debit_credits(b, 1, "smart reply", None, "same-key").await, Err(StoreError::InsufficientCredits { .. })));
    assert!(matches!(store.refund_credits(b, &debit.id, 1, "x", None).await, Err(StoreError::NotFound(_))));
    assert_eq!(ledger(&store, b).await.len(), 1); // its own first cycle, nothing of A's
    store.top_up_credits(b, 2, "pack", None).await.unwrap();
    let b_debit = store.debit_credits(b, 1, "smart reply", None, "same-key").await.unwrap();
    assert_ne!(b_debit.id, debit.id);

    assert_eq!(store.credit_account(a, plan(0)).await.unwrap().balance, 6);
    assert_eq!(store.credit_account(b, plan(0)).await.unwrap().balance, 1);
    check_ledger(&store, a).await;
    check_ledger(&store, b).await;
    // An account needs its workspace.
    assert!(matches!(store.credit_account(WorkspaceId::new(), plan(1)).await, Err(StoreError::NotFound(_))));
});

on_both!(credits_concurrent_debits_never_overdraw, |store: Store| async move {
    let ws = store.create_workspace("Acme", None).await.unwrap().id;
    store.credit_account(ws, plan(30)).await.unwrap();
    store.top_up_credits(ws, 20, "pack", None).await.unwrap();

    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move { store.debit_credits(ws, 1, "smart reply", Some("conv-1"), &format!("req-{i}")).await })
        })
        .collect();
    let (mut ok, mut refused) = (Vec::new(), 0);
    for t in tasks {
        match t.await.unwrap() {
            Ok(entry) => ok.push(entry),
            Err(StoreError::InsufficientCredits { needed: 1, available: 0 }) => refused += 1,
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!((ok.len(), refused), (50, 50));
    assert_eq!(ok.iter().map(|e| e.balance_after).collect::<HashSet<_>>(), (0..50).collect());
    let entries = check_ledger(&store, ws).await;
    assert_eq!(entries.iter().filter(|e| e.kind == CreditEntryKind::Debit).count(), 50);
    assert_eq!(store.credit_account(ws, plan(0)).await.unwrap().balance, 0);

    // One request retried by 10 tasks at once is charged once.
    store.top_up_credits(ws, 5, "pack", None).await.unwrap();
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.debit_credits(ws, 3, "smart reply", Some("conv-2"), "retried").await.unwrap() })
        })
        .collect();
    let mut ids = HashSet::new();
    for t in tasks {
        ids.insert(t.await.unwrap().id);
    }
    assert_eq!(ids.len(), 1);
    assert_eq!(store.credit_account(ws, plan(0)).await.unwrap().balance, 2);
    assert_eq!(check_ledger(&store, ws).await.len(), entries.len() + 2);
});
