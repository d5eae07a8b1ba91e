//! The names of what is logged: administrators' actions (the audit log),
//! what happens to an order (its event log), and which way a provider
//! message went. Enums, so that a new one is added in one place and every
//! reader (pages, exports) is told by the compiler.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! names {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            pub fn parse(s: &str) -> Option<$name> {
                Self::ALL.iter().copied().find(|v| v.as_str() == s)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

names!(
    /// What an administrator did (`audit_log.action`).
    AuditAction {
        Refund => "refund",
        CreateAccount => "create_account",
        UpdateAccount => "update_account",
        EnableAccount => "enable_account",
        DisableAccount => "disable_account",
        FormAccount => "form_account",
        CloseOrder => "close_order",
        AcceptPayment => "accept_payment",
        ChangePassword => "change_password",
        /// A submission's answers erased on its payer's request (PIPL).
        EraseSubmission => "erase_submission",
        /// Everything held about one payer was exported (PIPL).
        ExportPayerData => "export_payer_data",
        /// A submission's masked phone or ID number shown in full.
        RevealPersonalData => "reveal_personal_data",
        /// Submissions (personal data) exported as CSV.
        ExportSubmissions => "export_submissions",
        /// Orders or refunds exported as CSV.
        ExportOrders => "export_orders",
        Login => "login",
        /// A login refused (wrong password or code, disabled); the target is
        /// the email tried.
        LoginFailed => "login_failed",
        CreateForm => "create_form",
        EditForm => "edit_form",
        /// A form published, closed or taken back to draft.
        FormStatus => "form_status",
        InviteAdmin => "invite_admin",
        RevokeInvite => "revoke_invite",
        /// An invitation accepted: a new administrator.
        JoinAdmin => "join_admin",
        ChangeRole => "change_role",
        DisableAdmin => "disable_admin",
        EnableAdmin => "enable_admin",
        EnableTwoFactor => "enable_two_factor",
        DisableTwoFactor => "disable_two_factor",
        /// An owner turned off another administrator's two-factor login.
        ResetTwoFactor => "reset_two_factor",
        RevokeSession => "revoke_session",
        AddWebhook => "add_webhook",
        RemoveWebhook => "remove_webhook",
        AddDiscountCode => "add_discount_code",
        RemoveDiscountCode => "remove_discount_code",
        /// A phone number (masked) or an address put on the blocklist.
        Block => "block",
        Unblock => "unblock",
        /// A day's bill reconciled on demand (account, provider, date).
        ReconcileBill => "reconcile_bill",
        /// A reconciliation discrepancy marked resolved, with a note.
        ResolveDiscrepancy => "resolve_discrepancy",
        /// A profit-sharing receiver registered or removed.
        AddShareReceiver => "add_share_receiver",
        RemoveShareReceiver => "remove_share_receiver",
        /// A form's share to a receiver set or removed.
        SetShare => "set_share",
    }
);

names!(
    /// What happened to an order (`order_events.kind`).
    OrderEventKind {
        /// Stored with its submission.
        Created => "created",
        /// A provider order (payment attempt) was made.
        ProviderOrder => "provider_order",
        ProviderError => "provider_error",
        /// A payment attempt was closed, or is watched until it can no longer be paid.
        AttemptClosed => "attempt_closed",
        /// A provider's callback changed the order.
        Notify => "notify",
        /// Our query of the provider changed the order.
        Query => "query",
        /// The provider's daily bill showed a payment we had not recorded.
        Bill => "bill",
        /// Profit sharing: a split finished or failed, a share returned.
        Share => "share",
        /// Another payment arrived on an order that keeps its status.
        PaidAgain => "paid_again",
        RejectedReport => "rejected_report",
        QueryFailed => "query_failed",
        CloseFailed => "close_failed",
        /// An administrator asked the provider.
        Queried => "queried",
        Expired => "expired",
        Closed => "closed",
        ReviewAccepted => "review_accepted",
        RefundRequested => "refund_requested",
        RefundSucceeded => "refund_succeeded",
        RefundClosed => "refund_closed",
        RefundAbnormal => "refund_abnormal",
        RefundProcessing => "refund_processing",
        RefundError => "refund_error",
        RefundQueryFailed => "refund_query_failed",
        RejectedRefundReport => "rejected_refund_report",
    }
);

names!(
    /// Which way a provider message went (`payment_log.direction`).
    Direction {
        /// Our call to the provider.
        Out => "out",
        /// The provider's callback to us.
        In => "in",
    }
);

/// One message of an order's live status stream (`event: status` on
/// `/api/v1/orders/{id}/events`): written by the server, read by the payer's
/// page, the same type on both sides.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusEvent {
    pub status: crate::OrderStatus,
    pub amount_fen: i64,
    pub paid_at: Option<i64>,
    pub receipt_url: String,
}

impl StatusEvent {
    /// The SSE event name.
    pub const NAME: &'static str = "status";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        for a in AuditAction::ALL {
            assert_eq!(AuditAction::parse(a.as_str()), Some(*a));
        }
        for k in OrderEventKind::ALL {
            assert_eq!(OrderEventKind::parse(k.as_str()), Some(*k));
        }
        let mut names: Vec<&str> = OrderEventKind::ALL.iter().map(|k| k.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), OrderEventKind::ALL.len());
        assert_eq!(Direction::parse("in"), Some(Direction::In));
    }

    #[test]
    fn status_events_round_trip_in_the_documented_shape() {
        let e = StatusEvent {
            status: crate::OrderStatus::Paid,
            amount_fen: 1234,
            paid_at: Some(1),
            receipt_url: "/r/abc".into(),
        };
        let json = serde_json::to_value(&e).expect("json");
        assert_eq!(json["status"], "paid");
        assert_eq!(json["amount_fen"], 1234);
        assert_eq!(
            serde_json::from_value::<StatusEvent>(json).expect("back"),
            e
        );
        assert!(serde_json::from_str::<StatusEvent>(r#"{"status":"nope"}"#).is_err());
    }
}
