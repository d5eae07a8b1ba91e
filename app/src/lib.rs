#![recursion_limit = "256"]
//! The shared crate: domain types, pages with their server functions, and the
//! interface text. Built for the server (`ssr`) and for the browser (`hydrate`).

/// The domain types (their own crate, shared with the browser).
pub use domain;
pub mod errors;
pub mod i18n;
pub mod pages;
#[cfg(feature = "ssr")]
pub mod ssr;

use i18n::{initial_lang, store_lang, use_lang, Lang};
use leptos::prelude::*;
use leptos_meta::{provide_meta_context, Html, Link, MetaTags, Title};
use leptos_router::components::{Route, Router, Routes, A};
use leptos_router::{path, SsrMode};

/// The name of the built browser bundle under `/pkg`: the payers' form page
/// (and the home page).
pub const BUNDLE_NAME: &str = "formpay";
/// The payers' bundle of the payment and receipt pages.
pub const PAY_BUNDLE_NAME: &str = "formpay_pay";
/// The administrators' bundle (every page), loaded by pages under `/admin`.
pub const ADMIN_BUNDLE_NAME: &str = "formpay_admin";

/// Every page's style sheet (`style/main.css`), written into the page's head.
const STYLE: &str = include_str!("../../style/main.css");

/// The HTML document around the application, rendered on the server. Pages
/// under `/admin` load the administrators' bundle; the others one of the
/// payers' bundles, which leave the admin pages out and are much smaller:
/// the form page's islands in one, the payment and receipt pages' in the
/// other (a payer on a phone downloads only what the page runs).
pub fn shell(options: LeptosOptions) -> impl IntoView {
    let admin = !islands_only();
    let options = {
        let mut options = options;
        if admin {
            options.output_name = ADMIN_BUNDLE_NAME.into();
        } else if pays() {
            options.output_name = PAY_BUNDLE_NAME.into();
        }
        options
    };
    view! {
        <!DOCTYPE html>
        // `lang` comes from `App` (`<Html attr:lang>`), in the language rendered.
        <html>
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                // The payers' pages hydrate only their islands (the form, the
                // payment panel, the language switch): a bundle without the
                // router or the page shell, and less work on a slow phone.
                // The admin pages hydrate in full. First in the head: the
                // bundle's download starts with the page's first bytes.
                <HydrationScripts options islands=!admin />
                // The style sheet is in the page: on a phone network every
                // request before the first paint is a round trip of half a
                // second (issue 14).
                <style nonce=leptos::nonce::use_nonce() inner_html=STYLE></style>
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    let lang = RwSignal::new(initial_lang());
    provide_context(lang);
    let t = move || lang.get().t();
    // The server writes the language it rendered in; a switch in the
    // browser updates the attribute itself. (A reactive attribute here was
    // read by the streamed response after its owner was gone: a panic that
    // cut the page short.)
    let code = lang.get_untracked().code();
    Effect::new(move |_| {
        let code = lang.get().code();
        #[cfg(feature = "hydrate")]
        if let Some(root) = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.document_element())
        {
            let _ = root.set_attribute("lang", code);
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = code;
    });

    view! {
        <Html attr:lang=code />
        <Link rel="icon" href="/favicon.svg" type_="image/svg+xml" />
        <Title text=move || t().app_name />
        <Router>
            <header class="topbar">
                <A href="/" attr:class="brand">
                    {move || t().app_name}
                </A>
                <nav>
                    // A full page load: the admin pages come with their own bundle.
                    <a href="/admin" rel="external">{move || t().admin}</a>
                    <PageLangSwitch />
                </nav>
            </header>
            <main class="page">
                <AppRoutes />
            </main>
            <footer class="footer">{move || t().footer}</footer>
        </Router>
    }
}

/// Every page: the server renders them all, the admin bundle hydrates them all.
#[cfg(any(feature = "ssr", feature = "admin-pages"))]
#[component]
fn AppRoutes() -> impl IntoView {
    view! {
        <Routes fallback=|| view! { <NotFound /> }>
            <Route path=path!("") view=pages::home::HomePage />
            <Route path=path!("/admin/login") view=pages::admin::LoginPage />
            <Route path=path!("/admin") view=pages::admin::DashboardPage ssr=SsrMode::Async />
            <Route path=path!("/admin/forms") view=pages::admin_forms::FormsPage ssr=SsrMode::Async />
            <Route path=path!("/admin/forms/:id") view=pages::admin_forms::FormEditorPage ssr=SsrMode::Async />
            <Route path=path!("/admin/forms/:id/submissions") view=pages::admin_submissions::SubmissionsPage ssr=SsrMode::Async />
            <Route path=path!("/admin/forms/:id/webhooks") view=pages::admin_webhooks::WebhooksPage ssr=SsrMode::Async />
            <Route path=path!("/admin/forms/:id/codes") view=pages::admin_discounts::DiscountsPage ssr=SsrMode::Async />
            <Route path=path!("/admin/forms/:id/insights") view=pages::admin_insights::InsightsPage ssr=SsrMode::Async />
            <Route path=path!("/admin/orders") view=pages::admin_orders::OrdersPage ssr=SsrMode::Async />
            <Route path=path!("/admin/orders/:id") view=pages::admin_order::OrderPage ssr=SsrMode::Async />
            <Route path=path!("/admin/accounts") view=pages::admin_accounts::AccountsPage ssr=SsrMode::Async />
            <Route path=path!("/admin/stats") view=pages::admin_stats::StatsPage ssr=SsrMode::Async />
            <Route path=path!("/admin/audit") view=pages::admin_stats::AuditPage ssr=SsrMode::Async />
            <Route path=path!("/admin/people") view=pages::admin_people::PeoplePage ssr=SsrMode::Async />
            <Route path=path!("/admin/blocklist") view=pages::admin_blocklist::BlocklistPage ssr=SsrMode::Async />
            <Route path=path!("/admin/bills") view=pages::admin_bills::BillsPage ssr=SsrMode::Async />
            <Route path=path!("/admin/shares") view=pages::admin_shares::SharesPage ssr=SsrMode::Async />
            <Route path=path!("/admin/me") view=pages::admin_me::MePage ssr=SsrMode::Async />
            <Route path=path!("/admin/invite/:token") view=pages::admin_people::JoinPage ssr=SsrMode::Async />
            <Route path=path!("/f/:slug") view=pages::form_page::FormPage ssr=SsrMode::Async />
            <Route path=path!("/pay/:id") view=pages::pay_page::PayPage ssr=SsrMode::Async />
            <Route path=path!("/r/:token") view=pages::receipt_page::ReceiptPage ssr=SsrMode::Async />
        </Routes>
    }
}

/// The payers' bundle: the same routes without the administrators' pages (an
/// `/admin` link is a full page load, served with the admin bundle).
#[cfg(not(any(feature = "ssr", feature = "admin-pages")))]
#[component]
fn AppRoutes() -> impl IntoView {
    view! {
        <Routes fallback=|| view! { <NotFound /> }>
            <Route path=path!("") view=pages::home::HomePage />
            <Route path=path!("/f/:slug") view=pages::form_page::FormPage ssr=SsrMode::Async />
            <Route path=path!("/pay/:id") view=pages::pay_page::PayPage ssr=SsrMode::Async />
            <Route path=path!("/r/:token") view=pages::receipt_page::ReceiptPage ssr=SsrMode::Async />
        </Routes>
    }
}

/// Whether the page being rendered hydrates only its islands (the payers'
/// pages, with a payers' bundle) rather than in full (the pages under
/// `/admin`, with the admin bundle, whose router may then show any page).
fn islands_only() -> bool {
    cfg!(feature = "ssr") && !path_is(|p| p.starts_with("/admin"))
}

/// Whether the page being rendered is a payment or a receipt page (the
/// payers' bundle with their islands).
fn pays() -> bool {
    path_is(|p| p.starts_with("/pay/") || p.starts_with("/r/"))
}

/// Whether the path of the page being rendered passes `test` (known on the
/// server only).
fn path_is(test: impl Fn(&str) -> bool) -> bool {
    #[cfg(feature = "ssr")]
    {
        use_context::<http::request::Parts>().is_some_and(|p| test(p.uri.path()))
    }
    #[cfg(not(feature = "ssr"))]
    {
        let _ = test;
        false
    }
}

/// The language switch of the page: an island on the payers' pages. (An
/// island inside a fully hydrated page leaves the hydration cursor inside
/// it, which breaks on the markers after it: the admin pages get the plain
/// component.)
#[component]
fn PageLangSwitch() -> impl IntoView {
    if islands_only() {
        view! { <LangSwitchIsland /> }.into_any()
    } else {
        view! { <LangSwitch /> }.into_any()
    }
}

/// Switches between Chinese and English in place, and remembers the choice.
#[component]
fn LangSwitch() -> impl IntoView {
    let lang = use_lang();
    lang_button(lang, move |next| lang.set(next))
}

/// Switches between Chinese and English by loading the page again (its text
/// was written by the server; only islands are hydrated), and remembers the
/// choice.
#[island]
fn LangSwitchIsland() -> impl IntoView {
    lang_button(use_lang(), |_| i18n::reload())
}

fn lang_button(lang: RwSignal<Lang>, then: impl Fn(Lang) + 'static) -> impl IntoView {
    view! {
        <button
            class="lang-switch"
            data-testid="lang-switch"
            on:click=move |_| {
                let next = lang.get_untracked().other();
                store_lang(next);
                then(next);
            }
        >
            {move || lang.get().t().switch_to_other}
        </button>
    }
}

#[component]
fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(resp) = use_context::<leptos_axum::ResponseOptions>() {
        resp.set_status(http::StatusCode::NOT_FOUND);
    }
    let lang = use_lang();
    view! { <h1>{move || lang.get().t().not_found}</h1> }
}
