#![recursion_limit = "256"]
//! The browser entry point: it only hydrates the server-rendered page.

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
    // Tells browser tests (and curious developers) that the page is live.
    if let Some(window) = web_sys::window() {
        let _ = js_sys::Reflect::set(&window, &"__formpay_hydrated".into(), &true.into());
    }
}
