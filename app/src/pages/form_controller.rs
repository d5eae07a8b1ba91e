//! The public form's life in the browser, without drawing it again.
//!
//! The server writes the whole form ([`super::form_page`]); it works without
//! JavaScript. This island only listens to that markup: it keeps the answers,
//! shows and requires fields as their rules say, keeps the total and the
//! stock current, checks the answers with the same code as the server before
//! sending them, uploads files, fills the region lists, and follows the
//! server's answer (pay, done, refused, a proof of work to solve). Drawing
//! nothing keeps the payers' bundle small (issue 14): the view code of every
//! field type stays on the server.

use crate::domain::form::{fields_from_json, Field};
use leptos::prelude::*;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// What the page needs to know of the form: the island's props.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FormSpec {
    pub slug: String,
    pub fields: Fields,
    /// The hidden fields' answers, from the link's query string.
    pub hidden: Map<String, Value>,
    pub success_message: String,
    /// A privacy notice is shown: its box must be ticked.
    pub needs_consent: bool,
    /// Some items have a stock: it is kept current.
    pub watch_stock: bool,
}

/// The form's fields as the island's props carry them: written by serde,
/// read back in the browser by [`fields_from_json`], which is a fraction of
/// the code serde's derive takes for them (a sixth of the form page's bundle;
/// issue 14).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Fields(pub Vec<Field>);

impl<'de> Deserialize<'de> for Fields {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        fields_from_json(&v)
            .map(Fields)
            .map_err(serde::de::Error::custom)
    }
}

/// Wraps the server-written form (its children are never drawn in the
/// browser) and brings it to life once it is in the page.
#[cfg_attr(feature = "form-page", island)]
#[cfg_attr(not(feature = "form-page"), component)]
pub fn FormController(spec: FormSpec, children: Children) -> impl IntoView {
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| page::start(spec.clone()));
    #[cfg(not(feature = "hydrate"))]
    let _ = spec;
    children()
}

#[cfg(feature = "hydrate")]
mod page {
    use super::FormSpec;
    use crate::domain::discount::DISCOUNT_KEY;
    use crate::domain::form::{
        check_answers, field_states, preview_amount, AnswerError, Field, FieldKind, PaymentMode,
        CONSENT_KEY,
    };
    use crate::domain::pow;
    use crate::i18n::{answer_error_text, initial_lang, Lang, Strings};
    use crate::pages::form_page::{form_stock, region_children, submit_form, SubmitOutcome};
    use serde_json::{Map, Value};
    use std::cell::{Cell, RefCell};
    use std::collections::BTreeMap;
    use std::rc::Rc;
    use wasm_bindgen::closure::Closure;
    use wasm_bindgen::{JsCast, JsValue};
    use web_sys::{Document, Element, Event, HtmlElement, HtmlInputElement};

    /// How many times a refused proof of work is solved again.
    const MAX_CHALLENGES: u32 = 3;

    /// The page's state: the form's markup and the answers so far.
    struct Page {
        spec: FormSpec,
        doc: Document,
        root: Element,
        form: Element,
        lang: Lang,
        values: RefCell<Map<String, Value>>,
        busy: Cell<bool>,
        /// The answers last sent, to send again with a solved challenge.
        last: RefCell<Option<Map<String, Value>>>,
        challenges: Cell<u32>,
    }

    /// Starts listening to the form in the page (nothing to do where the
    /// form is not open: the server wrote why).
    pub fn start(spec: FormSpec) {
        let Some(doc) = web_sys::window().and_then(|w| w.document()) else {
            return;
        };
        let Some(root) = find(&doc, "[data-form-root]") else {
            return;
        };
        let Some(form) = find(&root, "form") else {
            return;
        };
        let page = Rc::new(Page {
            values: RefCell::new(spec.hidden.clone()),
            spec,
            doc,
            root,
            form,
            lang: initial_lang(),
            busy: Cell::new(false),
            last: RefCell::new(None),
            challenges: Cell::new(0),
        });
        page.regions();
        page.refresh();
        for (event, changed) in [("input", false), ("change", true)] {
            let p = page.clone();
            listen(&page.form, event, move |ev| p.edited(&ev, changed));
        }
        let p = page.clone();
        listen(&page.form, "submit", move |ev| {
            ev.prevent_default();
            p.submit();
        });
        if page.spec.watch_stock {
            let p = page.clone();
            leptos::prelude::set_interval(
                move || p.clone().refresh_stock(),
                std::time::Duration::from_secs(15),
            );
        }
    }

    impl Page {
        fn t(&self) -> &'static Strings {
            self.lang.t()
        }

        fn field(&self, key: &str) -> Option<&Field> {
            self.spec.fields.0.iter().find(|f| f.key == key)
        }

        fn wrapper(&self, key: &str) -> Option<Element> {
            find(&self.root, &format!("[data-field=\"{key}\"]"))
        }

        /// A control changed: its field's answer is read again from the page.
        fn edited(self: &Rc<Self>, ev: &Event, changed: bool) {
            let Some(el) = ev.target().and_then(|t| t.dyn_into::<Element>().ok()) else {
                return;
            };
            let Some(wrapper) = el.closest("[data-field]").ok().flatten() else {
                return;
            };
            let key = wrapper.get_attribute("data-field").unwrap_or_default();
            let Some(field) = self.field(&key) else {
                return;
            };
            match &field.kind {
                // Once per choice: on `change` (a file input and a list also
                // send `input`).
                FieldKind::Upload { max_files, .. } if changed => {
                    self.upload(key, &el, *max_files as usize)
                }
                FieldKind::Region if changed => self.region_changed(&key, &el),
                FieldKind::Upload { .. } | FieldKind::Region => {}
                _ => self.set_answer(&key, read_answer(field, &wrapper)),
            }
            self.refresh();
        }

        fn set_answer(&self, key: &str, v: Option<Value>) {
            let mut values = self.values.borrow_mut();
            match v {
                Some(v) => values.insert(key.to_owned(), v),
                None => values.remove(key),
            };
        }

        /// Shows and requires each field as its rule says for the answers so
        /// far, and shows the total.
        fn refresh(&self) {
            let values = self.values.borrow();
            let states = field_states(&self.spec.fields.0, &values);
            for (field, state) in self.spec.fields.0.iter().zip(states) {
                let Some(w) = self.wrapper(&field.key) else {
                    continue;
                };
                set_flag(&w, "hidden", !state.shown);
                if let Some(mark) = find(&w, ".required") {
                    set_flag(&mark, "hidden", !state.required);
                }
                let takes_required = matches!(
                    field.kind,
                    FieldKind::ShortText
                        | FieldKind::LongText
                        | FieldKind::Number { .. }
                        | FieldKind::Phone
                        | FieldKind::Email
                        | FieldKind::Date
                        | FieldKind::Time
                        | FieldKind::DateTime
                        | FieldKind::IdCard
                        | FieldKind::Dropdown { .. }
                        | FieldKind::Consent { .. }
                        | FieldKind::Payment(PaymentMode::PayerAmount { .. })
                );
                if takes_required {
                    if let Some(control) = find(&w, &format!("[name=\"{}\"]", field.key)) {
                        set_flag(&control, "required", state.required);
                    }
                }
            }
            if let Some(total) = find(&self.root, "[data-testid=total] strong") {
                let amount = preview_amount(&self.spec.fields.0, &values)
                    .map(|m| m.to_string())
                    .unwrap_or_else(|| "—".into());
                total.set_text_content(Some(&amount));
            }
        }

        /// Checks the answers as the server will, then sends them.
        fn submit(self: &Rc<Self>) {
            if self.busy.get() {
                return;
            }
            let mut answers = self.values.borrow().clone();
            let mut found = check_answers(&self.spec.fields.0, &answers)
                .err()
                .unwrap_or_default();
            let consent = find(&self.form, &format!("input[name=\"{CONSENT_KEY}\"]"));
            if self.spec.needs_consent && !consent.as_ref().is_some_and(is_checked) {
                found.insert(CONSENT_KEY.to_owned(), AnswerError::Required);
            }
            self.show_errors(&found);
            if !found.is_empty() {
                return;
            }
            if self.spec.needs_consent {
                answers.insert(CONSENT_KEY.to_owned(), Value::Bool(true));
            }
            if let Some(code) = find(&self.form, &format!("input[name=\"{DISCOUNT_KEY}\"]")) {
                let code = value_of(&code);
                if !code.trim().is_empty() {
                    answers.insert(DISCOUNT_KEY.to_owned(), Value::String(code));
                }
            }
            self.last.replace(Some(answers.clone()));
            self.challenges.set(0);
            self.send(answers);
        }

        fn send(self: &Rc<Self>, answers: Map<String, Value>) {
            self.set_busy(true);
            self.show("form-refused", false);
            self.show("form-failed", false);
            let page = self.clone();
            let slug = self.spec.slug.clone();
            leptos::task::spawn_local(async move {
                let outcome = submit_form(slug, Value::Object(answers).to_string()).await;
                page.set_busy(false);
                page.answered(outcome);
            });
        }

        fn answered(
            self: &Rc<Self>,
            outcome: Result<SubmitOutcome, leptos::prelude::ServerFnError>,
        ) {
            let t = self.t();
            match outcome {
                Ok(SubmitOutcome::Pay { order_id }) => {
                    self.set_busy(true);
                    crate::pages::go_to(&format!("/pay/{order_id}"));
                }
                Ok(SubmitOutcome::Done { message }) => {
                    let text = if message.is_empty() {
                        t.submitted.to_owned()
                    } else {
                        format!("{} · {message}", t.submitted)
                    };
                    self.replace_form("success", "form-done", &text);
                }
                Ok(SubmitOutcome::Invalid { errors }) => {
                    if errors.values().any(|e| *e == AnswerError::SoldOut) {
                        self.clone().refresh_stock();
                    }
                    self.show_errors(&errors);
                }
                Ok(SubmitOutcome::Unavailable { availability }) => {
                    self.replace_form("notice", "form-unavailable", t.availability(availability));
                }
                Ok(SubmitOutcome::Blocked) => self.show("form-refused", true),
                Ok(SubmitOutcome::Challenge { challenge, bits }) => {
                    // Solved here, in WebAssembly, then sent again (a few times at most).
                    let tries = self.challenges.get();
                    let last = self.last.borrow().clone();
                    match last {
                        Some(mut answers) if tries < MAX_CHALLENGES => {
                            self.challenges.set(tries + 1);
                            let nonce = pow::solve(&challenge, bits);
                            answers.insert(
                                pow::POW_KEY.to_owned(),
                                Value::String(pow::solution(&challenge, nonce)),
                            );
                            self.send(answers);
                        }
                        _ => self.show("form-refused", true),
                    }
                }
                Ok(SubmitOutcome::NotFound) => self.replace_form(
                    "notice",
                    "form-unavailable",
                    t.availability(crate::domain::form::Availability::NotPublished),
                ),
                Err(_) => self.show("form-failed", true),
            }
        }

        /// The submit button says the answers are on their way, and cannot
        /// send them twice meanwhile.
        fn set_busy(&self, busy: bool) {
            self.busy.set(busy);
            if let Some(button) = find(&self.form, "[data-testid=submit]") {
                set_flag(&button, "disabled", busy);
                let t = self.t();
                let has_payment = find(&self.form, "[data-testid=total]").is_some();
                let text = if busy {
                    t.submitting
                } else if has_payment {
                    t.submit_and_pay
                } else {
                    t.submit
                };
                button.set_text_content(Some(text));
            }
        }

        fn show(&self, testid: &str, shown: bool) {
            if let Some(el) = find(&self.form, &format!("[data-testid={testid}]")) {
                set_flag(&el, "hidden", !shown);
            }
        }

        /// The form gives way to a message (stored, or no longer open).
        fn replace_form(&self, class: &str, testid: &str, text: &str) {
            if let Ok(el) = self.doc.create_element("p") {
                el.set_class_name(class);
                let _ = el.set_attribute("data-testid", testid);
                el.set_text_content(Some(text));
                let _ = self.form.before_with_node_1(&el);
                set_flag(&self.form, "hidden", true);
            }
        }

        /// Marks the fields in error (and only those), each error tied to its
        /// control, the summary announced, the first control focused.
        fn show_errors(&self, errors: &BTreeMap<String, AnswerError>) {
            for old in find_all(&self.root, "[data-testid=field-error]") {
                old.remove();
            }
            for w in find_all(&self.root, "[data-field].has-error") {
                let _ = w.class_list().remove_1("has-error");
            }
            for el in find_all(&self.root, "[aria-invalid]") {
                let _ = el.remove_attribute("aria-invalid");
            }
            for w in find_all(&self.root, "[data-field]") {
                let key = w.get_attribute("data-field").unwrap_or_default();
                self.describe(&w, &key, false);
            }
            let lang = self.lang;
            for (key, e) in errors {
                let Some(w) = self.wrapper(key) else {
                    continue;
                };
                let _ = w.class_list().add_1("has-error");
                if let Ok(p) = self.doc.create_element("p") {
                    p.set_class_name("field-error");
                    p.set_id(&format!("error-{key}"));
                    let _ = p.set_attribute("data-testid", "field-error");
                    if self.field(key).is_none() {
                        // The privacy box and the discount code: no field summary.
                        let _ = p.set_attribute("role", "alert");
                    }
                    p.set_text_content(Some(&answer_error_text(lang, e)));
                    let _ = w.append_child(&p);
                }
                for control in self.controls(&w, key) {
                    let _ = control.set_attribute("aria-invalid", "true");
                }
                self.describe(&w, key, true);
            }
            if let Some(summary) = find(&self.form, "[data-testid=error-summary]") {
                set_flag(&summary, "hidden", errors.is_empty());
            }
            if let Some(first) = find(&self.form, "[aria-invalid=true]")
                .and_then(|e| e.dyn_into::<HtmlElement>().ok())
            {
                let _ = first.focus();
            }
        }

        /// The controls of a field that carry its error: its inputs, lists
        /// and text areas, but not the boxes of a list of choices (their
        /// group carries the description).
        fn controls(&self, w: &Element, key: &str) -> Vec<Element> {
            let choices = self.field(key).is_some_and(|f| {
                matches!(
                    f.kind,
                    FieldKind::SingleChoice { .. }
                        | FieldKind::MultiChoice { .. }
                        | FieldKind::Payment(PaymentMode::PricedOptions { .. })
                )
            });
            if choices {
                return Vec::new();
            }
            find_all(
                w,
                "input:not([type=radio]):not([type=file]):not([type=hidden]), select, textarea",
            )
        }

        /// What assistive technology reads after a control's label: its
        /// help, then its error.
        fn describe(&self, w: &Element, key: &str, with_error: bool) {
            let help = format!("help-{key}");
            let has_help = self.doc.get_element_by_id(&help).is_some();
            let ids: Vec<String> = [
                has_help.then_some(help),
                with_error.then(|| format!("error-{key}")),
            ]
            .into_iter()
            .flatten()
            .collect();
            let mut targets = self.controls(w, key);
            targets.extend(find(w, "[role=group]"));
            for el in targets {
                if ids.is_empty() {
                    let _ = el.remove_attribute("aria-describedby");
                } else {
                    let _ = el.set_attribute("aria-describedby", &ids.join(" "));
                }
            }
        }

        /// Keeps the items' stock current (every 15 s, and after a refusal).
        fn refresh_stock(self: Rc<Self>) {
            let slug = self.spec.slug.clone();
            leptos::task::spawn_local(async move {
                let Ok(left) = form_stock(slug).await else {
                    return;
                };
                let t = self.t();
                for field in &self.spec.fields.0 {
                    let FieldKind::Payment(PaymentMode::Items { items }) = &field.kind else {
                        continue;
                    };
                    for item in items {
                        let Some(&n) = left.get(&item.key) else {
                            continue;
                        };
                        let code = &item.key;
                        if let Some(label) =
                            find(&self.root, &format!("[data-testid=\"stock-{code}\"]"))
                        {
                            let text = if n > 0 {
                                format!(" · {} {n}", t.left)
                            } else {
                                format!(" · {}", t.sold_out)
                            };
                            label.set_text_content(Some(&text));
                        }
                        let name = format!("{}__{code}", field.key);
                        if let Some(input) = find(&self.root, &format!("[name=\"{name}\"]")) {
                            let max = n.clamp(0, i64::from(item.max));
                            let _ = input.set_attribute("max", &max.to_string());
                        }
                    }
                }
            });
        }

        /// Each region field: the text box the server wrote (for a page
        /// without JavaScript) becomes three lists, each filled from the
        /// server when the one before it is chosen.
        fn regions(self: &Rc<Self>) {
            for field in &self.spec.fields.0 {
                if field.kind != FieldKind::Region {
                    continue;
                }
                let key = &field.key;
                let Some(typed) = self
                    .wrapper(key)
                    .and_then(|w| find(&w, &format!("input[name=\"{key}\"]")))
                else {
                    continue;
                };
                let Ok(group) = self.doc.create_element("div") else {
                    continue;
                };
                group.set_class_name("region");
                group.set_id(&format!("field-{key}"));
                let _ = group.set_attribute("role", "group");
                for level in ["province", "city", "district"] {
                    let Ok(select) = self.doc.create_element("select") else {
                        continue;
                    };
                    let _ = select.set_attribute("aria-label", self.level_name(level));
                    let _ = select.set_attribute("data-testid", &format!("region-{key}-{level}"));
                    let _ = select.set_attribute("data-level", level);
                    if level == "district" {
                        let _ = select.set_attribute("name", key);
                    }
                    self.fill(&select, level, &[]);
                    let _ = group.append_child(&select);
                }
                let _ = typed.replace_with_with_node_1(&group);
                self.load_region(key, "province", String::new());
            }
        }

        fn region_changed(self: &Rc<Self>, key: &str, el: &Element) {
            let v = value_of(el);
            let next = match el.get_attribute("data-level").as_deref() {
                Some("province") => Some(("city", ["city", "district"].as_slice())),
                Some("city") => Some(("district", ["district"].as_slice())),
                _ => None,
            };
            let Some((next, cleared)) = next else {
                self.set_answer(key, Some(Value::String(v)));
                return;
            };
            for level in cleared {
                if let Some(select) = self.region_list(key, level) {
                    self.fill(&select, level, &[]);
                }
            }
            self.set_answer(key, None);
            if !v.is_empty() {
                self.load_region(key, next, v);
            }
        }

        fn region_list(&self, key: &str, level: &str) -> Option<Element> {
            find(
                &self.root,
                &format!("[data-testid=\"region-{key}-{level}\"]"),
            )
        }

        fn load_region(self: &Rc<Self>, key: &str, level: &'static str, parent: String) {
            let page = self.clone();
            let key = key.to_owned();
            leptos::task::spawn_local(async move {
                let children = region_children(parent).await.unwrap_or_default();
                if let Some(select) = page.region_list(&key, level) {
                    page.fill(&select, level, &children);
                }
            });
        }

        /// What a region list is called: province, city or district.
        fn level_name(&self, level: &str) -> &'static str {
            let t = self.t();
            match level {
                "province" => t.province,
                "city" => t.city,
                _ => t.district,
            }
        }

        /// A region list's options: its name as the prompt, then (code,
        /// name) pairs.
        fn fill(&self, select: &Element, level: &str, options: &[(String, String)]) {
            select.set_text_content(None);
            let first = std::iter::once(("", self.level_name(level)));
            for (code, name) in first.chain(options.iter().map(|(c, n)| (c.as_str(), n.as_str()))) {
                if let Ok(option) = self.doc.create_element("option") {
                    let _ = option.set_attribute("value", code);
                    option.set_text_content(Some(name));
                    let _ = select.append_child(&option);
                }
            }
        }

        /// Uploads the files chosen (each checked by the server); the
        /// answer is their ids, the list shows their names.
        fn upload(self: &Rc<Self>, key: String, el: &Element, max_files: usize) {
            let Some(list) = el
                .dyn_ref::<HtmlInputElement>()
                .and_then(HtmlInputElement::files)
            else {
                return;
            };
            let chosen: Vec<web_sys::File> = (0..list.length())
                .filter_map(|i| list.get(i))
                .take(max_files)
                .collect();
            let Some(w) = self.wrapper(&key) else {
                return;
            };
            let Some(status) = self.upload_status(&w) else {
                return;
            };
            let t = self.t();
            status.set_class_name("help");
            let _ = status.set_attribute("role", "status");
            status.set_text_content(Some(t.uploading));
            set_flag(&status, "hidden", false);
            let page = self.clone();
            leptos::task::spawn_local(async move {
                let mut done = Vec::new();
                let mut failed = false;
                for file in chosen {
                    match upload_one(&page.spec.slug, &key, &file).await {
                        Some(id) => done.push((id, file.name())),
                        None => failed = true,
                    }
                }
                if let Some(names) = find(&w, &format!("[data-testid=\"uploaded-{key}\"]")) {
                    names.set_text_content(None);
                    for (_, name) in &done {
                        if let Ok(li) = page.doc.create_element("li") {
                            li.set_text_content(Some(name));
                            let _ = names.append_child(&li);
                        }
                    }
                }
                if failed {
                    status.set_class_name("field-error");
                    let _ = status.set_attribute("role", "alert");
                    status.set_text_content(Some(page.t().upload_failed));
                } else {
                    set_flag(&status, "hidden", true);
                }
                let ids = done.into_iter().map(|(id, _)| Value::String(id)).collect();
                page.set_answer(&key, Some(Value::Array(ids)));
                page.refresh();
            });
        }

        /// The line under an upload field that says how its files fare.
        fn upload_status(&self, w: &Element) -> Option<Element> {
            if let Some(status) = find(w, "[data-upload-status]") {
                return Some(status);
            }
            let status = self.doc.create_element("p").ok()?;
            let _ = status.set_attribute("data-upload-status", "");
            let _ = find(w, ".upload")?.append_child(&status);
            Some(status)
        }
    }

    /// A field's answer as its controls in the page hold it (None: none yet).
    fn read_answer(field: &Field, w: &Element) -> Option<Value> {
        let key = &field.key;
        let named = |name: &str| find(w, &format!("[name=\"{name}\"]"));
        let text = || named(key).map(|el| Value::String(value_of(&el)));
        let checked = || find(w, &format!("[name=\"{key}\"]:checked")).map(|el| value_of(&el));
        let number = |name: &str| {
            named(name)
                .map(|el| value_of(&el).trim().parse::<u32>().unwrap_or(0))
                .unwrap_or(0)
        };
        match &field.kind {
            FieldKind::SingleChoice { .. } => checked().map(Value::String),
            FieldKind::MultiChoice { .. } => Some(Value::Array(
                find_all(w, &format!("[name=\"{key}\"]:checked"))
                    .iter()
                    .map(|el| Value::String(value_of(el)))
                    .collect(),
            )),
            FieldKind::Consent { .. } => named(key).map(|el| Value::Bool(is_checked(&el))),
            FieldKind::Payment(PaymentMode::Items { items }) => Some(Value::Object(
                items
                    .iter()
                    .map(|i| {
                        (
                            i.key.clone(),
                            Value::from(number(&format!("{key}__{}", i.key))),
                        )
                    })
                    .collect(),
            )),
            FieldKind::Payment(PaymentMode::PricedOptions { max_quantity, .. }) => {
                let option = checked()?;
                Some(if *max_quantity > 1 {
                    serde_json::json!({"option": option, "quantity": number(&format!("{key}__quantity"))})
                } else {
                    Value::String(option)
                })
            }
            FieldKind::Payment(PaymentMode::Fixed { .. })
            | FieldKind::Section
            | FieldKind::Hidden
            | FieldKind::Upload { .. }
            | FieldKind::Region => None,
            _ => text(),
        }
    }

    /// Uploads one file; its id, or None when the server refused it.
    async fn upload_one(slug: &str, key: &str, file: &web_sys::File) -> Option<String> {
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

    fn find(root: &impl AsRef<web_sys::Node>, selector: &str) -> Option<Element> {
        let node: &web_sys::Node = root.as_ref();
        if let Some(el) = node.dyn_ref::<Element>() {
            el.query_selector(selector).ok().flatten()
        } else if let Some(doc) = node.dyn_ref::<Document>() {
            doc.query_selector(selector).ok().flatten()
        } else {
            None
        }
    }

    fn find_all(root: &Element, selector: &str) -> Vec<Element> {
        let Ok(list) = root.query_selector_all(selector) else {
            return Vec::new();
        };
        (0..list.length())
            .filter_map(|i| list.item(i))
            .filter_map(|n| n.dyn_into::<Element>().ok())
            .collect()
    }

    /// A boolean attribute, set or removed.
    fn set_flag(el: &Element, name: &str, on: bool) {
        let _ = if on {
            el.set_attribute(name, "")
        } else {
            el.remove_attribute(name)
        };
    }

    /// The `value` of an input, a list or a text area.
    fn value_of(el: &Element) -> String {
        js_sys::Reflect::get(el, &JsValue::from_str("value"))
            .ok()
            .and_then(|v| v.as_string())
            .unwrap_or_default()
    }

    fn is_checked(el: &Element) -> bool {
        js_sys::Reflect::get(el, &JsValue::from_str("checked"))
            .ok()
            .and_then(|v| v.as_bool())
            .unwrap_or(false)
    }

    fn listen(target: &Element, event: &str, f: impl Fn(Event) + 'static) {
        let f = Closure::<dyn Fn(Event)>::new(f);
        let _ = target.add_event_listener_with_callback(event, f.as_ref().unchecked_ref());
        // The form lives as long as the page.
        f.forget();
    }
}
