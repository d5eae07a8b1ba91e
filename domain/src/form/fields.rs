//! Field definitions: the kinds of field an administrator can put on a form,
//! their limits, and the checks a definition passes before it is saved.

use crate::Money;
use serde::{Deserialize, Serialize};

/// Limits that keep one submission small.
pub const MAX_FIELDS: usize = 50;
pub const MAX_SHORT_TEXT: usize = 200;
pub const MAX_LONG_TEXT: usize = 5000;
pub const MAX_OPTIONS: usize = 50;
pub const MAX_LABEL: usize = 200;
pub const MAX_QUANTITY: u32 = 99;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChoiceOption {
    pub key: String,
    pub label: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PricedOption {
    pub key: String,
    pub label: String,
    pub price: Money,
}

/// One item of a multi-item payment: a price, how many one order may take,
/// and optionally how many there are (库存).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PricedItem {
    pub key: String,
    pub label: String,
    pub price: Money,
    /// The fewest one order takes (0: optional).
    #[serde(default)]
    pub min: u32,
    /// The most one order takes.
    pub max: u32,
    /// How many there are in all; held by pending orders, released when they
    /// expire or close. None: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stock: Option<u32>,
}

/// The largest stock an item can have.
pub const MAX_STOCK: u32 = 1_000_000;

/// How the amount to pay is decided.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum PaymentMode {
    Fixed {
        amount: Money,
    },
    /// The payer picks one option; with `max_quantity > 1` also a quantity.
    PricedOptions {
        options: Vec<PricedOption>,
        max_quantity: u32,
    },
    /// The payer types the amount, within the bounds.
    PayerAmount {
        min: Money,
        max: Money,
    },
    /// Several priced items, each with a quantity (adult ¥80 × 2 + child
    /// ¥40 × 1); the total is their sum.
    Items {
        items: Vec<PricedItem>,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FieldKind {
    ShortText,
    LongText,
    Number {
        min: Option<i64>,
        max: Option<i64>,
    },
    /// Mainland China mobile number.
    Phone,
    Email,
    SingleChoice {
        options: Vec<ChoiceOption>,
    },
    MultiChoice {
        options: Vec<ChoiceOption>,
    },
    /// `YYYY-MM-DD`.
    Date,
    Payment(PaymentMode),
    /// One option from a list shown as a drop-down.
    Dropdown {
        options: Vec<ChoiceOption>,
    },
    /// `HH:MM`.
    Time,
    /// Beijing local time `YYYY-MM-DDTHH:MM`.
    DateTime,
    /// A mainland resident identity card number (GB 11643: 18 characters,
    /// birth date and check digit verified); masked in lists.
    IdCard,
    /// Province / city / district, from the bundled division codes; the
    /// answer is a district code, stored as its names.
    Region,
    /// A box the payer must tick to agree to a statement (the label), with an
    /// optional link to the full text.
    Consent {
        #[serde(default)]
        link: String,
    },
    /// A heading with a description (the help text): nothing to answer.
    Section,
    /// Not shown; filled from the link's query string (`?source=poster`).
    Hidden,
    /// Files the payer uploads before submitting (the answer is their ids),
    /// checked by their content, not their name.
    Upload {
        #[serde(default = "one_file")]
        max_files: u32,
        #[serde(default = "five_mb")]
        max_mb: u32,
        #[serde(default)]
        accept: UploadAccept,
    },
}

fn one_file() -> u32 {
    1
}

fn five_mb() -> u32 {
    5
}

/// The most files one upload field takes, and the largest file.
pub const MAX_UPLOAD_FILES: u32 = 10;
pub const MAX_UPLOAD_MB: u32 = 20;

/// What an upload field takes, by content.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UploadAccept {
    /// JPEG, PNG, GIF or WebP.
    #[default]
    Images,
    /// PDF.
    Pdf,
    ImagesAndPdf,
}

impl UploadAccept {
    /// Whether a file of this (sniffed) content type is taken.
    pub fn allows(self, content_type: &str) -> bool {
        let image = content_type.starts_with("image/");
        let pdf = content_type == "application/pdf";
        match self {
            UploadAccept::Images => image,
            UploadAccept::Pdf => pdf,
            UploadAccept::ImagesAndPdf => image || pdf,
        }
    }

    /// The `accept` attribute of the page's file input.
    pub fn input_accept(self) -> &'static str {
        match self {
            UploadAccept::Images => "image/jpeg,image/png,image/gif,image/webp",
            UploadAccept::Pdf => "application/pdf",
            UploadAccept::ImagesAndPdf => {
                "image/jpeg,image/png,image/gif,image/webp,application/pdf"
            }
        }
    }
}

/// The content type of a file by its first bytes (JPEG, PNG, GIF, WebP,
/// PDF), whatever its name says; None for anything else.
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    match bytes {
        [0xFF, 0xD8, 0xFF, ..] => Some("image/jpeg"),
        [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, ..] => Some("image/png"),
        [b'G', b'I', b'F', b'8', b'7' | b'9', b'a', ..] => Some("image/gif"),
        [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => Some("image/webp"),
        [b'%', b'P', b'D', b'F', b'-', ..] => Some("application/pdf"),
        _ => None,
    }
}

impl FieldKind {
    pub fn type_name(&self) -> &'static str {
        match self {
            FieldKind::ShortText => "short_text",
            FieldKind::LongText => "long_text",
            FieldKind::Number { .. } => "number",
            FieldKind::Phone => "phone",
            FieldKind::Email => "email",
            FieldKind::SingleChoice { .. } => "single_choice",
            FieldKind::MultiChoice { .. } => "multi_choice",
            FieldKind::Date => "date",
            FieldKind::Payment(_) => "payment",
            FieldKind::Dropdown { .. } => "dropdown",
            FieldKind::Time => "time",
            FieldKind::DateTime => "date_time",
            FieldKind::IdCard => "id_card",
            FieldKind::Region => "region",
            FieldKind::Consent { .. } => "consent",
            FieldKind::Section => "section",
            FieldKind::Hidden => "hidden",
            FieldKind::Upload { .. } => "upload",
        }
    }

    /// Whether the payer answers it (a section heading is only shown).
    pub fn is_answered(&self) -> bool {
        !matches!(self, FieldKind::Section)
    }
}

/// The longest link a consent field may carry.
pub const MAX_LINK: usize = 500;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Field {
    /// Stable key used in answers, exports and the API.
    pub key: String,
    pub label: String,
    #[serde(default)]
    pub help: String,
    #[serde(default)]
    pub required: bool,
    #[serde(flatten)]
    pub kind: FieldKind,
    /// Shown or required only when earlier answers match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logic: Option<super::Logic>,
}

/// Why a form definition cannot be saved.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FormDefError {
    #[error("a form has at most {MAX_FIELDS} fields")]
    TooManyFields,
    #[error("field keys must be 1–40 lowercase letters, digits or underscores: {0}")]
    BadKey(String),
    #[error("two fields share the key {0}")]
    DuplicateKey(String),
    #[error("every field needs a label of at most {MAX_LABEL} characters: {0}")]
    BadLabel(String),
    #[error("a form has at most one payment field")]
    TwoPaymentFields,
    #[error("the field {0} needs 1–{MAX_OPTIONS} options with distinct keys and labels")]
    BadOptions(String),
    #[error("the payment field {0} has an amount of zero or bounds in the wrong order")]
    BadAmount(String),
    #[error("the number field {0} has its minimum above its maximum")]
    BadRange(String),
    #[error(
        "the payment field {0} must be required: a payable form cannot be submitted without paying"
    )]
    OptionalPayment(String),
    #[error("the field {0} cannot be required: a payer never sees it as a question")]
    RequiredUnanswerable(String),
    #[error("the upload field {0} takes 1–{MAX_UPLOAD_FILES} files of 1–{MAX_UPLOAD_MB} MB")]
    BadUpload(String),
    #[error("the rule of {0} must test 1–10 earlier answered fields with existing values (and a payment field has none)")]
    BadLogic(String),
    #[error("the consent field {0} links to an https:// address or a path of this site, of at most {MAX_LINK} characters")]
    BadLink(String),
}

fn valid_key(k: &str) -> bool {
    (1..=40).contains(&k.len())
        && k.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn check_options<'a>(
    key: &str,
    items: impl Iterator<Item = (&'a str, &'a str)>,
) -> Result<(), FormDefError> {
    let mut keys = std::collections::BTreeSet::new();
    let mut n = 0;
    for (k, label) in items {
        n += 1;
        if !valid_key(k)
            || label.trim().is_empty()
            || label.chars().count() > MAX_LABEL
            || !keys.insert(k.to_owned())
        {
            return Err(FormDefError::BadOptions(key.to_owned()));
        }
    }
    if n == 0 || n > MAX_OPTIONS {
        return Err(FormDefError::BadOptions(key.to_owned()));
    }
    Ok(())
}

/// Checks the fields an administrator saves.
pub fn validate_fields(fields: &[Field]) -> Result<(), FormDefError> {
    if fields.len() > MAX_FIELDS {
        return Err(FormDefError::TooManyFields);
    }
    let mut keys = std::collections::BTreeSet::new();
    let mut payments = 0;
    for (i, f) in fields.iter().enumerate() {
        super::logic::check_logic(fields, i)?;
        if !valid_key(&f.key) {
            return Err(FormDefError::BadKey(f.key.clone()));
        }
        if !keys.insert(f.key.clone()) {
            return Err(FormDefError::DuplicateKey(f.key.clone()));
        }
        if f.label.trim().is_empty()
            || f.label.chars().count() > MAX_LABEL
            || f.help.chars().count() > 1000
        {
            return Err(FormDefError::BadLabel(f.key.clone()));
        }
        match &f.kind {
            FieldKind::Section | FieldKind::Hidden if f.required => {
                return Err(FormDefError::RequiredUnanswerable(f.key.clone()))
            }
            FieldKind::Consent { link }
                if !link.is_empty()
                    && (link.chars().count() > MAX_LINK
                        || link.chars().any(|c| c.is_whitespace() || c.is_control())
                        || !(link.starts_with("https://")
                            || (link.starts_with('/') && !link.starts_with("//")))) =>
            {
                return Err(FormDefError::BadLink(f.key.clone()))
            }
            FieldKind::Upload {
                max_files, max_mb, ..
            } if !(1..=MAX_UPLOAD_FILES).contains(max_files)
                || !(1..=MAX_UPLOAD_MB).contains(max_mb) =>
            {
                return Err(FormDefError::BadUpload(f.key.clone()))
            }
            FieldKind::SingleChoice { options }
            | FieldKind::MultiChoice { options }
            | FieldKind::Dropdown { options } => check_options(
                &f.key,
                options.iter().map(|o| (o.key.as_str(), o.label.as_str())),
            )?,
            FieldKind::Number {
                min: Some(a),
                max: Some(b),
            } if a > b => return Err(FormDefError::BadRange(f.key.clone())),
            FieldKind::Payment(mode) => {
                payments += 1;
                if payments > 1 {
                    return Err(FormDefError::TwoPaymentFields);
                }
                match mode {
                    PaymentMode::Fixed { amount } if amount.fen() == 0 => {
                        return Err(FormDefError::BadAmount(f.key.clone()))
                    }
                    PaymentMode::PayerAmount { min, max } if min.fen() == 0 || min > max => {
                        return Err(FormDefError::BadAmount(f.key.clone()))
                    }
                    PaymentMode::PricedOptions {
                        options,
                        max_quantity,
                    } => {
                        check_options(
                            &f.key,
                            options.iter().map(|o| (o.key.as_str(), o.label.as_str())),
                        )?;
                        if options.iter().any(|o| o.price.fen() == 0)
                            || *max_quantity == 0
                            || *max_quantity > MAX_QUANTITY
                        {
                            return Err(FormDefError::BadAmount(f.key.clone()));
                        }
                    }
                    PaymentMode::Items { items } => {
                        check_options(
                            &f.key,
                            items.iter().map(|o| (o.key.as_str(), o.label.as_str())),
                        )?;
                        if items.iter().any(|i| {
                            i.price.fen() == 0
                                || i.max == 0
                                || i.max > MAX_QUANTITY
                                || i.min > i.max
                                || i.stock.is_some_and(|s| s > MAX_STOCK)
                        }) {
                            return Err(FormDefError::BadAmount(f.key.clone()));
                        }
                    }
                    _ => {}
                }
                if !f.required {
                    return Err(FormDefError::OptionalPayment(f.key.clone()));
                }
            }
            _ => {}
        }
    }
    Ok(())
}
