use crate::i18n::use_lang;
use leptos::prelude::*;

#[component]
pub fn HomePage() -> impl IntoView {
    let lang = use_lang();
    let t = move || lang.get().t();
    view! {
        <section class="hero">
            <h1 data-testid="home-title">{move || t().home_title}</h1>
            <p class="lead">{move || t().home_lead}</p>
            <ul class="features">
                <li>{move || t().home_feature_forms}</li>
                <li>{move || t().home_feature_pay}</li>
                <li>{move || t().home_feature_live}</li>
                <li>{move || t().home_feature_admin}</li>
            </ul>
            <a class="button primary" href="/f/demo">
                {move || t().home_try_demo}
            </a>
        </section>
    }
}
