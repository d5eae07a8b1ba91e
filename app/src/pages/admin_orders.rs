//! Administrators' orders: a filtered, searchable list (the order page is
//! [`super::admin_order`]), and the navigation of every admin page.

use crate::domain::{Channel, OrderStatus};
use crate::i18n::use_lang;
use leptos::prelude::*;
use leptos_router::components::Redirect;
use leptos_router::hooks::use_query_map;
use serde::{Deserialize, Serialize};

pub const PAGE_SIZE: i64 = 20;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrderRow {
    pub id: String,
    pub out_trade_no: String,
    pub form_title: String,
    pub amount: String,
    pub refunded: String,
    pub status: OrderStatus,
    pub channel: Option<Channel>,
    pub transaction_id: Option<String>,
    pub review_reason: Option<String>,
    pub created_at: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrdersView {
    pub rows: Vec<OrderRow>,
    pub total: i64,
    pub page: i64,
    /// (id, title) of every form, for the filter.
    pub forms: Vec<(String, String)>,
}

/// The orders list's filter, as the page's query string carries it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OrderQuery {
    pub status: String,
    pub channel: String,
    pub form: String,
    /// Beijing dates `YYYY-MM-DD`, both included.
    pub from: String,
    pub to: String,
    /// Amounts in yuan.
    pub min: String,
    pub max: String,
    pub q: String,
}

impl OrderQuery {
    pub const KEYS: [&'static str; 8] =
        ["status", "channel", "form", "from", "to", "min", "max", "q"];

    pub fn from_pairs(get: impl Fn(&str) -> String) -> OrderQuery {
        OrderQuery {
            status: get("status"),
            channel: get("channel"),
            form: get("form"),
            from: get("from"),
            to: get("to"),
            min: get("min"),
            max: get("max"),
            q: get("q"),
        }
    }

    /// `key=value&…` of the parts that are set.
    pub fn to_query(&self) -> String {
        [
            ("status", &self.status),
            ("channel", &self.channel),
            ("form", &self.form),
            ("from", &self.from),
            ("to", &self.to),
            ("min", &self.min),
            ("max", &self.max),
            ("q", &self.q),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", urlencode(v)))
        .collect::<Vec<_>>()
        .join("&")
    }

    /// The filter to run; unknown or empty parts are ignored.
    #[cfg(feature = "ssr")]
    pub fn filter(&self) -> crate::ssr::order_list::OrderFilter {
        use crate::domain::Money;
        let text = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        crate::ssr::order_list::OrderFilter {
            status: OrderStatus::parse(&self.status),
            channel: Channel::parse(&self.channel),
            form_id: text(&self.form),
            from_date: text(&self.from),
            to_date: text(&self.to),
            min_amount: Money::parse_yuan(&self.min).ok(),
            max_amount: Money::parse_yuan(&self.max).ok(),
            search: text(&self.q),
        }
    }
}

#[server(endpoint = "admin_orders")]
pub async fn admin_orders(
    #[server(default)] filter: OrderQuery,
    page: i64,
) -> Result<OrdersView, ServerFnError> {
    use crate::domain::Money;
    use crate::ssr::{forms, order_list, AppState};
    crate::ssr::auth::require(crate::domain::Permission::ViewOrders).await?;
    let state = AppState::from_context()?;
    let fail = crate::errors::Failure::Read("the orders").log::<anyhow::Error>();
    let filter = filter.filter();
    let page = page.clamp(1, super::MAX_PAGE);
    let (total, lines) = order_list::page(&state.db, &filter, PAGE_SIZE, (page - 1) * PAGE_SIZE)
        .await
        .map_err(fail)?;
    let yuan = |f: i64| {
        Money::from_fen(f)
            .map(|m| m.to_string())
            .unwrap_or_default()
    };
    let rows = lines
        .into_iter()
        .map(|l| OrderRow {
            amount: l.amount.to_string(),
            refunded: yuan(l.refunded_fen),
            status: l.status,
            channel: l.channel,
            created_at: forms::beijing_time(l.created_at),
            id: l.id,
            out_trade_no: l.out_trade_no,
            form_title: l.form_title,
            transaction_id: l.transaction_id,
            review_reason: l.review_reason,
        })
        .collect();
    let forms = forms::list_forms(&state.db)
        .await
        .map_err(fail)?
        .into_iter()
        .map(|f| (f.id, f.def.title))
        .collect();
    Ok(OrdersView {
        rows,
        total,
        page,
        forms,
    })
}

#[component]
pub fn OrdersPage() -> impl IntoView {
    let lang = use_lang();
    let t = move || lang.get().t();
    let adm = move || lang.get().admin();
    let query = use_query_map();
    let get = move |k: &str| query.read().get(k).unwrap_or_default();
    let page = move || get("page").parse::<i64>().unwrap_or(1);
    let data = Resource::new(
        move || (OrderQuery::from_pairs(get), page()),
        |(f, p)| admin_orders(f, p),
    );
    let csv = move || {
        format!(
            "/admin/orders.csv?{}",
            OrderQuery::from_pairs(get).to_query()
        )
    };
    view! {
        <AdminNav />
        <section class="card">
            <h1>{move || adm().orders_title}</h1>
            <form method="get" class="filters grid-filters" data-testid="order-filters">
                <input type="search" name="q" placeholder=move || adm().order_search_placeholder aria-label=move || adm().order_search_placeholder prop:value=move || get("q") data-testid="order-search" />
                <select name="status" aria-label=move || t().status data-testid="order-status-filter">
                    <option value="">{move || adm().any_status}</option>
                    {OrderStatus::ALL.into_iter().map(|s| view! { <option value=s.as_str() selected=move || get("status") == s.as_str()>{move || t().order_status(s)}</option> }).collect_view()}
                </select>
                <select name="channel" aria-label=move || adm().order_method data-testid="order-channel-filter">
                    <option value="">{move || adm().any_method}</option>
                    {Channel::ALL.into_iter().map(|c| view! { <option value=c.as_str() selected=move || get("channel") == c.as_str()>{move || t().channel_with_mode(c)}</option> }).collect_view()}
                </select>
                <label>{move || adm().date_from}<input type="date" name="from" prop:value=move || get("from") /></label>
                <label>{move || adm().date_to}<input type="date" name="to" prop:value=move || get("to") /></label>
                <input type="text" inputmode="decimal" name="min" placeholder=move || adm().min_amount aria-label=move || adm().min_amount prop:value=move || get("min") />
                <input type="text" inputmode="decimal" name="max" placeholder=move || adm().max_amount aria-label=move || adm().max_amount prop:value=move || get("max") />
                <Suspense fallback=|| ()>
                    {move || Suspend::new(async move {
                        let forms = data.await.map(|d| d.forms).unwrap_or_default();
                        view! {
                            <select name="form" aria-label=move || adm().order_form data-testid="order-form-filter">
                                <option value="">{move || adm().any_form}</option>
                                {forms.into_iter().map(|(id, title)| { let v = id.clone(); view! { <option value=id selected=move || get("form") == v>{title}</option> } }).collect_view()}
                            </select>
                        }
                    })}
                </Suspense>
                <button class="button primary" type="submit">{move || adm().filter}</button>
                <a class="button" href=csv data-testid="orders-csv">{move || adm().export_csv}</a>
            </form>
            <Suspense fallback=|| view! { <p>"…"</p> }>
                {move || Suspend::new(async move {
                    match data.await {
                        Ok(v) => view! { <OrderTable v /> }.into_any(),
                        Err(_) => view! { <Redirect path="/admin/login" /> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

/// Percent-encodes a query value (the filter links and the export link).
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[component]
fn OrderTable(v: OrdersView) -> impl IntoView {
    let lang = use_lang();
    let t = move || lang.get().t();
    let adm = move || lang.get().admin();
    let pages = (v.total + PAGE_SIZE - 1) / PAGE_SIZE;
    let page = v.page;
    let query = use_query_map();
    let link = move |n: i64| {
        let q = OrderQuery::from_pairs(|k| query.read().get(k).unwrap_or_default());
        format!("?page={n}&{}", q.to_query())
    };
    view! {
        <p class="muted" data-testid="orders-total">{v.total} {move || adm().orders_then_page} {page} "/" {pages.max(1)}</p>
        <div class="table-wrap">
            <table class="table" data-testid="orders">
                <thead><tr>
                    <th>{move || adm().col_created}</th>
                    <th>{move || t().out_trade_no}</th>
                    <th>{move || adm().col_form}</th>
                    <th>{move || t().amount}</th>
                    <th>{move || adm().col_refunded}</th>
                    <th>{move || adm().col_method}</th>
                    <th>{move || t().status}</th>
                </tr></thead>
                <tbody>
                    {v.rows.into_iter().map(|r| {
                        let status = r.status;
                        let channel = r.channel;
                        let review = status == OrderStatus::NeedsReview;
                        view! {
                            <tr class:review=review>
                                <td>{r.created_at.clone()}</td>
                                <td><a href=format!("/admin/orders/{}", r.id) data-testid="order-link">{r.out_trade_no.clone()}</a></td>
                                <td>{r.form_title.clone()}</td>
                                <td>{r.amount.clone()}</td>
                                <td>{r.refunded.clone()}</td>
                                <td>{move || channel.map(|c| t().channel_with_mode(c)).unwrap_or_else(|| "—".to_owned())}</td>
                                <td>{move || t().order_status(status)}{r.review_reason.clone().filter(|_| review).map(|w| format!(" · {w}"))}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
        <div class="row">
            {(page > 1).then(|| view! { <a class="button" href=link(page - 1)>"←"</a> })}
            {(page < pages).then(|| view! { <a class="button" href=link(page + 1) data-testid="orders-next">"→"</a> })}
        </div>
    }
}

/// The administrators' navigation, on every admin page.
#[component]
pub fn AdminNav() -> impl IntoView {
    use crate::domain::Permission;
    let lang = use_lang();
    let adm = move || lang.get().admin();
    let ppl = move || lang.get().people();
    // Only the pages the role may open.
    let me = Resource::new(|| (), |_| super::admin::get_admin());
    let can = move |p: Permission| {
        me.get()
            .and_then(|r| r.ok().flatten())
            .is_some_and(|a| a.role.can(p))
    };
    view! {
        <nav class="admin-nav" data-testid="admin-nav">
            <a class="button" href="/admin">{move || adm().nav_overview}</a>
            // Always the same links, hidden by the role: the page hydrates
            // whatever the role's answer was when the server rendered it.
            <Suspense fallback=|| ()>
                <a class="button" hidden=move || !can(Permission::ViewForms) href="/admin/forms" data-testid="nav-forms">{move || adm().nav_forms}</a>
                <a class="button" hidden=move || !can(Permission::ViewOrders) href="/admin/orders" data-testid="nav-orders">{move || adm().nav_orders}</a>
                <a class="button" hidden=move || !can(Permission::ViewStats) href="/admin/stats" data-testid="nav-stats">{move || adm().nav_stats}</a>
                <a class="button" hidden=move || !can(Permission::ManageAccounts) href="/admin/accounts" data-testid="nav-accounts">{move || adm().nav_accounts}</a>
                <a class="button" hidden=move || !can(Permission::ViewAudit) href="/admin/audit" data-testid="nav-audit">{move || adm().nav_audit}</a>
                <a class="button" hidden=move || !can(Permission::ViewOrders) href="/admin/bills" data-testid="nav-bills">"对账 Reconciliation"</a>
                <a class="button" hidden=move || !can(Permission::ViewOrders) href="/admin/shares" data-testid="nav-shares">"分账 Profit sharing"</a>
                <a class="button" hidden=move || !can(Permission::EditForms) href="/admin/blocklist" data-testid="nav-blocklist">"风控 Blocklist"</a>
                <a class="button" hidden=move || !can(Permission::ManagePeople) href="/admin/people" data-testid="nav-people">{move || ppl().nav_people}</a>
            </Suspense>
            <a class="button" href="/admin/me" data-testid="nav-me">{move || ppl().nav_me}</a>
        </nav>
    }
}
