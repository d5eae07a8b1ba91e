//! Income statistics (a range, per form, per method, a daily chart drawn as
//! SVG by the app) and the audit log of administrators' actions.

use super::admin_orders::{urlencode, AdminNav};
use crate::domain::{Channel, Money};
use crate::i18n::admin::AdminStrings;
use crate::i18n::use_lang;
use leptos::prelude::*;
use leptos_router::components::Redirect;
use leptos_router::hooks::use_query_map;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TotalsView {
    pub key: String,
    pub label: String,
    pub count: i64,
    pub gross_fen: i64,
    pub refunded_fen: i64,
    /// The providers' fees, from the reconciled bills.
    pub fee_fen: i64,
    /// Shared with receivers (分账) and not returned.
    pub share_fen: i64,
    pub net_fen: i64,
    pub average_fen: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatsView {
    pub from: String,
    pub to: String,
    pub form: String,
    pub total: TotalsView,
    pub per_form: Vec<TotalsView>,
    pub per_channel: Vec<TotalsView>,
    /// (Beijing date `MM-DD`, net fen) per day of the range.
    pub daily: Vec<(String, i64)>,
    pub forms: Vec<(String, String)>,
}

/// Formats fen as yuan, with a minus sign for a negative figure.
pub fn yuan(fen: i64) -> String {
    let m = Money::from_fen(fen.abs())
        .map(|m| m.to_string())
        .unwrap_or_default();
    if fen < 0 {
        format!("-{m}")
    } else {
        m
    }
}

/// `from`/`to` are Beijing dates (both included); `days` (the last n days)
/// overrides them; nothing means the last 30 days.
#[server(endpoint = "admin_stats")]
pub async fn admin_stats(
    from: String,
    to: String,
    form: String,
    days: String,
) -> Result<StatsView, ServerFnError> {
    use crate::domain::form::ms_to_beijing_local;
    use crate::ssr::{forms, order_list::date_start, stats, AppState};
    crate::ssr::auth::require(crate::domain::Permission::ViewStats).await?;
    let state = AppState::from_context()?;
    let fail = crate::errors::Failure::Read("the statistics").log::<anyhow::Error>();
    let day = 86_400_000;
    let today = stats::beijing_midnight(stats::now());
    let mut start = date_start(&from).unwrap_or(today - 29 * day);
    let mut end = date_start(&to).map(|t| t + day).unwrap_or(today + day);
    if end <= start {
        std::mem::swap(&mut start, &mut end);
        start -= day;
        end += day;
    }
    if let Ok(n) = days.trim().parse::<i64>() {
        start = today - (n.clamp(1, 400) - 1) * day;
        end = today + day;
    }
    // At most about a year per chart.
    start = start.max(end - 400 * day);
    let form_id = Some(form.trim()).filter(|f| !f.is_empty());
    let report = stats::report(&state.db, start, end, form_id)
        .await
        .map_err(fail)?;
    let view = |t: stats::Totals| TotalsView {
        net_fen: t.net_fen(),
        average_fen: t.average_fen(),
        key: t.key,
        label: t.label,
        count: t.count,
        gross_fen: t.gross_fen,
        refunded_fen: t.refunded_fen,
        fee_fen: t.fee_fen,
        share_fen: t.share_fen,
    };
    let date = |ms: i64| ms_to_beijing_local(ms)[..10].to_owned();
    Ok(StatsView {
        from: date(start),
        to: date(end - day),
        form: form_id.unwrap_or_default().to_owned(),
        total: view(report.total),
        per_form: report.per_form.into_iter().map(view).collect(),
        per_channel: report.per_channel.into_iter().map(view).collect(),
        daily: report
            .daily
            .into_iter()
            .map(|(d, t)| (date(d * day)[5..].to_owned(), t.net_fen()))
            .collect(),
        forms: forms::list_forms(&state.db)
            .await
            .map_err(fail)?
            .into_iter()
            .map(|f| (f.id, f.def.title))
            .collect(),
    })
}

#[component]
pub fn StatsPage() -> impl IntoView {
    let lang = use_lang();
    let adm = move || lang.get().admin();
    let query = use_query_map();
    let get = move |k: &str| query.read().get(k).unwrap_or_default();
    let data = Resource::new(
        move || (get("from"), get("to"), get("form"), get("days")),
        |(f, t, form, days)| admin_stats(f, t, form, days),
    );
    view! {
        <AdminNav />
        <section class="card">
            <h1>{move || adm().stats_title}</h1>
            <Suspense fallback=|| view! { <p>"…"</p> }>
                {move || Suspend::new(async move {
                    match data.await {
                        Ok(s) => view! { <StatsBody s /> }.into_any(),
                        Err(_) => view! { <Redirect path="/admin/login" /> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn StatsBody(s: StatsView) -> impl IntoView {
    let lang = use_lang();
    let t = move || lang.get().t();
    let adm = move || lang.get().admin();
    let form = s.form.clone();
    let quick = move |days: i64| {
        let mut q = format!("?days={days}");
        if !form.is_empty() {
            q.push_str(&format!("&form={}", urlencode(&form)));
        }
        q
    };
    let total = s.total.clone();
    let card = move |label: fn(&AdminStrings) -> &'static str,
                     value: String,
                     testid: &'static str| {
        view! {
            <div class="stat"><p class="muted">{move || label(adm())}</p><p class="amount" data-testid=testid>{value}</p></div>
        }
    };
    let channel_label = move |key: &str| {
        Channel::parse(key)
            .map(|c| t().channel_with_mode(c))
            .unwrap_or_else(|| key.to_owned())
    };
    let rows = move |list: Vec<TotalsView>, by_channel: bool, testid: &'static str| {
        view! {
            <div class="table-wrap">
                <table class="table" data-testid=testid>
                    <thead><tr>
                        <th></th>
                        <th>{move || adm().stat_count}</th>
                        <th>{move || adm().stat_received}</th>
                        <th>{move || adm().stat_refunded}</th>
                        <th>{move || adm().stat_fees}</th>
                        <th>{move || adm().stat_shares}</th>
                        <th>{move || adm().col_net}</th>
                        <th>{move || adm().col_average}</th>
                    </tr></thead>
                    <tbody>
                        {list.into_iter().map(|r| {
                            let label = r.label.clone();
                            let key = r.key.clone();
                            view! {
                                <tr>
                                    <td>{move || if by_channel { channel_label(&key) } else { label.clone() }}</td>
                                    <td>{r.count}</td>
                                    <td>{yuan(r.gross_fen)}</td>
                                    <td>{yuan(r.refunded_fen)}</td>
                                    <td>{yuan(r.fee_fen)}</td>
                                    <td>{yuan(r.share_fen)}</td>
                                    <td>{yuan(r.net_fen)}</td>
                                    <td>{yuan(r.average_fen)}</td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        }
    };
    let selected_form = s.form.clone();
    view! {
        <form method="get" class="filters grid-filters" data-testid="stats-range">
            <label>{move || adm().date_from}<input type="date" name="from" value=s.from.clone() data-testid="stats-from" /></label>
            <label>{move || adm().date_to}<input type="date" name="to" value=s.to.clone() data-testid="stats-to" /></label>
            <select name="form" aria-label=move || adm().order_form data-testid="stats-form">
                <option value="">{move || adm().all_forms}</option>
                {s.forms.into_iter().map(|(id, title)| { let sel = id == selected_form; view! { <option value=id selected=sel>{title}</option> } }).collect_view()}
            </select>
            <button class="button primary" type="submit">{move || adm().show}</button>
            <a class="button" href="/admin/refunds.csv" data-testid="refunds-csv">{move || adm().export_refunds_csv}</a>
        </form>
        <p class="muted">
            <a href=quick(1)>{move || adm().today}</a> " · "
            <a href=quick(7)>{move || adm().last_7_days}</a> " · "
            <a href=quick(30)>{move || adm().last_30_days}</a>
        </p>
        <div class="stats" data-testid="stats-total">
            {card(|adm| adm.stat_net_income, yuan(total.net_fen), "stats-net")}
            {card(|adm| adm.stat_received, yuan(total.gross_fen), "stats-gross")}
            {card(|adm| adm.stat_refunded, yuan(total.refunded_fen), "stats-refunded")}
            {card(|adm| adm.stat_fees, yuan(total.fee_fen), "stats-fees")}
            {card(|adm| adm.stat_shares, yuan(total.share_fen), "stats-shares")}
            {card(|adm| adm.stat_count, total.count.to_string(), "stats-count")}
            {card(|adm| adm.stat_average_per_order, yuan(total.average_fen), "stats-average")}
        </div>
        <DailyChart days=s.daily />
        <h2>{move || adm().per_form}</h2>
        {rows(s.per_form, false, "stats-per-form")}
        <h2>{move || adm().per_method}</h2>
        {rows(s.per_channel, true, "stats-per-channel")}
    }
}

/// Net income per day as bars; the SVG scales to the width of a phone.
#[component]
fn DailyChart(days: Vec<(String, i64)>) -> impl IntoView {
    let lang = use_lang();
    let adm = move || lang.get().admin();
    let n = days.len().max(1) as i64;
    let max = days.iter().map(|(_, v)| *v).max().unwrap_or(0).max(1);
    let (w, h, top, bottom) = (600i64, 220i64, 20i64, 30i64);
    let slot = w / n;
    let bar = (slot * 7 / 10).max(1);
    let plot = h - top - bottom;
    let label_every = (n / 6).max(1);
    let first = days.first().map(|d| d.0.clone()).unwrap_or_default();
    let last = days.last().map(|d| d.0.clone()).unwrap_or_default();
    view! {
        <figure class="chart">
            <svg
                viewBox=format!("0 0 {w} {h}")
                width="100%"
                role="img"
                data-testid="daily-chart"
                aria-label=move || format!("{} {first} – {last}", adm().daily_net_income)
            >
                <line x1="0" y1=h - bottom x2=w y2=h - bottom class="axis" />
                <text x="2" y="14" class="chart-label">{yuan(max)}</text>
                {days.into_iter().enumerate().map(|(i, (date, v))| {
                    let i = i as i64;
                    let height = if v > 0 { (v * plot / max).max(1) } else { 0 };
                    let x = i * slot + (slot - bar) / 2;
                    let y = h - bottom - height;
                    let show = i % label_every == 0;
                    view! {
                        <g>
                            <rect x=x y=y width=bar height=height class="bar" data-day=date.clone() data-fen=v>
                                <title>{format!("{date}: ¥{}", yuan(v))}</title>
                            </rect>
                            {show.then(|| view! { <text x=x y=h - 10 class="chart-label">{date.clone()}</text> })}
                        </g>
                    }
                }).collect_view()}
            </svg>
        </figure>
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditView {
    pub rows: Vec<(String, String, String, String, String)>,
    pub total: i64,
    pub page: i64,
}

#[server(endpoint = "admin_audit")]
pub async fn admin_audit(page: i64) -> Result<AuditView, ServerFnError> {
    use crate::ssr::{audit, forms, AppState};
    crate::ssr::auth::require(crate::domain::Permission::ViewAudit).await?;
    let state = AppState::from_context()?;
    let page = page.clamp(1, super::MAX_PAGE);
    let (total, entries) = audit::page(&state.db, 50, (page - 1) * 50)
        .await
        .map_err(crate::errors::Failure::Read("the audit log").log())?;
    Ok(AuditView {
        rows: entries
            .into_iter()
            .map(|e| {
                (
                    forms::beijing_time(e.created_at),
                    e.admin_email,
                    e.action.to_string(),
                    e.target,
                    e.detail,
                )
            })
            .collect(),
        total,
        page,
    })
}

/// What the payment routes refused: callbacks that failed verification
/// (counted since the start, the latest kept in memory) and security events
/// (verified messages about another receiving account's orders).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SecurityView {
    pub rejected_total: u64,
    /// (when, provider, why, start of the body)
    pub rejected: Vec<(String, String, String, String)>,
    /// (when, kind, provider, account, detail)
    pub events: Vec<(String, String, String, String, String)>,
}

#[server(endpoint = "admin_security")]
pub async fn admin_security() -> Result<SecurityView, ServerFnError> {
    use crate::ssr::{forms, security, AppState};
    crate::ssr::auth::require(crate::domain::Permission::ViewAudit).await?;
    let state = AppState::from_context()?;
    let events = security::events(&state.db, 100).await.map_err(|e| {
        tracing::error!(error = ?e, "security events");
        ServerFnError::new("the security events cannot be read right now; try again")
    })?;
    Ok(SecurityView {
        rejected_total: state.security.rejected_total(),
        rejected: state
            .security
            .recent_rejected()
            .into_iter()
            .take(50)
            .map(|r| {
                (
                    forms::beijing_time(r.at),
                    r.provider,
                    r.reason,
                    r.body_start,
                )
            })
            .collect(),
        events: events
            .into_iter()
            .map(|e| {
                (
                    forms::beijing_time(e.created_at),
                    e.kind,
                    e.provider,
                    e.account_id.unwrap_or_else(|| "default".into()),
                    e.detail,
                )
            })
            .collect(),
    })
}

/// One queued or sent mail, as the log shows it (the address masked: the
/// log is for seeing that mail works, not for reading who paid).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MailLogRow {
    pub created: String,
    pub kind: String,
    pub to: String,
    pub subject: String,
    pub state: String,
    pub attempts: i64,
    pub error: Option<String>,
}

#[server(endpoint = "admin_mail_log")]
pub async fn admin_mail_log() -> Result<Vec<MailLogRow>, ServerFnError> {
    use crate::ssr::{forms, mail, AppState};
    crate::ssr::auth::require(crate::domain::Permission::ViewAudit).await?;
    let state = AppState::from_context()?;
    let rows = mail::recent(&state.db, 100)
        .await
        .map_err(crate::errors::Failure::Read("the mail log").log())?;
    Ok(rows
        .into_iter()
        .map(|m| MailLogRow {
            created: forms::beijing_time(m.created_at),
            kind: m.kind,
            to: crate::domain::form::mask_personal(&m.to_addr),
            subject: m.subject,
            state: m.state,
            attempts: m.attempts,
            error: m.last_error,
        })
        .collect())
}

#[component]
fn MailPanel() -> impl IntoView {
    let data = Resource::new(|| (), |_| admin_mail_log());
    view! {
        <section class="card">
            <h2>"邮件 Mail"</h2>
            <Suspense fallback=|| view! { <p>"…"</p> }>
                {move || Suspend::new(async move {
                    data.await.ok().map(|rows| if rows.is_empty() {
                        view! { <p class="muted" data-testid="mail-log-empty">"没有邮件 No mail (set SMTP_URL and MAIL_FROM to send receipts and notices)"</p> }.into_any()
                    } else {
                        view! {
                            <div class="table-wrap">
                                <table class="table" data-testid="mail-log">
                                    <tbody>
                                        {rows.into_iter().map(|m| view! {
                                            <tr><td>{m.created}</td><td>{m.kind}</td><td>{m.to}</td><td>{m.subject}</td><td>{m.state}</td><td>{m.attempts}</td><td>{m.error.unwrap_or_default()}</td></tr>
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            </div>
                        }.into_any()
                    })
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn SecurityPanel() -> impl IntoView {
    let lang = use_lang();
    let adm = move || lang.get().admin();
    let data = Resource::new(|| (), |_| admin_security());
    view! {
        <section class="card">
            <h2>{move || adm().security_events}</h2>
            <Suspense fallback=|| view! { <p>"…"</p> }>
                {move || Suspend::new(async move {
                    data.await.ok().map(|s| view! {
                        <p data-testid="rejected-total">
                            {move || adm().rejected_callbacks}
                            {s.rejected_total}
                        </p>
                        <div class="table-wrap">
                            <table class="table" data-testid="security-events">
                                <tbody>
                                    {s.events.into_iter().map(|(at, kind, provider, account, detail)| view! {
                                        <tr><td>{at}</td><td>{kind}</td><td>{provider}</td><td>{account}</td><td>{detail}</td></tr>
                                    }).collect_view()}
                                    {s.rejected.into_iter().map(|(at, provider, why, body)| view! {
                                        <tr><td>{at}</td><td>"rejected_callback"</td><td>{provider}</td><td>{why}</td><td><code>{body}</code></td></tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                        </div>
                    })
                })}
            </Suspense>
        </section>
    }
}

#[component]
pub fn AuditPage() -> impl IntoView {
    let lang = use_lang();
    let adm = move || lang.get().admin();
    let query = use_query_map();
    let page = move || {
        query
            .read()
            .get("page")
            .and_then(|p| p.parse::<i64>().ok())
            .unwrap_or(1)
    };
    let data = Resource::new(page, admin_audit);
    view! {
        <AdminNav />
        <section class="card">
            <h1>{move || adm().audit_title}</h1>
            <Suspense fallback=|| view! { <p>"…"</p> }>
                {move || Suspend::new(async move {
                    match data.await {
                        Ok(a) => {
                            let pages = (a.total + 49) / 50;
                            let p = a.page;
                            view! {
                                <div class="table-wrap">
                                    <table class="table" data-testid="audit">
                                        <thead><tr>
                                            <th>{move || adm().col_when}</th>
                                            <th>{move || adm().col_who}</th>
                                            <th>{move || adm().col_action}</th>
                                            <th>{move || adm().col_target}</th>
                                            <th>{move || adm().col_detail}</th>
                                        </tr></thead>
                                        <tbody>
                                            {a.rows.into_iter().map(|(at, who, what, target, detail)| view! {
                                                <tr><td>{at}</td><td>{who}</td><td>{what}</td><td>{target}</td><td>{detail}</td></tr>
                                            }).collect_view()}
                                        </tbody>
                                    </table>
                                </div>
                                <div class="row">
                                    {(p > 1).then(|| view! { <a class="button" href=format!("?page={}", p - 1)>"←"</a> })}
                                    {(p < pages).then(|| view! { <a class="button" href=format!("?page={}", p + 1)>"→"</a> })}
                                </div>
                            }.into_any()
                        }
                        Err(_) => view! { <Redirect path="/admin/login" /> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
        <SecurityPanel />
        <MailPanel />
    }
}
