//! A form's discount codes (优惠码): add one (fixed or percentage off, a
//! usage limit, an expiry), see how often each was used, remove one.

use super::admin_orders::AdminNav;
use crate::i18n::use_lang;
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CodeView {
    pub id: String,
    pub code: String,
    /// `-¥10.00` or `-15%`.
    pub discount: String,
    pub used: i64,
    pub max_uses: Option<i64>,
    pub expires_at: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CodesView {
    pub form_title: String,
    pub codes: Vec<CodeView>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum CodeOutcome {
    Done,
    Refused { message: String },
}

#[server(endpoint = "admin_discount_codes")]
pub async fn admin_discount_codes(form_id: String) -> Result<Option<CodesView>, ServerFnError> {
    use crate::ssr::{forms, AppState};
    use formpay_core::store::discounts;
    crate::ssr::auth::require(crate::domain::Permission::ViewForms).await?;
    let state = AppState::from_context()?;
    let read = crate::errors::Failure::Read("the discount codes").log::<anyhow::Error>();
    let Some(form) = forms::form_by_id(&state.db, &form_id).await.map_err(read)? else {
        return Ok(None);
    };
    let codes = discounts::list(&state.db, &form_id).await.map_err(read)?;
    Ok(Some(CodesView {
        form_title: form.def.title,
        codes: codes
            .into_iter()
            .map(|c| CodeView {
                discount: c.discount().map(|d| d.describe()).unwrap_or_default(),
                id: c.id,
                code: c.code,
                used: c.used,
                max_uses: c.max_uses,
                expires_at: c.expires_at.map(forms::beijing_time),
            })
            .collect(),
    }))
}

/// Adds a code: `kind` fixed (value in yuan) or percent (1–100); empty
/// `max_uses` and `expires_at` (Beijing `YYYY-MM-DDTHH:MM`) for none.
#[server(endpoint = "admin_add_discount_code")]
pub async fn admin_add_discount_code(
    form_id: String,
    code: String,
    kind: String,
    value: String,
    max_uses: String,
    expires_at: String,
) -> Result<CodeOutcome, ServerFnError> {
    use crate::domain::discount::{normalise_code, Discount};
    use crate::domain::form::beijing_local_to_ms;
    use crate::ssr::{audit, forms, AppState};
    let admin = crate::ssr::auth::require(crate::domain::Permission::EditForms).await?;
    let state = AppState::from_context()?;
    let fail = crate::errors::Failure::Save("the discount code").log::<anyhow::Error>();
    let refuse = |m: &str| {
        Ok(CodeOutcome::Refused {
            message: m.to_owned(),
        })
    };
    if forms::form_by_id(&state.db, &form_id)
        .await
        .map_err(fail)?
        .is_none()
    {
        return refuse("there is no such form");
    }
    let Some(code) = normalise_code(&code) else {
        return refuse("a code is 3 to 32 letters, digits, - or _");
    };
    let discount = match Discount::new(&kind, &value) {
        Ok(d) => d,
        Err(m) => return refuse(&m),
    };
    let max_uses = match max_uses.trim() {
        "" => None,
        n => match n.parse::<i64>() {
            Ok(n) if n >= 1 => Some(n),
            _ => return refuse("the usage limit is a whole number from 1 (empty: none)"),
        },
    };
    let expires_at = match expires_at.trim() {
        "" => None,
        t => match beijing_local_to_ms(t) {
            Some(ms) => Some(ms),
            None => return refuse("the expiry is a date and time (empty: none)"),
        },
    };
    match formpay_core::store::discounts::add(
        &state.db, &form_id, &code, discount, max_uses, expires_at,
    )
    .await
    .map_err(fail)?
    {
        Ok(_) => {
            audit::record(
                &state.db,
                &admin,
                crate::domain::AuditAction::AddDiscountCode,
                &form_id,
                &format!("{code} {}", discount.describe()),
            )
            .await
            .map_err(fail)?;
            Ok(CodeOutcome::Done)
        }
        Err(m) => refuse(&m),
    }
}

#[server(endpoint = "admin_remove_discount_code")]
pub async fn admin_remove_discount_code(
    form_id: String,
    id: String,
) -> Result<CodeOutcome, ServerFnError> {
    use crate::ssr::{audit, AppState};
    let admin = crate::ssr::auth::require(crate::domain::Permission::EditForms).await?;
    let state = AppState::from_context()?;
    let fail = crate::errors::Failure::Save("the discount code").log::<anyhow::Error>();
    match formpay_core::store::discounts::remove(&state.db, &form_id, &id)
        .await
        .map_err(fail)?
    {
        Some(code) => {
            audit::record(
                &state.db,
                &admin,
                crate::domain::AuditAction::RemoveDiscountCode,
                &form_id,
                &code,
            )
            .await
            .map_err(fail)?;
            Ok(CodeOutcome::Done)
        }
        None => Ok(CodeOutcome::Refused {
            message: "there is no such code".into(),
        }),
    }
}

#[component]
pub fn DiscountsPage() -> impl IntoView {
    let lang = use_lang();
    let t = move || lang.get().t();
    let params = use_params_map();
    let form_id = move || params.read().get("id").unwrap_or_default();
    let add = ServerAction::<AdminAddDiscountCode>::new();
    let remove = ServerAction::<AdminRemoveDiscountCode>::new();
    let data = Resource::new(
        move || (form_id(), add.version().get(), remove.version().get()),
        |(id, ..)| admin_discount_codes(id),
    );
    let said = move || {
        [add.value().get(), remove.value().get()]
            .into_iter()
            .flatten()
            .find_map(|r| match r {
                Ok(CodeOutcome::Refused { message }) => Some(message),
                Err(e) => Some(e.to_string()),
                _ => None,
            })
    };
    view! {
        <AdminNav />
        <section class="card">
            <h1>"优惠码 Discount codes"</h1>
            <p class="muted">
                "付款人提交时填写；服务器核验并从总额中扣减（最低 ¥0.01）。未付款的订单过期或关闭后，使用次数退回。"
                " · Payers enter a code when they submit; the server checks it and takes it off the total (never below ¥0.01). An unpaid order that expires or is closed gives its use back."
            </p>
            <Show when=move || said().is_some()>
                <p class="error" role="alert" data-testid="code-refused">{said}</p>
            </Show>
            <ActionForm action=add attr:class="stack" attr:data-testid="code-form">
                <input type="hidden" name="form_id" value=form_id />
                <div class="grid2">
                    <label>"优惠码 Code"<input type="text" name="code" required data-testid="code-code" /></label>
                    <label>"类型 Kind"
                        <select name="kind" data-testid="code-kind">
                            <option value="percent">"百分比 Percent off"</option>
                            <option value="fixed">"固定金额（元）Amount off (yuan)"</option>
                        </select>
                    </label>
                    <label>"数值 Value"<input type="text" name="value" required data-testid="code-value" /></label>
                    <label>"可用次数 Uses (empty: unlimited)"<input type="text" name="max_uses" data-testid="code-max" /></label>
                    <label>"过期时间 Expires (北京时间; empty: never)"<input type="datetime-local" name="expires_at" data-testid="code-expires" /></label>
                </div>
                <button type="submit" class="button primary" data-testid="code-add">"添加 Add"</button>
            </ActionForm>
            <Suspense fallback=|| view! { <p>"…"</p> }>
                {move || Suspend::new(async move {
                    match data.await {
                        Ok(Some(v)) => view! {
                            <p class="muted">{v.form_title.clone()}</p>
                            <div class="table-wrap">
                            <table class="table" data-testid="codes">
                                <thead><tr><th>"优惠码 Code"</th><th>"优惠 Discount"</th><th>"已用 Used"</th><th>"过期 Expires"</th><th></th></tr></thead>
                                <tbody>
                                    {v.codes.into_iter().map(|c| view! {
                                        <tr>
                                            <td><code>{c.code.clone()}</code></td>
                                            <td>{c.discount.clone()}</td>
                                            <td>{c.used} {c.max_uses.map(|m| format!(" / {m}"))}</td>
                                            <td>{c.expires_at.clone().unwrap_or_else(|| "—".into())}</td>
                                            <td>
                                                <ActionForm action=remove attr:class="inline">
                                                    <input type="hidden" name="form_id" value=form_id() />
                                                    <input type="hidden" name="id" value=c.id.clone() />
                                                    <button type="submit" class="button small">"删除 Remove"</button>
                                                </ActionForm>
                                            </td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                            </div>
                        }.into_any(),
                        Ok(None) => view! { <p>{move || t().form_not_found}</p> }.into_any(),
                        Err(_) => view! { <p class="error">{move || t().server_error}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}
