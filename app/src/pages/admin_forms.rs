//! Administrators' forms: the list, the builder with a live preview, publish
//! and close, the share link and its QR code.

use super::qr::QrCode;
use crate::domain::draft::{
    drafts_from_fields, fields_from_drafts, FieldDraft, FieldType, PaymentModeType,
};
use crate::domain::form::{beijing_local_to_ms, ms_to_beijing_local, Field, FormDef, FormStatus};
use crate::i18n::use_lang;
use leptos::prelude::*;
use leptos_router::components::{Redirect, A};
use leptos_router::hooks::{use_navigate, use_params_map};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FormSummary {
    pub id: String,
    pub slug: String,
    pub title: String,
    pub status: FormStatus,
    pub submission_count: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FormEditView {
    pub id: Option<String>,
    pub status: FormStatus,
    pub def: FormDef,
    /// `https://…/f/` as payers reach it.
    pub link_base: String,
}

#[cfg(feature = "ssr")]
fn internal(e: anyhow::Error) -> ServerFnError {
    crate::errors::Failure::Save("the form").because(e)
}

#[server(endpoint = "admin_forms")]
pub async fn admin_list_forms() -> Result<Vec<FormSummary>, ServerFnError> {
    crate::ssr::auth::require(crate::domain::Permission::ViewForms).await?;
    let state = crate::ssr::AppState::from_context()?;
    let forms = crate::ssr::forms::list_forms(&state.db)
        .await
        .map_err(internal)?;
    Ok(forms
        .into_iter()
        .map(|f| FormSummary {
            id: f.id,
            slug: f.def.slug,
            title: f.def.title,
            status: f.status,
            submission_count: f.submission_count,
        })
        .collect())
}

#[server(endpoint = "admin_form")]
pub async fn admin_get_form(id: String) -> Result<Option<FormEditView>, ServerFnError> {
    crate::ssr::auth::require(crate::domain::Permission::ViewForms).await?;
    let state = crate::ssr::AppState::from_context()?;
    let link_base = format!("{}/f/", state.pay.return_base);
    if id == "new" {
        let def = FormDef {
            slug: format!("form-{}", &crate::ssr::random_token().to_string()[..6]),
            title: String::new(),
            description: String::new(),
            fields: Vec::new(),
            opens_at: None,
            closes_at: None,
            max_submissions: None,
            success_message: "提交成功，谢谢！".into(),
            retention_days: None,
            privacy_notice: String::new(),
            receipt_subject: String::new(),
            receipt_body: String::new(),
            per_payer_limit: None,
        };
        return Ok(Some(FormEditView {
            id: None,
            status: FormStatus::Draft,
            def,
            link_base,
        }));
    }
    let form = crate::ssr::forms::form_by_id(&state.db, &id)
        .await
        .map_err(internal)?;
    Ok(form.map(|f| FormEditView {
        id: Some(f.id),
        status: f.status,
        def: f.def,
        link_base,
    }))
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum SaveOutcome {
    Saved { id: String },
    Invalid { message: String },
}

#[server(endpoint = "admin_save_form")]
pub async fn admin_save_form(
    id: Option<String>,
    def: String,
) -> Result<SaveOutcome, ServerFnError> {
    use crate::ssr::forms::{save_form, SaveFormError};
    let admin = crate::ssr::auth::require(crate::domain::Permission::EditForms).await?;
    let state = crate::ssr::AppState::from_context()?;
    let def: FormDef = match serde_json::from_str(&def) {
        Ok(d) => d,
        Err(e) => {
            return Ok(SaveOutcome::Invalid {
                message: format!("the form is malformed: {e}"),
            })
        }
    };
    let existing = id.as_deref().filter(|i| !i.is_empty());
    match save_form(&state.db, existing, &def).await {
        Ok(id) => {
            tracing::info!(admin = %admin.id, form = %id, "form saved");
            let action = if existing.is_some() {
                crate::domain::AuditAction::EditForm
            } else {
                crate::domain::AuditAction::CreateForm
            };
            let detail = format!(
                "{} (/f/{}, {} fields)",
                def.title,
                def.slug,
                def.fields.len()
            );
            crate::ssr::audit::record(&state.db, &admin, action, &id, &detail)
                .await
                .map_err(internal)?;
            Ok(SaveOutcome::Saved { id })
        }
        Err(SaveFormError::Invalid(message)) => Ok(SaveOutcome::Invalid { message }),
        Err(SaveFormError::SlugTaken) => Ok(SaveOutcome::Invalid {
            message: "this link name is already used by another form".into(),
        }),
        Err(SaveFormError::Unexpected(e)) => Err(internal(e)),
    }
}

#[server(endpoint = "admin_form_status")]
pub async fn admin_set_form_status(id: String, status: String) -> Result<bool, ServerFnError> {
    let admin = crate::ssr::auth::require(crate::domain::Permission::EditForms).await?;
    let state = crate::ssr::AppState::from_context()?;
    let status = FormStatus::parse(&status).ok_or(crate::errors::Failure::Unknown("status"))?;
    let done = crate::ssr::forms::set_status(&state.db, &id, status)
        .await
        .map_err(internal)?;
    tracing::info!(admin = %admin.id, form = %id, status = status.as_str(), "form status changed");
    if done {
        crate::ssr::audit::record(
            &state.db,
            &admin,
            crate::domain::AuditAction::FormStatus,
            &id,
            status.as_str(),
        )
        .await
        .map_err(internal)?;
    }
    Ok(done)
}

#[component]
pub fn FormsPage() -> impl IntoView {
    let lang = use_lang();
    let adm = move || lang.get().admin();
    let forms = Resource::new(|| (), |_| admin_list_forms());
    view! {
        <section class="card">
            <div class="row">
                <h1>{move || adm().forms_title}</h1>
                <A href="/admin/forms/new" attr:class="button primary" attr:data-testid="new-form">{move || adm().new_form}</A>
            </div>
            <Suspense fallback=|| view! { <p>"…"</p> }>
                {move || Suspend::new(async move {
                    match forms.await {
                        Ok(list) => view! {
                            <div class="table-wrap">
                            <table class="table">
                                <thead><tr>
                                    <th>{move || adm().col_title}</th>
                                    <th>{move || adm().col_link}</th>
                                    <th>{move || adm().col_status}</th>
                                    <th>{move || adm().col_submissions}</th>
                                </tr></thead>
                                <tbody>
                                    {list.into_iter().map(|f| {
                                        let status = f.status;
                                        view! {
                                            <tr>
                                                <td><A href=format!("/admin/forms/{}", f.id)>{f.title.clone()}</A></td>
                                                <td><a href=format!("/f/{}", f.slug) rel="external">{format!("/f/{}", f.slug)}</a></td>
                                                <td>{move || adm().form_status(status)}</td>
                                                <td><A href=format!("/admin/forms/{}/submissions", f.id)>{f.submission_count}</A></td>
                                            </tr>
                                        }
                                    }).collect_view()}
                                </tbody>
                            </table>
                            </div>
                        }.into_any(),
                        Err(_) => view! { <Redirect path="/admin/login" /> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
pub fn FormEditorPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let form = Resource::new(id, admin_get_form);
    view! {
        <Suspense fallback=|| view! { <p>"…"</p> }>
            {move || Suspend::new(async move {
                match form.await {
                    Ok(Some(v)) => view! { <Editor view=v /> }.into_any(),
                    Ok(None) => view! { <p>"404"</p> }.into_any(),
                    Err(_) => view! { <Redirect path="/admin/login" /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

fn next_key(drafts: &[FieldDraft]) -> String {
    let n = drafts
        .iter()
        .filter_map(|d| d.key.strip_prefix('f').and_then(|n| n.parse::<u32>().ok()))
        .max()
        .unwrap_or(0);
    format!("f{}", n + 1)
}

/// The payer's receipt mail: its subject and text, with a preview filled
/// with examples (and each `{answer:key}` with the field's label).
#[component]
fn ReceiptEditor(
    subject: RwSignal<String>,
    body: RwSignal<String>,
    drafts: RwSignal<Vec<FieldDraft>>,
) -> impl IntoView {
    let render = move |template: String, default: &'static str| {
        let template = if template.trim().is_empty() {
            default.to_owned()
        } else {
            template
        };
        let fields = drafts.get();
        let answer = |key: &str| {
            fields
                .iter()
                .find(|d| d.key == key)
                .map(|d| format!("‹{}›", d.label))
        };
        crate::domain::form::render_template(
            &template,
            &crate::domain::form::TEMPLATE_TOKENS,
            &answer,
        )
    };
    let tokens = crate::domain::form::TEMPLATE_TOKENS
        .iter()
        .map(|(k, _)| format!("{{{k}}}"))
        .collect::<Vec<_>>()
        .join(" ");
    view! {
        <details class="receipt-editor" data-testid="receipt-editor">
            <summary>"收据邮件 Receipt mail (sent when the form has an email field and mail is configured)"</summary>
            <label>"主题 Subject (empty: the default)"<input type="text" data-testid="receipt-subject-input" prop:value=move || subject.get() on:input=move |ev| subject.set(event_target_value(&ev)) /></label>
            <label>"正文 Text (empty: the default)"<textarea rows="6" data-testid="receipt-body-input" prop:value=move || body.get() on:input=move |ev| body.set(event_target_value(&ev))></textarea></label>
            <p class="muted">"可用 Tokens: " {tokens} " {answer:字段键 field key}"</p>
            <div class="card" data-testid="receipt-preview">
                <strong>{move || crate::domain::form::one_line(&render(subject.get(), crate::domain::form::DEFAULT_RECEIPT_SUBJECT))}</strong>
                <pre>{move || render(body.get(), crate::domain::form::DEFAULT_RECEIPT_BODY)}</pre>
            </div>
        </details>
    }
}

#[component]
fn Editor(view: FormEditView) -> impl IntoView {
    let lang = use_lang();
    let adm = move || lang.get().admin();
    let id = RwSignal::new(view.id.clone());
    let status = RwSignal::new(view.status);
    let title = RwSignal::new(view.def.title.clone());
    let slug = RwSignal::new(view.def.slug.clone());
    let description = RwSignal::new(view.def.description.clone());
    let success = RwSignal::new(view.def.success_message.clone());
    let max = RwSignal::new(
        view.def
            .max_submissions
            .map(|m| m.to_string())
            .unwrap_or_default(),
    );
    let retention = RwSignal::new(
        view.def
            .retention_days
            .map(|d| d.to_string())
            .unwrap_or_default(),
    );
    let per_payer = RwSignal::new(
        view.def
            .per_payer_limit
            .map(|n| n.to_string())
            .unwrap_or_default(),
    );
    let notice = RwSignal::new(view.def.privacy_notice.clone());
    let receipt_subject = RwSignal::new(view.def.receipt_subject.clone());
    let receipt_body = RwSignal::new(view.def.receipt_body.clone());
    let opens = RwSignal::new(
        view.def
            .opens_at
            .map(ms_to_beijing_local)
            .unwrap_or_default(),
    );
    let closes = RwSignal::new(
        view.def
            .closes_at
            .map(ms_to_beijing_local)
            .unwrap_or_default(),
    );
    let drafts = RwSignal::new(drafts_from_fields(&view.def.fields));
    let message = RwSignal::new(None::<(bool, String)>);
    let link_base = StoredValue::new(view.link_base.clone());

    let build =
        move || -> Result<FormDef, String> {
            let fields: Vec<Field> = fields_from_drafts(&drafts.get())?;
            let time = |s: String| -> Result<Option<i64>, String> {
                if s.trim().is_empty() {
                    Ok(None)
                } else {
                    beijing_local_to_ms(&s)
                        .map(Some)
                        .ok_or_else(|| format!("{s} is not a date and time"))
                }
            };
            let def =
                FormDef {
                    slug: slug.get(),
                    title: title.get(),
                    description: description.get(),
                    fields,
                    opens_at: time(opens.get())?,
                    closes_at: time(closes.get())?,
                    max_submissions: if max.get().trim().is_empty() {
                        None
                    } else {
                        Some(
                            max.get()
                                .trim()
                                .parse()
                                .map_err(|_| "the maximum is a whole number".to_owned())?,
                        )
                    },
                    success_message: success.get(),
                    retention_days: if retention.get().trim().is_empty() {
                        None
                    } else {
                        Some(retention.get().trim().parse().map_err(|_| {
                            "the days answers are kept is a whole number".to_owned()
                        })?)
                    },
                    privacy_notice: notice.get().trim().to_owned(),
                    receipt_subject: receipt_subject.get().trim().to_owned(),
                    receipt_body: receipt_body.get().trim().to_owned(),
                    per_payer_limit: if per_payer.get().trim().is_empty() {
                        None
                    } else {
                        Some(
                            per_payer
                                .get()
                                .trim()
                                .parse()
                                .map_err(|_| "a payer's limit is a whole number".to_owned())?,
                        )
                    },
                };
            def.validate()?;
            Ok(def)
        };
    let save = ServerAction::<AdminSaveForm>::new();
    let set_status = ServerAction::<AdminSetFormStatus>::new();
    let navigate = use_navigate();
    Effect::new(move |_| match save.value().get() {
        Some(Ok(SaveOutcome::Saved { id: new_id })) => {
            message.set(Some((true, "saved".into())));
            if id.get_untracked().is_none() {
                id.set(Some(new_id.clone()));
                navigate(&format!("/admin/forms/{new_id}"), Default::default());
            }
        }
        Some(Ok(SaveOutcome::Invalid { message: m })) => message.set(Some((false, m))),
        Some(Err(e)) => message.set(Some((false, e.to_string()))),
        None => {}
    });
    Effect::new(move |_| {
        if let Some(Ok(true)) = set_status.value().get() {
            if let Some(s) = set_status
                .input()
                .get_untracked()
                .and_then(|i| FormStatus::parse(&i.status))
            {
                status.set(s);
            }
        }
    });
    let on_save = move |_| match build() {
        Ok(def) => {
            message.set(None);
            save.dispatch(AdminSaveForm {
                id: id.get_untracked(),
                def: serde_json::to_string(&def).unwrap_or_default(),
            });
        }
        Err(e) => message.set(Some((false, e))),
    };
    let change_status = move |s: FormStatus| {
        if let Some(i) = id.get_untracked() {
            status.set(s);
            set_status.dispatch(AdminSetFormStatus {
                id: i,
                status: s.as_str().to_owned(),
            });
        }
    };
    let preview = Memo::new(move |_| build().ok());
    let link = move || format!("{}{}", link_base.get_value(), slug.get());
    let text = |label: &'static str, sig: RwSignal<String>, testid: &'static str| {
        view! {
            <label>{label}<input type="text" prop:value=move || sig.get() data-testid=testid on:input=move |ev| sig.set(event_target_value(&ev)) /></label>
        }
    };
    view! {
        <section class="editor">
            <div class="card stack">
                <h1>{move || adm().edit_form}</h1>
                {text("标题 Title", title, "form-title-input")}
                {text("链接名 Link name (/f/…)", slug, "form-slug-input")}
                <label>"说明 Description"<textarea rows="3" prop:value=move || description.get() on:input=move |ev| description.set(event_target_value(&ev))></textarea></label>
                <div class="grid2">
                    <label>"开始 Opens (北京时间)"<input type="datetime-local" prop:value=move || opens.get() on:input=move |ev| opens.set(event_target_value(&ev)) /></label>
                    <label>"截止 Closes (北京时间)"<input type="datetime-local" prop:value=move || closes.get() on:input=move |ev| closes.set(event_target_value(&ev)) /></label>
                </div>
                {text("最多提交数 Maximum submissions", max, "form-max-input")}
                {text("每人限报 Per payer (by phone, else email, and by WeChat account when paying inside WeChat; empty: no limit)", per_payer, "form-per-payer-input")}
                {text("提交成功提示 Success message", success, "form-success-input")}
                {text("答案保留天数 Keep answers (days; empty: kept)", retention, "form-retention-input")}
                <label>"个人信息处理说明 Privacy notice (shown before submitting; payers must agree; empty: none)"<textarea rows="4" data-testid="form-privacy-input" prop:value=move || notice.get() on:input=move |ev| notice.set(event_target_value(&ev))></textarea></label>
                <ReceiptEditor subject=receipt_subject body=receipt_body drafts />
                <h2>{move || adm().fields}</h2>
                {move || drafts.get().into_iter().enumerate().map(|(i, d)| view! { <FieldEditor index=i draft=d drafts /> }).collect_view()}
                <button class="button" data-testid="add-field" on:click=move |_| drafts.update(|ds| { let k = next_key(ds); ds.push(FieldDraft::new(k)); })>
                    {move || adm().add_field}
                </button>
                <div class="row">
                    <button class="button primary" data-testid="save-form" on:click=on_save disabled=move || save.pending().get()>{move || adm().save}</button>
                    <Show when=move || id.get().is_some()>
                        <button class="button" data-testid="publish-form" on:click=move |_| change_status(FormStatus::Published) disabled=move || status.get() == FormStatus::Published>{move || adm().publish}</button>
                        <button class="button" data-testid="close-form" on:click=move |_| change_status(FormStatus::Closed) disabled=move || status.get() != FormStatus::Published>{move || adm().close_form}</button>
                        <A href=move || format!("/admin/forms/{}/submissions", id.get().unwrap_or_default())>{move || adm().view_submissions}</A>
                        <A href=move || format!("/admin/forms/{}/webhooks", id.get().unwrap_or_default()) attr:data-testid="form-webhooks">"Webhooks"</A>
                        <A href=move || format!("/admin/forms/{}/codes", id.get().unwrap_or_default()) attr:data-testid="form-codes">"优惠码 Discount codes"</A>
                        <A href=move || format!("/admin/forms/{}/insights", id.get().unwrap_or_default()) attr:data-testid="form-insights">"答题统计 Answers"</A>
                    </Show>
                </div>
                <p data-testid="form-state">{move || adm().form_status(status.get())}</p>
                {move || message.get().map(|(ok, m)| view! { <p class=if ok { "success" } else { "error" } data-testid="editor-message">{m}</p> })}
                <Show when=move || status.get() == FormStatus::Published>
                    <div class="share">
                        <p>{move || adm().share_link} ": " <a href=link data-testid="share-link">{link}</a></p>
                        <QrCode data=Signal::derive(link) testid="share-qr".to_string() label=format!("{}: {}", adm().share_link, link()) />
                    </div>
                </Show>
            </div>
            <div class="card preview">
                <h2>{move || adm().preview}</h2>
                {move || preview.get().map(|def| view! { <super::form_page::FormPreview def /> })}
            </div>
        </section>
    }
}

#[component]
fn FieldEditor(
    index: usize,
    draft: FieldDraft,
    drafts: RwSignal<Vec<FieldDraft>>,
) -> impl IntoView {
    let edit = move |f: Box<dyn Fn(&mut FieldDraft)>| {
        drafts.update(|ds| {
            if let Some(d) = ds.get_mut(index) {
                f(d)
            }
        })
    };
    let kind = draft.kind;
    let mode = draft.payment_mode;
    let input = move |label: &'static str,
                      value: String,
                      set: fn(&mut FieldDraft, String),
                      testid: String| {
        view! {
            <label>{label}<input type="text" value=value data-testid=testid on:change=move |ev| { let v = event_target_value(&ev); edit(Box::new(move |d| set(d, v.clone()))) } /></label>
        }
    };
    let payment = kind == FieldType::Payment;
    let needs_options = kind.has_options()
        || (payment
            && matches!(
                mode,
                PaymentModeType::PricedOptions | PaymentModeType::Items
            ));
    let items = payment && mode == PaymentModeType::Items;
    view! {
        <fieldset class="field-editor" data-testid=format!("field-editor-{index}")>
            <div class="grid2">
                {input("名称 Label", draft.label.clone(), |d, v| d.label = v, format!("field-label-{index}"))}
                {input("键 Key", draft.key.clone(), |d, v| d.key = v, format!("field-key-{index}"))}
            </div>
            <label>"类型 Type"
                <select data-testid=format!("field-type-{index}") on:change=move |ev| { if let Some(t) = FieldType::parse(&event_target_value(&ev)) { edit(Box::new(move |d| d.kind = t)) } }>
                    {FieldType::ALL.iter().map(|t| { let (zh, en) = t.label(); view! { <option value=t.as_str() selected=*t == kind>{format!("{zh} {en}")}</option> } }).collect_view()}
                </select>
            </label>
            {input("提示 Help", draft.help.clone(), |d, v| d.help = v, format!("field-help-{index}"))}
            {kind.can_be_required().then(|| view! {
                <label class="choice"><input type="checkbox" checked=draft.required data-testid=format!("field-required-{index}")
                    on:change=move |ev| { let v = event_target_checked(&ev); edit(Box::new(move |d| d.required = v)) } />"必填 Required"</label>
            })}
            {(kind == FieldType::Hidden).then(|| view! {
                <p class="help">{format!("链接参数 Filled from the link: /f/…?{}=…", draft.key)}</p>
            })}
            {(kind == FieldType::Upload).then(|| {
                let accept = draft.options.clone();
                view! {
                    <div class="grid2">
                        {input("最多文件数 Files (1–10)", draft.max_quantity.clone(), |d, v| d.max_quantity = v, format!("field-files-{index}"))}
                        {input("单个文件最大 MB Size (1–20 MB)", draft.max.clone(), |d, v| d.max = v, format!("field-mb-{index}"))}
                        <label>"类型 Accept"
                            <select data-testid=format!("field-accept-{index}") on:change=move |ev| { let v = event_target_value(&ev); edit(Box::new(move |d| d.options = v.clone())) }>
                                <option value="images" selected=accept != "pdf" && accept != "images_and_pdf">"图片 Images"</option>
                                <option value="pdf" selected=accept == "pdf">"PDF"</option>
                                <option value="images_and_pdf" selected=accept == "images_and_pdf">"图片或 PDF Images or PDF"</option>
                            </select>
                        </label>
                    </div>
                }
            })}
            {(kind == FieldType::Consent).then(|| input("全文链接 Link to the full text (https:// or /path)", draft.link.clone(), |d, v| d.link = v, format!("field-link-{index}")))}
            {payment.then(|| view! {
                <label>"收款方式 Payment mode"
                    <select data-testid=format!("field-mode-{index}") on:change=move |ev| { if let Some(m) = PaymentModeType::parse(&event_target_value(&ev)) { edit(Box::new(move |d| d.payment_mode = m)) } }>
                        {PaymentModeType::ALL.iter().map(|m| { let (zh, en) = m.label(); view! { <option value=m.as_str() selected=*m == mode>{format!("{zh} {en}")}</option> } }).collect_view()}
                    </select>
                </label>
            })}
            {(payment && mode == PaymentModeType::Fixed).then(|| input("金额 Amount (元)", draft.amount.clone(), |d, v| d.amount = v, format!("field-amount-{index}")))}
            {(kind == FieldType::Number || (payment && mode == PaymentModeType::PayerAmount)).then(|| view! {
                <div class="grid2">
                    {input("最小 Min", draft.min.clone(), |d, v| d.min = v, format!("field-min-{index}"))}
                    {input("最大 Max", draft.max.clone(), |d, v| d.max = v, format!("field-max-{index}"))}
                </div>
            })}
            {needs_options.then(|| view! {
                <label>{if items { "商品（每行一个：名称 = 80, 最多 5, 库存 50）Items, one per line: label = 80, max 5, stock 50" } else { "选项（每行一个；带价格写作 名称 = 12.50）Options, one per line" }}
                    <textarea rows="3" data-testid=format!("field-options-{index}") on:change=move |ev| { let v = event_target_value(&ev); edit(Box::new(move |d| d.options = v.clone())) }>{draft.options.clone()}</textarea>
                </label>
            })}
            {(payment && mode == PaymentModeType::PricedOptions).then(|| input("最多数量 Max quantity", draft.max_quantity.clone(), |d, v| d.max_quantity = v, format!("field-quantity-{index}")))}
            {(index > 0 && !payment).then(|| {
                let action = draft.logic_action.clone();
                view! {
                    <details class="logic" open=!draft.logic_action.is_empty()>
                        <summary>"显示条件 Logic"</summary>
                        <div class="grid2">
                            <label>"规则 Rule"
                                <select data-testid=format!("field-logic-{index}") on:change=move |ev| { let v = event_target_value(&ev); edit(Box::new(move |d| d.logic_action = v.clone())) }>
                                    <option value="" selected=action.is_empty()>"无 None"</option>
                                    <option value="show" selected=action == "show">"满足条件时显示 Show when"</option>
                                    <option value="require" selected=action == "require">"满足条件时必填 Require when"</option>
                                </select>
                            </label>
                            <label class="choice"><input type="checkbox" checked=draft.logic_any data-testid=format!("field-logic-any-{index}")
                                on:change=move |ev| { let v = event_target_checked(&ev); edit(Box::new(move |d| d.logic_any = v)) } />"满足任一条件 Any (else all)"</label>
                        </div>
                        <label>"条件（每行一个：字段键 = 选项 或 a | b；字段键 filled）Conditions, one per line: key = value, key = a | b, key filled"
                            <textarea rows="2" data-testid=format!("field-logic-rules-{index}") on:change=move |ev| { let v = event_target_value(&ev); edit(Box::new(move |d| d.logic_rules = v.clone())) }>{draft.logic_rules.clone()}</textarea>
                        </label>
                    </details>
                }
            })}
            <div class="row">
                <button class="button" title="up" on:click=move |_| drafts.update(|ds| if index > 0 { ds.swap(index, index - 1) })>"↑"</button>
                <button class="button" title="down" on:click=move |_| drafts.update(|ds| if index + 1 < ds.len() { ds.swap(index, index + 1) })>"↓"</button>
                <button class="button" data-testid=format!("field-remove-{index}") on:click=move |_| drafts.update(|ds| { if index < ds.len() { ds.remove(index); } })>"删除 Remove"</button>
            </div>
        </fieldset>
    }
}
