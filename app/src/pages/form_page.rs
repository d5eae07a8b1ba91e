//! The public form page `/f/{slug}`: server-rendered (a plain POST works
//! without JavaScript), then hydrated with inline validation and a live total.

use crate::domain::discount::DISCOUNT_KEY;
use crate::domain::form::{
    answer_text, check_answers, field_states, preview_amount, AnswerError, Availability, Field,
    FieldKind, PaymentMode, PublicForm, CONSENT_KEY, MAX_SHORT_TEXT,
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

/// The form itself: an island, hydrated on its own in the payers' bundle.
/// `hidden` holds the hidden fields' answers from the link, `invalid` the
/// fields a plain (no-JavaScript) POST marked, `submitted` whether one was
/// stored.
#[island]
fn FormView(
    form: PublicForm,
    hidden: Map<String, Value>,
    invalid: String,
    submitted: bool,
) -> impl IntoView {
    let lang = use_lang();
    let t = move || lang.get().t();
    let fields = StoredValue::new(form.fields.clone());
    let values = RwSignal::new(hidden);
    let initial_errors: BTreeMap<String, AnswerError> = invalid
        .split(',')
        .filter(|k| !k.is_empty())
        .map(|k| (k.to_owned(), AnswerError::WrongType))
        .collect();
    let errors = RwSignal::new(initial_errors);
    let done_message = RwSignal::new(submitted.then(|| form.success_message.clone()));
    let unavailable = RwSignal::new(None::<Availability>);
    let refused = RwSignal::new(false);
    let last_answers = StoredValue::new(None::<Map<String, Value>>);
    let challenge_tries = StoredValue::new(0u32);
    let form_slug = StoredValue::new(form.slug.clone());
    let has_payment = form
        .fields
        .iter()
        .any(|f| matches!(f.kind, FieldKind::Payment(_)));
    let total = Memo::new(move |_| fields.with_value(|f| preview_amount(f, &values.get())));
    // Stock is kept current: every 15 s, and after a refused submission.
    let stock = RwSignal::new(form.stock_left.clone());
    provide_context(StockLeft(stock));
    provide_context(FormSlug(form.slug.clone()));
    let refresh_stock = {
        let slug = form.slug.clone();
        move || {
            let slug = slug.clone();
            leptos::task::spawn_local(async move {
                if let Ok(s) = form_stock(slug).await {
                    stock.set(s);
                }
            });
        }
    };
    if !form.stock_left.is_empty() {
        let refresh = refresh_stock.clone();
        Effect::new(move |_| {
            let refresh = refresh.clone();
            let _ = set_interval_with_handle(refresh, std::time::Duration::from_secs(15));
        });
    }
    let action = ServerAction::<SubmitForm>::new();
    Effect::new(move |_| match action.value().get() {
        Some(Ok(SubmitOutcome::Pay { order_id })) => super::go_to(&format!("/pay/{order_id}")),
        Some(Ok(SubmitOutcome::Done { message })) => done_message.set(Some(message)),
        Some(Ok(SubmitOutcome::Invalid { errors: e })) => {
            if e.values().any(|e| *e == AnswerError::SoldOut) {
                refresh_stock();
            }
            errors.set(e)
        }
        Some(Ok(SubmitOutcome::Unavailable { availability })) => {
            unavailable.set(Some(availability))
        }
        Some(Ok(SubmitOutcome::Blocked)) => refused.set(true),
        Some(Ok(SubmitOutcome::Challenge { challenge, bits })) => {
            // Solved here, in WebAssembly, then sent again (a few times at most).
            let tries = challenge_tries.get_value();
            if let (Some(mut answers), true) = (last_answers.get_value(), tries < 3) {
                challenge_tries.set_value(tries + 1);
                let nonce = crate::domain::pow::solve(&challenge, bits);
                answers.insert(
                    crate::domain::pow::POW_KEY.to_owned(),
                    Value::String(crate::domain::pow::solution(&challenge, nonce)),
                );
                action.dispatch(SubmitForm {
                    slug: form_slug.get_value(),
                    answers: Value::Object(answers).to_string(),
                });
            } else {
                refused.set(true);
            }
        }
        _ => {}
    });
    // After a refused submit, the first field in error gets the focus (the
    // summary above the fields is announced by its role).
    Effect::new(move |_| {
        if !errors.with(|e| e.is_empty()) {
            focus_first_invalid();
        }
    });
    let slug = form.slug.clone();
    let needs_consent = !form.privacy_notice.is_empty();
    let notice = StoredValue::new(form.privacy_notice.clone());
    let consent = RwSignal::new(false);
    let discount_code = RwSignal::new(String::new());
    let on_submit = {
        let slug = slug.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            let mut answers = values.get_untracked();
            let mut found = fields
                .with_value(|f| check_answers(f, &answers))
                .err()
                .unwrap_or_default();
            if needs_consent && !consent.get_untracked() {
                found.insert(CONSENT_KEY.to_owned(), AnswerError::Required);
            }
            if !found.is_empty() {
                errors.set(found);
                return;
            }
            errors.set(BTreeMap::new());
            if needs_consent {
                answers.insert(CONSENT_KEY.to_owned(), Value::Bool(true));
            }
            let code = discount_code.get_untracked();
            if !code.trim().is_empty() {
                answers.insert(DISCOUNT_KEY.to_owned(), Value::String(code));
            }
            last_answers.set_value(Some(answers.clone()));
            challenge_tries.set_value(0);
            action.dispatch(SubmitForm {
                slug: slug.clone(),
                answers: Value::Object(answers).to_string(),
            });
        }
    };
    let consent_error = Memo::new(move |_| errors.with(|e| e.get(CONSENT_KEY).cloned()));
    let takes_codes = form.takes_discount_codes;
    let code_error = Memo::new(move |_| errors.with(|e| e.get(DISCOUNT_KEY).cloned()));
    let availability = form.availability;
    let description = form.description.clone();
    let action_url = StoredValue::new(format!("/f/{slug}"));
    // Without JavaScript the files travel with the answers.
    let enctype = fields.with_value(|fs| {
        fs.iter()
            .any(|f| matches!(f.kind, FieldKind::Upload { .. }))
            .then_some("multipart/form-data")
    });
    let on_submit = StoredValue::new(on_submit);
    view! {
        <section class="card form-card">
            <h1 data-testid="form-title">{form.title.clone()}</h1>
            <div class="description">
                {description.lines().map(|l| view! { <p>{l.to_owned()}</p> }).collect_view()}
            </div>
            <Show
                when=move || availability == Availability::Open && unavailable.get().is_none()
                fallback=move || {
                    let a = unavailable.get().unwrap_or(availability);
                    view! { <p class="notice" data-testid="form-unavailable">{move || t().availability(a)}</p> }
                }
            >
                <Show
                    when=move || done_message.get().is_none()
                    fallback=move || view! {
                        <p class="success" data-testid="form-done">{move || t().submitted} " · " {done_message.get().unwrap_or_default()}</p>
                    }
                >
                    <form class="stack" method="post" action=action_url.get_value() enctype=enctype on:submit=move |ev| on_submit.with_value(|f| f(ev)) novalidate>
                        <Show when=move || !errors.get().is_empty()>
                            <p class="error" role="alert" data-testid="error-summary">{move || t().fix_errors}</p>
                        </Show>
                        <FieldList fields=fields.get_value() values errors />
                        {needs_consent.then(|| view! {
                            <fieldset class="privacy" data-testid="privacy-notice">
                                <legend>{move || t().privacy_notice}</legend>
                                <div class="notice-text">
                                    {notice.with_value(|n| n.lines().map(|l| view! { <p>{l.to_owned()}</p> }).collect_view())}
                                </div>
                                <label class="check">
                                    <input type="checkbox" name=CONSENT_KEY value="yes" required
                                        aria-invalid=move || consent_error.get().is_some().to_string()
                                        on:change=move |ev| consent.set(event_target_checked(&ev))
                                        data-testid="privacy-consent" />
                                    {move || t().privacy_consent}
                                </label>
                                {move || consent_error.get().map(|e| view! { <p class="field-error" role="alert">{move || answer_error_text(lang.get(), &e)}</p> })}
                            </fieldset>
                        })}
                        {takes_codes.then(|| view! {
                            <div class="field" class:has-error=move || code_error.get().is_some()>
                                <label for="discount-code" class="field-label">{move || t().discount_code}</label>
                                <p class="help" id="discount-help">{move || t().discount_note}</p>
                                <input type="text" id="discount-code" name=DISCOUNT_KEY autocomplete="off" data-testid="discount-code"
                                    aria-describedby="discount-help" aria-invalid=move || code_error.get().is_some().then_some("true")
                                    on:input=move |ev| discount_code.set(event_target_value(&ev)) />
                                {move || code_error.get().map(|e| view! { <p class="field-error" role="alert" data-testid="field-error">{move || answer_error_text(lang.get(), &e)}</p> })}
                            </div>
                        })}
                        <Show when=move || has_payment>
                            <p class="total" data-testid="total">
                                {move || t().total_to_pay} ": "
                                <strong>{move || total.get().map(|m| m.to_string()).unwrap_or_else(|| "—".into())}</strong>
                            </p>
                        </Show>
                        <button type="submit" class="button primary wide" data-testid="submit" disabled=move || action.pending().get()>
                            {move || if action.pending().get() { t().submitting } else if has_payment { t().submit_and_pay } else { t().submit }}
                        </button>
                        <Show when=move || refused.get()>
                            <p class="error" role="alert" data-testid="form-refused">{move || t().refused}</p>
                        </Show>
                        <Show when=move || matches!(action.value().get(), Some(Err(_)))>
                            <p class="error">{move || t().server_error}</p>
                        </Show>
                    </form>
                </Show>
            </Show>
        </section>
    }
}

/// Focuses the first control marked invalid, once the marks are drawn.
fn focus_first_invalid() {
    #[cfg(feature = "hydrate")]
    request_animation_frame(|| {
        use wasm_bindgen::JsCast;
        if let Some(el) = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.query_selector("form [aria-invalid=true]").ok().flatten())
            .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
        {
            let _ = el.focus();
        }
    });
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
                <div class="form-section" data-testid=format!("section-{key}") hidden=move || !shown.get()>
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
            <UploadInput key=key.clone() id=id.clone() values max_files=*max_files accept=accept.input_accept() />
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
        <div class="field" class:has-error=move || error.get().is_some() hidden=move || !shown.get() data-testid=format!("q-{}", field.key)>
            <label for=format!("field-{}", field.key) id=label_id.clone() class="field-label">
                {field.label.clone()}
                {move || required().then(|| view! { <span class="required" title=move || t().required_mark>" *"</span> })}
            </label>
            {has_help.then(|| view! { <p class="help" id=help_id.clone()>{field.help.clone()}</p> })}
            {control}
            {move || error.get().map(|e| view! { <p class="field-error" id=error_id.clone() data-testid="field-error">{answer_error_text(lang.get(), &e)}</p> })}
        </div>
    }
    .into_any()
}

/// The form's link name, for the upload field (absent in the builder's preview).
#[derive(Clone)]
struct FormSlug(String);

/// Files chosen here are uploaded at once (each to the server, which checks
/// its content and size); the answer is their ids.
#[component]
fn UploadInput(
    key: String,
    id: String,
    values: RwSignal<Map<String, Value>>,
    max_files: u32,
    accept: &'static str,
) -> impl IntoView {
    let lang = use_lang();
    let t = move || lang.get().t();
    let slug = use_context::<FormSlug>().map(|s| s.0);
    let files = RwSignal::new(Vec::<(String, String)>::new());
    let multiple = max_files > 1;
    let busy = RwSignal::new(false);
    let failed = RwSignal::new(false);
    let on_change = {
        let key = key.clone();
        move |ev: leptos::ev::Event| {
            #[cfg(feature = "hydrate")]
            {
                use wasm_bindgen::JsCast;
                let Some(slug) = slug.clone() else {
                    return;
                };
                let Some(input) = ev
                    .target()
                    .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
                else {
                    return;
                };
                let Some(list) = input.files() else {
                    return;
                };
                let chosen: Vec<web_sys::File> = (0..list.length())
                    .filter_map(|i| list.get(i))
                    .take(max_files as usize)
                    .collect();
                let key = key.clone();
                busy.set(true);
                failed.set(false);
                leptos::task::spawn_local(async move {
                    let mut done = Vec::new();
                    for file in chosen {
                        match upload_one(&slug, &key, &file).await {
                            Some(id) => done.push((id, file.name())),
                            None => failed.set(true),
                        }
                    }
                    files.set(done.clone());
                    let ids: Vec<Value> =
                        done.into_iter().map(|(id, _)| Value::String(id)).collect();
                    set_value(values, &key, Value::Array(ids));
                    busy.set(false);
                });
            }
            #[cfg(not(feature = "hydrate"))]
            let _ = (&ev, &slug, &key, values);
        }
    };
    view! {
        <div class="upload" id=id.clone()>
            // Named for the form posted without JavaScript (multipart).
            <input type="file" name=key.clone() accept=accept multiple=multiple data-testid=format!("input-{key}") on:change=on_change />
            <Show when=move || busy.get()>
                <p class="help" role="status">{move || t().uploading}</p>
            </Show>
            <Show when=move || failed.get()>
                <p class="field-error" role="alert">{move || t().upload_failed}</p>
            </Show>
            <ul class="uploaded" data-testid=format!("uploaded-{key}")>
                {move || files.get().into_iter().map(|(_, name)| view! { <li>{name}</li> }).collect_view()}
            </ul>
        </div>
    }
}

/// Uploads one file; its id, or None when the server refused it.
#[cfg(feature = "hydrate")]
async fn upload_one(slug: &str, key: &str, file: &web_sys::File) -> Option<String> {
    use wasm_bindgen::JsCast;
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_body(file);
    let headers = web_sys::Headers::new().ok()?;
    headers
        .set(
            "x-file-name",
            &String::from(js_sys::encode_uri_component(&file.name())),
        )
        .ok()?;
    init.set_headers(&headers);
    let url = format!("/api/v1/forms/{slug}/uploads/{key}");
    let request = web_sys::Request::new_with_str_and_init(&url, &init).ok()?;
    let window = web_sys::window()?;
    let resp: web_sys::Response =
        wasm_bindgen_futures::JsFuture::from(window.fetch_with_request(&request))
            .await
            .ok()?
            .dyn_into()
            .ok()?;
    if resp.status() != 201 {
        return None;
    }
    let text = wasm_bindgen_futures::JsFuture::from(resp.text().ok()?)
        .await
        .ok()?;
    let body: Value = serde_json::from_str(&text.as_string()?).ok()?;
    body.get("id")?.as_str().map(str::to_owned)
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
