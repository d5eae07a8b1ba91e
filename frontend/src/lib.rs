#![recursion_limit = "256"]
//! The browser entry point: it only hydrates the server-rendered page. The
//! administrators' bundle hydrates the whole page; the payers' bundle only
//! the page's islands (the form, the payment panel, the language switch),
//! which Leptos's loader hydrates right after this function returns.

// The islands' hydrate functions are exported by the `app` crate: it must be
// linked in even where nothing here names it.
#[cfg(not(feature = "admin"))]
use app as _;

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    #[cfg(feature = "admin")]
    leptos::mount::hydrate_body(app::App);
    #[cfg(not(feature = "admin"))]
    leptos::mount::hydrate_islands();
    // Tells browser tests (and curious developers) that the page is live: on
    // the next task, after the loader has hydrated the islands (it does so
    // without yielding to the event loop).
    leptos::prelude::set_timeout(mark_hydrated, std::time::Duration::ZERO);
}

fn mark_hydrated() {
    if let Some(window) = web_sys::window() {
        let _ = js_sys::Reflect::set(&window, &"__formpay_hydrated".into(), &true.into());
    }
}
