//! The public form page `/f/{slug}`: server-rendered (a plain POST works
//! without JavaScript), then hydrated with inline validation and a live total.

use super::form_controller::{FormController, FormSpec};
use crate::domain::discount::DISCOUNT_KEY;
use crate::domain::form::{
    answer_text, field_states, preview_amount, AnswerError, Availability, Field, FieldKind,
    PaymentMode, PublicForm, CONSENT_KEY, MAX_SHORT_TEXT,
};
use crate::i18n::{answer_error_text, use_lang};
use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

#[server(endpoint = "public_form")]
pub async fn get_public_form(slug: String) -> Result<Option<PublicForm>, ServerFnError> {
    let state = crate::ssr::AppState::from_context()?;
    let fail = crate::errors::Failure::Read("the form").log::<anyhow::Error>();
    let Some(form) = crate::ssr::forms::form_by_slug(&state.db, &slug)
        .await
        .map_err(fail)?
    else {
        return Ok(None);
    };
    let view = crate::ssr::forms::public_view(&state.db, &form)
        .await
        .map_err(fail)?;
    if view.availability != Availability::NotPublished {
        state.views.count(&form.id);
    }
    Ok(Some(view).filter(|p| p.availability != Availability::NotPublished))
}

/// One level of the region field's drop-downs: the provinces for an empty
/// `parent`, else the cities of a province or the districts of a city.
#[server(endpoint = "regions")]
pub async fn region_children(parent: String) -> Result<Vec<(String, String)>, ServerFnError> {
    Ok(crate::ssr::regions::children(&parent))
}

/// How many of each stocked item are left, for the page to keep current.
#[server(endpoint = "form_stock")]
pub async fn form_stock(slug: String) -> Result<BTreeMap<String, i64>, ServerFnError> {
    let state = crate::ssr::AppState::from_context()?;
    let fail = crate::errors::Failure::Read("the stock").log::<anyhow::Error>();
    match crate::ssr::forms::form_by_slug(&state.db, &slug)
        .await
        .map_err(fail)?
    {
        Some(f) if f.availability() != Availability::NotPublished => {
            crate::ssr::forms::stock_left(&state.db, &f)
                .await
                .map_err(fail)
        }
        _ => Ok(BTreeMap::new()),
    }
}

/// What is left of each stocked item, as the page last heard.
#[derive(Clone, Copy)]
struct StockLeft(RwSignal<BTreeMap<String, i64>>);

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum SubmitOutcome {
    Pay {
        order_id: String,
    },
    Done {
        message: String,
    },
    Invalid {
        errors: BTreeMap<String, AnswerError>,
    },
    Unavailable {
        availability: Availability,
    },
    NotFound,
    /// The address or phone number is on the blocklist.
    Blocked,
    /// The form is under a burst: the page solves this and submits again.
    Challenge {
        challenge: String,
        bits: u32,
    },
}

/// The page's outcome of the one submit use case ([`crate::ssr::pay::submit`]).
#[cfg(feature = "ssr")]
impl From<crate::ssr::pay::Submission> for SubmitOutcome {
    fn from(s: crate::ssr::pay::Submission) -> SubmitOutcome {
        use crate::ssr::pay::Submission;
        match s {
            Submission::Stored { order: Some(o), .. } => SubmitOutcome::Pay {
                order_id: o.id.to_string(),
            },
            Submission::Stored {
                order: None,
                success_message,
                ..
            } => SubmitOutcome::Done {
                message: success_message,
            },
            Submission::Invalid(errors) => SubmitOutcome::Invalid { errors },
            Submission::Unavailable(availability) => SubmitOutcome::Unavailable { availability },
            Submission::NotFound => SubmitOutcome::NotFound,
            Submission::Blocked => SubmitOutcome::Blocked,
            Submission::Challenge { challenge, bits } => {
                SubmitOutcome::Challenge { challenge, bits }
            }
        }
    }
}

#[server(endpoint = "submit_form")]
pub async fn submit_form(slug: String, answers: String) -> Result<SubmitOutcome, ServerFnError> {
    let state = crate::ssr::AppState::from_context()?;
    let answers: Map<String, Value> = serde_json::from_str(&answers)
        .map_err(|_| ServerFnError::new("the answers are not a JSON object"))?;
    let client = crate::ssr::auth::request_client_ip(&state);
    crate::ssr::pay::submit(
        &state,
        &slug,
        crate::ssr::pay::Answers::Json(&answers),
        client,
    )
    .await
    .map(SubmitOutcome::from)
    .map_err(crate::errors::Failure::Save("the submission").log())
}

#[component]
pub fn FormPage() -> impl IntoView {
    let params = use_params_map();
    let slug = move || params.read().get("slug").unwrap_or_default();
    let form = Resource::new(slug, get_public_form);
    let query = use_query_map();
    let lang = use_lang();
    let t = move || lang.get().t();
    view! {
        <Suspense fallback=move || view! { <p>{move || t().loading}</p> }>
            {move || Suspend::new(async move {
                match form.await {
                    Ok(Some(f)) => {
                        // What the link's query says, read here: the island
                        // below has no router in the browser.
                        let (hidden, invalid, submitted) = query.with_untracked(|q| {
                            (
                                hidden_answers(&f.fields, |k| q.get(k)),
                                q.get("invalid").unwrap_or_default(),
                                q.get("submitted").is_some(),
                            )
                        });
                        view! { <FormView form=f hidden invalid submitted /> }.into_any()
                    }
                    Ok(None) => view! { <section class="card narrow"><h1>{move || t().form_not_found}</h1></section> }.into_any(),
                    Err(_) => view! { <p class="error">{move || t().server_error}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// The form itself, written by the server in full (a plain POST works
/// without JavaScript). In the browser only [`FormController`] runs: it
/// listens to this markup instead of drawing it again, so the view code of
/// every field type stays out of the payers' bundle (issue 14).
/// `hidden` holds the hidden fields' answers from the link, `invalid` the
/// fields a plain (no-JavaScript) POST marked, `submitted` whether one was
/// stored.
#[component]
fn FormView(
    form: PublicForm,
    hidden: Map<String, Value>,
    invalid: String,
    submitted: bool,
) -> impl IntoView {
    let lang = use_lang().get_untracked();
    let t = lang.t();
    let initial_errors: BTreeMap<String, AnswerError> = invalid
        .split(',')
        .filter(|k| !k.is_empty())
        .map(|k| (k.to_owned(), AnswerError::WrongType))
        .collect();
    let has_errors = !initial_errors.is_empty();
    let has_payment = form
        .fields
        .iter()
        .any(|f| matches!(f.kind, FieldKind::Payment(_)));
    let total = preview_amount(&form.fields, &hidden)
        .map(|m| m.to_string())
        .unwrap_or_else(|| "—".into());
    let needs_consent = !form.privacy_notice.is_empty();
    let spec = FormSpec {
        slug: form.slug.clone(),
        fields: super::form_controller::Fields(form.fields.clone()),
        hidden: hidden.clone(),
        success_message: form.success_message.clone(),
        needs_consent,
        watch_stock: !form.stock_left.is_empty(),
    };
    provide_context(StockLeft(RwSignal::new(form.stock_left.clone())));
    let values = RwSignal::new(hidden);
    let errors = RwSignal::new(initial_errors);
    // Without JavaScript the files travel with the answers.
    let enctype = form
        .fields
        .iter()
        .any(|f| matches!(f.kind, FieldKind::Upload { .. }))
        .then_some("multipart/form-data");
    let lines = |text: &str| {
        text.lines()
            .map(|l| view! { <p>{l.to_owned()}</p> })
            .collect_view()
    };
    let body = if form.availability != Availability::Open {
        view! { <p class="notice" data-testid="form-unavailable">{t.availability(form.availability)}</p> }
            .into_any()
    } else if submitted {
        view! { <p class="success" data-testid="form-done">{t.submitted} " · " {form.success_message.clone()}</p> }
            .into_any()
    } else {
        let consent_error = errors.with_untracked(|e| e.get(CONSENT_KEY).cloned());
        let code_error = errors.with_untracked(|e| e.get(DISCOUNT_KEY).cloned());
        view! {
            <form class="stack" method="post" action=format!("/f/{}", form.slug) enctype=enctype novalidate>
                <p class="error" role="alert" data-testid="error-summary" hidden=!has_errors>{t.fix_errors}</p>
                <FieldList fields=form.fields.clone() values errors />
                {needs_consent.then(|| view! {
                    <fieldset class="privacy" data-testid="privacy-notice" data-field=CONSENT_KEY>
                        <legend>{t.privacy_notice}</legend>
                        <div class="notice-text">{lines(&form.privacy_notice)}</div>
                        <label class="check">
                            <input type="checkbox" name=CONSENT_KEY value="yes" required
                                aria-invalid=consent_error.is_some().then_some("true")
                                data-testid="privacy-consent" />
                            {t.privacy_consent}
                        </label>
                        {consent_error.map(|e| view! { <p class="field-error" role="alert" data-testid="field-error">{answer_error_text(lang, &e)}</p> })}
                    </fieldset>
                })}
                {form.takes_discount_codes.then(|| view! {
                    <div class="field" class:has-error=code_error.is_some() data-field=DISCOUNT_KEY>
                        <label for="discount-code" class="field-label">{t.discount_code}</label>
                        <p class="help" id=format!("help-{DISCOUNT_KEY}")>{t.discount_note}</p>
                        <input type="text" id="discount-code" name=DISCOUNT_KEY autocomplete="off" data-testid="discount-code"
                            aria-describedby=format!("help-{DISCOUNT_KEY}") aria-invalid=code_error.is_some().then_some("true") />
                        {code_error.clone().map(|e| view! { <p class="field-error" role="alert" data-testid="field-error">{answer_error_text(lang, &e)}</p> })}
                    </div>
                })}
                {has_payment.then(|| view! {
                    <p class="total" data-testid="total">{t.total_to_pay} ": " <strong>{total}</strong></p>
                })}
                <button type="submit" class="button primary wide" data-testid="submit">
                    {if has_payment { t.submit_and_pay } else { t.submit }}
                </button>
                <p class="error" role="alert" data-testid="form-refused" hidden>{t.refused}</p>
                <p class="error" role="alert" data-testid="form-failed" hidden>{t.server_error}</p>
            </form>
        }
        .into_any()
    };
    view! {
        <FormController spec>
            <section class="card form-card" data-form-root>
                <h1 data-testid="form-title">{form.title.clone()}</h1>
                <div class="description">{lines(&form.description)}</div>
                {body}
            </section>
        </FormController>
    }
}

/// The hidden fields' answers, from the link's query string (`?source=poster`).
fn hidden_answers(fields: &[Field], query: impl Fn(&str) -> Option<String>) -> Map<String, Value> {
    fields
        .iter()
        .filter(|f| f.kind == FieldKind::Hidden)
        .filter_map(|f| {
            query(&f.key).map(|v| {
                let v: String = v.chars().take(MAX_SHORT_TEXT).collect();
                (f.key.clone(), Value::String(v))
            })
        })
        .collect()
}

fn set_value(values: RwSignal<Map<String, Value>>, key: &str, v: Value) {
    values.update(|m| {
        m.insert(key.to_owned(), v);
    });
}

/// The fields, each shown and required as its rule says for the answers so
/// far. Until the page is hydrated (and without JavaScript) every field is
/// shown: the server drops the answers of fields a rule hides.
#[component]
fn FieldList(
    fields: Vec<Field>,
    values: RwSignal<Map<String, Value>>,
    errors: RwSignal<BTreeMap<String, AnswerError>>,
) -> impl IntoView {
    let mounted = RwSignal::new(false);
    Effect::new(move |_| mounted.set(true));
    let list = StoredValue::new(fields.clone());
    let states = Memo::new(move |_| list.with_value(|f| field_states(f, &values.get())));
    fields
        .into_iter()
        .enumerate()
        .map(|(i, field)| {
            let own = field.required;
            let shown = Signal::derive(move || {
                !mounted.get() || states.with(|s| s.get(i).is_none_or(|s| s.shown))
            });
            let required_now = Signal::derive(move || {
                if mounted.get() {
                    states.with(|s| s.get(i).is_some_and(|s| s.required))
                } else {
                    own
                }
            });
            view! { <FieldInput field values errors shown required_now /> }
        })
        .collect_view()
}

#[component]
fn FieldInput(
    field: Field,
    values: RwSignal<Map<String, Value>>,
    errors: RwSignal<BTreeMap<String, AnswerError>>,
    shown: Signal<bool>,
    required_now: Signal<bool>,
) -> impl IntoView {
    let lang = use_lang();
    let t = move || lang.get().t();
    let key = field.key.clone();
    match &field.kind {
        FieldKind::Section => {
            return view! {
                <div class="form-section" data-testid=format!("section-{key}") data-field=key.clone() hidden=move || !shown.get()>
                    <h2>{field.label.clone()}</h2>
                    {field.help.lines().map(|l| view! { <p>{l.to_owned()}</p> }).collect_view()}
                </div>
            }
            .into_any()
        }
        FieldKind::Hidden => {
            let value = values.with_untracked(|m| {
                m.get(&key)
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .unwrap_or_default()
            });
            return view! { <input type="hidden" name=key.clone() value=value data-testid=format!("input-{key}") /> }
                .into_any();
        }
        _ => {}
    }
    let id = format!("field-{}", field.key);
    let error_key = key.clone();
    let error = Memo::new(move |_| errors.with(|e| e.get(&error_key).cloned()));
    let required = move || required_now.get();
    // What assistive technology reads after the label: the help, then the error.
    let label_id = format!("label-{}", field.key);
    let help_id = format!("help-{}", field.key);
    let error_id = format!("error-{}", field.key);
    let has_help = !field.help.is_empty();
    let described_by = {
        let (help_id, error_id) = (help_id.clone(), error_id.clone());
        move || {
            let ids: Vec<&str> = [
                has_help.then_some(help_id.as_str()),
                error.with(|e| e.is_some()).then_some(error_id.as_str()),
            ]
            .into_iter()
            .flatten()
            .collect();
            (!ids.is_empty()).then(|| ids.join(" "))
        }
    };
    let invalid = move || error.with(|e| e.is_some()).then_some("true");
    let text_input = |kind: &'static str, mode: &'static str| {
        let key = key.clone();
        let described_by = described_by.clone();
        view! {
            <input
                type=kind
                inputmode=mode
                id=id.clone()
                name=key.clone()
                data-testid=format!("input-{key}")
                required=required
                aria-invalid=invalid
                aria-describedby=described_by
                on:input=move |ev| set_value(values, &key, Value::String(event_target_value(&ev)))
            />
        }
        .into_any()
    };
    let control = match &field.kind {
        FieldKind::ShortText => text_input("text", "text"),
        FieldKind::Number { .. } => text_input("text", "numeric"),
        FieldKind::Phone => text_input("tel", "tel"),
        FieldKind::Email => text_input("email", "email"),
        FieldKind::Date => text_input("date", "text"),
        FieldKind::Time => text_input("time", "text"),
        FieldKind::DateTime => text_input("datetime-local", "text"),
        FieldKind::IdCard => text_input("text", "text"),
        FieldKind::Section | FieldKind::Hidden => ().into_any(),
        FieldKind::Dropdown { options } => {
            let key = key.clone();
            let items = options.iter().map(|o| {
                view! { <option value=o.key.clone()>{o.label.clone()}</option> }
            });
            view! {
                <select id=id.clone() name=key.clone() data-testid=format!("input-{key}")
                    required=required aria-invalid=invalid aria-describedby=described_by.clone()
                    on:change=move |ev| set_value(values, &key, Value::String(event_target_value(&ev)))>
                    <option value="">{move || t().choose}</option>
                    {items.collect_view()}
                </select>
            }
            .into_any()
        }
        FieldKind::Consent { link } => {
            let key = key.clone();
            let link = (!link.is_empty()).then(|| link.clone());
            view! {
                <div class="consent">
                    <label class="check">
                        <input type="checkbox" id=id.clone() name=key.clone() value="yes" data-testid=format!("input-{key}")
                            required=required aria-invalid=invalid aria-describedby=described_by.clone()
                            on:change=move |ev| set_value(values, &key, Value::Bool(event_target_checked(&ev))) />
                        {move || t().agree}
                    </label>
                    {link.map(|href| view! { " " <a href=href target="_blank" rel="noopener">{move || t().read_terms}</a> })}
                </div>
            }
            .into_any()
        }
        FieldKind::Upload {
            max_files, accept, ..
        } => view! {
            <UploadInput key=key.clone() id=id.clone() max_files=*max_files accept=accept.input_accept() />
        }
        .into_any(),
        FieldKind::Region => view! {
            <RegionInput key=key.clone() id=id.clone() values invalid=Signal::derive(move || error.with(|e| e.is_some())) />
        }
        .into_any(),
        FieldKind::Payment(PaymentMode::PayerAmount { .. }) => text_input("text", "decimal"),
        FieldKind::LongText => {
            let key = key.clone();
            view! {
                <textarea id=id.clone() name=key.clone() rows="4" data-testid=format!("input-{key}")
                    required=required aria-invalid=invalid aria-describedby=described_by.clone()
                    on:input=move |ev| set_value(values, &key, Value::String(event_target_value(&ev)))></textarea>
            }
            .into_any()
        }
        FieldKind::SingleChoice { options } => {
            let items = options.iter().map(|o| {
                let key = key.clone();
                let value = o.key.clone();
                view! {
                    <label class="choice">
                        <input type="radio" name=key.clone() value=value.clone() data-testid=format!("choice-{key}-{value}")
                            on:change=move |_| set_value(values, &key, Value::String(value.clone())) />
                        {o.label.clone()}
                    </label>
                }
            });
            view! { <div class="choices" id=id.clone() role="group" aria-labelledby=label_id.clone() aria-describedby=described_by.clone()>{items.collect_view()}</div> }.into_any()
        }
        FieldKind::MultiChoice { options } => {
            let items = options.iter().map(|o| {
                let key = key.clone();
                let value = o.key.clone();
                view! {
                    <label class="choice">
                        <input type="checkbox" name=key.clone() value=value.clone() data-testid=format!("choice-{key}-{value}")
                            on:change=move |ev| {
                                let on = event_target_checked(&ev);
                                values.update(|m| {
                                    let mut list: Vec<Value> = m.get(&key).and_then(|v| v.as_array().cloned()).unwrap_or_default();
                                    list.retain(|v| v.as_str() != Some(value.as_str()));
                                    if on {
                                        list.push(Value::String(value.clone()));
                                    }
                                    m.insert(key.clone(), Value::Array(list));
                                });
                            } />
                        {o.label.clone()}
                    </label>
                }
            });
            view! { <div class="choices" id=id.clone() role="group" aria-labelledby=label_id.clone() aria-describedby=described_by.clone()>{items.collect_view()}</div> }.into_any()
        }
        FieldKind::Payment(PaymentMode::Items { items }) => {
            let stock = use_context::<StockLeft>();
            let chosen = RwSignal::new(
                items
                    .iter()
                    .map(|i| (i.key.clone(), i.min))
                    .collect::<BTreeMap<String, u32>>(),
            );
            let rows = items.iter().map(|item| {
                let key = key.clone();
                let code = item.key.clone();
                let has_stock = item.stock.is_some();
                let left = {
                    let code = code.clone();
                    let initial = item.stock.map_or(i64::MAX, i64::from);
                    move || {
                        stock.map_or(initial, |s| {
                            s.0.with(|m| m.get(&code).copied().unwrap_or(initial))
                        })
                    }
                };
                let left2 = left.clone();
                let max_of = item.max;
                let code2 = code.clone();
                view! {
                    <div class="item-row">
                        <label for=format!("item-{key}-{code}")>
                            {item.label.clone()} " · " {item.price.to_string()}
                            {has_stock.then(|| view! {
                                <span class="stock" data-testid=format!("stock-{code}")>
                                    {move || {
                                        let n = left();
                                        if n > 0 { format!(" · {} {n}", t().left) } else { format!(" · {}", t().sold_out) }
                                    }}
                                </span>
                            })}
                        </label>
                        <input type="number" inputmode="numeric" min=item.min.to_string()
                            max=move || (left2().clamp(0, i64::from(max_of))).to_string()
                            value=item.min.to_string() id=format!("item-{key}-{code}") name=format!("{key}__{code}")
                            data-testid=format!("item-{key}-{code}") aria-invalid=invalid
                            on:input=move |ev| {
                                let q = event_target_value(&ev).trim().parse::<u32>().unwrap_or(0);
                                chosen.update(|c| {
                                    c.insert(code2.clone(), q);
                                });
                                let object: Map<String, Value> = chosen
                                    .get_untracked()
                                    .into_iter()
                                    .map(|(k, q)| (k, Value::from(q)))
                                    .collect();
                                set_value(values, &key, Value::Object(object));
                            } />
                    </div>
                }
            });
            view! { <div class="items" id=id.clone() role="group" aria-labelledby=label_id.clone() aria-describedby=described_by.clone()>{rows.collect_view()}</div> }.into_any()
        }
        FieldKind::Payment(PaymentMode::Fixed { amount }) => {
            view! { <p class="fixed-amount" id=id.clone()>{amount.to_string()}</p> }.into_any()
        }
        FieldKind::Payment(PaymentMode::PricedOptions {
            options,
            max_quantity,
        }) => {
            let max_quantity = *max_quantity;
            let option = RwSignal::new(String::new());
            let quantity = RwSignal::new(1u32);
            let sync = {
                let key = key.clone();
                move || {
                    if option.get_untracked().is_empty() {
                        return;
                    }
                    let v = if max_quantity > 1 {
                        serde_json::json!({"option": option.get_untracked(), "quantity": quantity.get_untracked()})
                    } else {
                        Value::String(option.get_untracked())
                    };
                    set_value(values, &key, v);
                }
            };
            let items = options.iter().map(|o| {
                let key = key.clone();
                let value = o.key.clone();
                let sync = sync.clone();
                view! {
                    <label class="choice">
                        <input type="radio" name=key.clone() value=value.clone() data-testid=format!("choice-{key}-{value}")
                            on:change=move |_| {
                                option.set(value.clone());
                                sync();
                            } />
                        {o.label.clone()} " · " {o.price.to_string()}
                    </label>
                }
            });
            let quantity_input = (max_quantity > 1).then(|| {
                let sync = sync.clone();
                view! {
                    <label class="quantity">
                        {move || t().quantity}
                        <input type="number" min="1" max=max_quantity.to_string() value="1" name=format!("{key}__quantity")
                            on:input=move |ev| {
                                quantity.set(event_target_value(&ev).parse().unwrap_or(0));
                                sync();
                            } />
                    </label>
                }
            });
            view! { <div class="choices" id=id.clone() role="group" aria-labelledby=label_id.clone() aria-describedby=described_by.clone()>{items.collect_view()} {quantity_input}</div> }.into_any()
        }
    };
    view! {
        <div class="field" class:has-error=move || error.get().is_some() hidden=move || !shown.get() data-testid=format!("q-{}", field.key) data-field=field.key.clone()>
            <label for=format!("field-{}", field.key) id=label_id.clone() class="field-label">
                {field.label.clone()}
                <span class="required" title=move || t().required_mark hidden=move || !required()>" *"</span>
            </label>
            {has_help.then(|| view! { <p class="help" id=help_id.clone()>{field.help.clone()}</p> })}
            {control}
            {move || error.get().map(|e| view! { <p class="field-error" id=error_id.clone() data-testid="field-error">{answer_error_text(lang.get(), &e)}</p> })}
        </div>
    }
    .into_any()
}

/// Files chosen here are uploaded at once on the public page (each to the
/// server, which checks its content and size; see [`FormController`]); the
/// answer is their ids. Without JavaScript they travel with the answers.
#[component]
fn UploadInput(key: String, id: String, max_files: u32, accept: &'static str) -> impl IntoView {
    let multiple = max_files > 1;
    view! {
        <div class="upload" id=id>
            // Named for the form posted without JavaScript (multipart).
            <input type="file" name=key.clone() accept=accept multiple=multiple data-testid=format!("input-{key}") />
            <ul class="uploaded" data-testid=format!("uploaded-{key}")></ul>
        </div>
    }
}

/// Province, city and district drop-downs, each filled from the server when
/// the one before it is chosen; the answer is the district's code. Before
/// hydration (and without JavaScript) the payer types the names instead.
#[component]
fn RegionInput(
    key: String,
    id: String,
    values: RwSignal<Map<String, Value>>,
    invalid: Signal<bool>,
) -> impl IntoView {
    let lang = use_lang();
    let t = move || lang.get().t();
    let mounted = RwSignal::new(false);
    let provinces = RwSignal::new(Vec::<(String, String)>::new());
    let cities = RwSignal::new(Vec::<(String, String)>::new());
    let districts = RwSignal::new(Vec::<(String, String)>::new());
    let load = move |parent: String, into: RwSignal<Vec<(String, String)>>| {
        leptos::task::spawn_local(async move {
            into.set(region_children(parent).await.unwrap_or_default());
        });
    };
    Effect::new(move |_| {
        mounted.set(true);
        load(String::new(), provinces);
    });
    let options = move |list: RwSignal<Vec<(String, String)>>| {
        move || {
            list.get()
                .into_iter()
                .map(|(code, name)| view! { <option value=code>{name}</option> })
                .collect_view()
        }
    };
    let aria_invalid = move || invalid.get().then_some("true");
    move || {
        let (key, id) = (key.clone(), id.clone());
        if !mounted.get() {
            return view! {
                <input type="text" id=id name=key.clone() data-testid=format!("input-{key}")
                    placeholder=move || t().region_typed aria-invalid=aria_invalid
                    on:input=move |ev| set_value(values, &key, Value::String(event_target_value(&ev))) />
            }
            .into_any();
        }
        let clear = {
            let key = key.clone();
            move || {
                values.update(|m| {
                    m.remove(&key);
                })
            }
        };
        let (clear1, clear2) = (clear.clone(), clear);
        let key2 = key.clone();
        view! {
            <div class="region" id=id role="group">
                <select aria-label=move || t().province data-testid=format!("region-{key}-province") aria-invalid=aria_invalid
                    on:change=move |ev| {
                        let v = event_target_value(&ev);
                        cities.set(Vec::new());
                        districts.set(Vec::new());
                        clear1();
                        if !v.is_empty() {
                            load(v, cities);
                        }
                    }>
                    <option value="">{move || t().province}</option>
                    {options(provinces)}
                </select>
                <select aria-label=move || t().city data-testid=format!("region-{key}-city") aria-invalid=aria_invalid
                    on:change=move |ev| {
                        let v = event_target_value(&ev);
                        districts.set(Vec::new());
                        clear2();
                        if !v.is_empty() {
                            load(v, districts);
                        }
                    }>
                    <option value="">{move || t().city}</option>
                    {options(cities)}
                </select>
                <select name=key.clone() aria-label=move || t().district data-testid=format!("region-{key}-district") aria-invalid=aria_invalid
                    on:change=move |ev| set_value(values, &key2, Value::String(event_target_value(&ev)))>
                    <option value="">{move || t().district}</option>
                    {options(districts)}
                </select>
            </div>
        }
        .into_any()
    }
}

/// Text of every answer, in form order, for the payer's receipt: an ID card
/// number masked (the link may be forwarded), hidden fields left out.
pub fn answers_for_display(
    fields: &[Field],
    answers: &BTreeMap<String, crate::domain::form::Answer>,
) -> Vec<(String, String)> {
    fields
        .iter()
        .filter(|f| f.kind != FieldKind::Hidden)
        .filter_map(|f| {
            answers.get(&f.key).map(|a| {
                let text = answer_text(Some(f), a);
                let text = if f.kind == FieldKind::IdCard {
                    crate::domain::form::mask_personal(&text)
                } else {
                    text
                };
                (f.label.clone(), text)
            })
        })
        .collect()
}

/// The builder's live preview: the fields as payers will see them, without submitting.
#[component]
pub fn FormPreview(def: crate::domain::form::FormDef) -> impl IntoView {
    let values = RwSignal::new(Map::<String, Value>::new());
    let errors = RwSignal::new(BTreeMap::<String, AnswerError>::new());
    let fields = StoredValue::new(def.fields.clone());
    let total = Memo::new(move |_| fields.with_value(|f| preview_amount(f, &values.get())));
    let has_payment = def.payment_field().is_some();
    view! {
        <div class="stack" data-testid="form-preview">
            <h3>{def.title.clone()}</h3>
            {def.description.lines().map(|l| view! { <p class="muted">{l.to_owned()}</p> }).collect_view()}
            <FieldList fields=def.fields values errors />
            {has_payment.then(|| view! { <p class="total">"¥ " {move || total.get().map(|m| m.to_yuan_string()).unwrap_or_else(|| "—".into())}</p> })}
        </div>
    }
}
