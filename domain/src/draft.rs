//! The form builder edits fields as flat drafts of text inputs; these turn
//! them into checked [`Field`]s and back. Shared by the browser and the server.

use super::form::{
    ChoiceOption, Combine, Condition, Field, FieldKind, Logic, LogicAction, PaymentMode,
    PricedItem, PricedOption, Test, UploadAccept,
};
use super::Money;
use serde::{Deserialize, Serialize};

/// The type of field the builder edits: one per [`FieldKind`] variant, so a
/// new kind of field does not compile until the builder knows it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    #[default]
    ShortText,
    LongText,
    Number,
    Phone,
    Email,
    SingleChoice,
    MultiChoice,
    Date,
    Payment,
    Dropdown,
    Time,
    DateTime,
    IdCard,
    Region,
    Consent,
    Section,
    Hidden,
    Upload,
}

impl FieldType {
    pub const ALL: [FieldType; 18] = [
        FieldType::ShortText,
        FieldType::LongText,
        FieldType::Number,
        FieldType::Phone,
        FieldType::Email,
        FieldType::SingleChoice,
        FieldType::MultiChoice,
        FieldType::Date,
        FieldType::Payment,
        FieldType::Dropdown,
        FieldType::Time,
        FieldType::DateTime,
        FieldType::IdCard,
        FieldType::Region,
        FieldType::Consent,
        FieldType::Section,
        FieldType::Hidden,
        FieldType::Upload,
    ];

    /// The type of a field kind.
    pub fn of(kind: &FieldKind) -> FieldType {
        match kind {
            FieldKind::ShortText => FieldType::ShortText,
            FieldKind::LongText => FieldType::LongText,
            FieldKind::Number { .. } => FieldType::Number,
            FieldKind::Phone => FieldType::Phone,
            FieldKind::Email => FieldType::Email,
            FieldKind::SingleChoice { .. } => FieldType::SingleChoice,
            FieldKind::MultiChoice { .. } => FieldType::MultiChoice,
            FieldKind::Date => FieldType::Date,
            FieldKind::Payment(_) => FieldType::Payment,
            FieldKind::Dropdown { .. } => FieldType::Dropdown,
            FieldKind::Time => FieldType::Time,
            FieldKind::DateTime => FieldType::DateTime,
            FieldKind::IdCard => FieldType::IdCard,
            FieldKind::Region => FieldType::Region,
            FieldKind::Consent { .. } => FieldType::Consent,
            FieldKind::Section => FieldType::Section,
            FieldKind::Hidden => FieldType::Hidden,
            FieldKind::Upload { .. } => FieldType::Upload,
        }
    }

    /// The wire name, the same as [`FieldKind::type_name`].
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::ShortText => "short_text",
            FieldType::LongText => "long_text",
            FieldType::Number => "number",
            FieldType::Phone => "phone",
            FieldType::Email => "email",
            FieldType::SingleChoice => "single_choice",
            FieldType::MultiChoice => "multi_choice",
            FieldType::Date => "date",
            FieldType::Payment => "payment",
            FieldType::Dropdown => "dropdown",
            FieldType::Time => "time",
            FieldType::DateTime => "date_time",
            FieldType::IdCard => "id_card",
            FieldType::Region => "region",
            FieldType::Consent => "consent",
            FieldType::Section => "section",
            FieldType::Hidden => "hidden",
            FieldType::Upload => "upload",
        }
    }

    pub fn parse(s: &str) -> Option<FieldType> {
        FieldType::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// What the builder calls it: (Chinese, English).
    pub fn label(self) -> (&'static str, &'static str) {
        match self {
            FieldType::ShortText => ("单行文本", "Short text"),
            FieldType::LongText => ("多行文本", "Long text"),
            FieldType::Number => ("数字", "Number"),
            FieldType::Phone => ("手机号", "Mobile number"),
            FieldType::Email => ("邮箱", "Email"),
            FieldType::SingleChoice => ("单选", "Single choice"),
            FieldType::MultiChoice => ("多选", "Multiple choice"),
            FieldType::Date => ("日期", "Date"),
            FieldType::Payment => ("付款", "Payment"),
            FieldType::Dropdown => ("下拉选择", "Drop-down"),
            FieldType::Time => ("时间", "Time"),
            FieldType::DateTime => ("日期时间", "Date and time"),
            FieldType::IdCard => ("身份证号", "ID card number"),
            FieldType::Region => ("省市区", "Region"),
            FieldType::Consent => ("同意勾选", "Consent"),
            FieldType::Section => ("分节标题", "Section heading"),
            FieldType::Hidden => ("隐藏字段（链接参数）", "Hidden (from the link)"),
            FieldType::Upload => ("上传文件或图片", "File or image upload"),
        }
    }

    /// Whether the builder asks for options (one per line).
    pub fn has_options(self) -> bool {
        matches!(
            self,
            FieldType::SingleChoice | FieldType::MultiChoice | FieldType::Dropdown
        )
    }

    /// Whether the payer answers it; a heading and a hidden field cannot be
    /// required.
    pub fn can_be_required(self) -> bool {
        !matches!(self, FieldType::Section | FieldType::Hidden)
    }
}

/// How a payment field's amount is decided, as the builder edits it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentModeType {
    Fixed,
    PricedOptions,
    #[default]
    PayerAmount,
    Items,
}

impl PaymentModeType {
    pub const ALL: [PaymentModeType; 4] = [
        PaymentModeType::Fixed,
        PaymentModeType::PricedOptions,
        PaymentModeType::PayerAmount,
        PaymentModeType::Items,
    ];

    pub fn of(mode: &PaymentMode) -> PaymentModeType {
        match mode {
            PaymentMode::Fixed { .. } => PaymentModeType::Fixed,
            PaymentMode::PricedOptions { .. } => PaymentModeType::PricedOptions,
            PaymentMode::PayerAmount { .. } => PaymentModeType::PayerAmount,
            PaymentMode::Items { .. } => PaymentModeType::Items,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PaymentModeType::Fixed => "fixed",
            PaymentModeType::PricedOptions => "priced_options",
            PaymentModeType::PayerAmount => "payer_amount",
            PaymentModeType::Items => "items",
        }
    }

    pub fn parse(s: &str) -> Option<PaymentModeType> {
        PaymentModeType::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// What the builder calls it: (Chinese, English).
    pub fn label(self) -> (&'static str, &'static str) {
        match self {
            PaymentModeType::Fixed => ("固定金额", "Fixed amount"),
            PaymentModeType::PricedOptions => ("按选项计价", "Priced options"),
            PaymentModeType::PayerAmount => ("付款人填写金额", "Payer enters the amount"),
            PaymentModeType::Items => (
                "多个商品（数量、库存）",
                "Several items (quantities, stock)",
            ),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FieldDraft {
    pub key: String,
    pub label: String,
    pub help: String,
    pub required: bool,
    pub kind: FieldType,
    /// One option per line; for priced options `label = 12.50`.
    pub options: String,
    pub min: String,
    pub max: String,
    pub payment_mode: PaymentModeType,
    pub amount: String,
    pub max_quantity: String,
    /// A consent field's link to its full text.
    #[serde(default)]
    pub link: String,
    /// The field's rule: `show`, `require`, or empty for none.
    #[serde(default)]
    pub logic_action: String,
    /// The conditions combine with "any" instead of "all".
    #[serde(default)]
    pub logic_any: bool,
    /// One condition per line: `field = value`, `field = a | b`, `field filled`
    /// (a choice's value by its label or key).
    #[serde(default)]
    pub logic_rules: String,
}

/// The fields of a form's drafts, each condition's choice labels turned into
/// option keys.
pub fn fields_from_drafts(drafts: &[FieldDraft]) -> Result<Vec<Field>, String> {
    let mut fields: Vec<Field> = drafts
        .iter()
        .map(FieldDraft::to_field)
        .collect::<Result<_, _>>()?;
    let options: Vec<(String, Vec<ChoiceOption>)> = fields
        .iter()
        .filter_map(|f| match &f.kind {
            FieldKind::SingleChoice { options }
            | FieldKind::MultiChoice { options }
            | FieldKind::Dropdown { options } => Some((f.key.clone(), options.clone())),
            _ => None,
        })
        .collect();
    let to_key = |field: &str, v: &mut String| {
        if let Some((_, opts)) = options.iter().find(|(k, _)| k == field) {
            if let Some(o) = opts.iter().find(|o| o.label == *v) {
                *v = o.key.clone();
            }
        }
    };
    for f in &mut fields {
        for c in f.logic.iter_mut().flat_map(|l| l.conditions.iter_mut()) {
            match &mut c.test {
                Test::Equals { value } => to_key(&c.field, value),
                Test::OneOf { values } => values.iter_mut().for_each(|v| to_key(&c.field, v)),
                Test::Filled => {}
            }
        }
    }
    Ok(fields)
}

/// The drafts of a form's fields, each condition's option keys shown as labels.
pub fn drafts_from_fields(fields: &[Field]) -> Vec<FieldDraft> {
    let label = |field: &str, v: &str| -> String {
        fields
            .iter()
            .find(|f| f.key == field)
            .and_then(|f| match &f.kind {
                FieldKind::SingleChoice { options }
                | FieldKind::MultiChoice { options }
                | FieldKind::Dropdown { options } => options.iter().find(|o| o.key == v),
                _ => None,
            })
            .map_or_else(|| v.to_owned(), |o| o.label.clone())
    };
    fields
        .iter()
        .map(|f| {
            let mut d = FieldDraft::from_field(f);
            if let Some(logic) = &f.logic {
                d.logic_rules = logic
                    .conditions
                    .iter()
                    .map(|c| match &c.test {
                        Test::Filled => format!("{} filled", c.field),
                        Test::Equals { value } => {
                            format!("{} = {}", c.field, label(&c.field, value))
                        }
                        Test::OneOf { values } => format!(
                            "{} = {}",
                            c.field,
                            values
                                .iter()
                                .map(|v| label(&c.field, v))
                                .collect::<Vec<_>>()
                                .join(" | ")
                        ),
                    })
                    .collect::<Vec<_>>()
                    .join("\n");
            }
            d
        })
        .collect()
}

fn options_of(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .enumerate()
        .map(|(i, l)| (format!("o{}", i + 1), l.to_owned()))
        .collect()
}

fn choices(text: &str) -> Vec<ChoiceOption> {
    options_of(text)
        .into_iter()
        .map(|(key, label)| ChoiceOption { key, label })
        .collect()
}

/// One item line: `成人票 = 80, max 5, stock 50, min 1` (or 最多 / 库存 /
/// 最少); an item takes at most 1 unless `max` says more.
fn item_of(key: String, line: &str, name: &str) -> Result<PricedItem, String> {
    let bad = || format!("{name}: write each item as `label = 80, max 5, stock 50`");
    let (label, rest) = line.rsplit_once('=').ok_or_else(bad)?;
    let mut parts = rest.split([',', '，']).map(str::trim);
    let price = money(parts.next().ok_or_else(bad)?, name)?;
    let mut item = PricedItem {
        key,
        label: label.trim().to_owned(),
        price,
        min: 0,
        max: 1,
        stock: None,
    };
    for part in parts.filter(|p| !p.is_empty()) {
        let (word, n) = part
            .split_once(char::is_whitespace)
            .map(|(w, n)| (w.trim(), n.trim()))
            .ok_or_else(bad)?;
        let n: u32 = n.parse().map_err(|_| bad())?;
        match word {
            "max" | "最多" => item.max = n,
            "min" | "最少" => item.min = n,
            "stock" | "库存" => item.stock = Some(n),
            _ => return Err(bad()),
        }
    }
    Ok(item)
}

fn money(s: &str, what: &str) -> Result<Money, String> {
    Money::parse_yuan(s).map_err(|e| format!("{what}: {e}"))
}

impl FieldDraft {
    pub fn new(key: String) -> FieldDraft {
        FieldDraft {
            key,
            kind: FieldType::ShortText,
            payment_mode: PaymentModeType::PayerAmount,
            max_quantity: "1".into(),
            ..FieldDraft::default()
        }
    }

    /// The rule the draft describes (option labels are turned into keys by
    /// [`fields_from_drafts`]).
    fn logic(&self) -> Result<Option<Logic>, String> {
        let action = match self.logic_action.trim() {
            "" => return Ok(None),
            "show" => LogicAction::Show,
            "require" => LogicAction::Require,
            other => return Err(format!("{}: unknown rule {other}", self.key)),
        };
        let mut conditions = Vec::new();
        for line in self
            .logic_rules
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
        {
            let filled = line
                .strip_suffix("filled")
                .or_else(|| line.strip_suffix("已填"))
                .map(str::trim)
                .filter(|f| !f.contains('='));
            let condition = match (filled, line.split_once('=')) {
                (Some(field), _) => Condition {
                    field: field.to_owned(),
                    test: Test::Filled,
                },
                (None, Some((field, values))) => {
                    let values: Vec<String> = values
                        .split('|')
                        .map(|v| v.trim().to_owned())
                        .filter(|v| !v.is_empty())
                        .collect();
                    Condition {
                        field: field.trim().to_owned(),
                        test: match values.as_slice() {
                            [one] => Test::Equals { value: one.clone() },
                            _ => Test::OneOf { values },
                        },
                    }
                }
                (None, None) => {
                    return Err(format!(
                        "{}: write each condition as `field = value`, `field = a | b` or `field filled`",
                        self.key
                    ))
                }
            };
            conditions.push(condition);
        }
        Ok(Some(Logic {
            action,
            combine: if self.logic_any {
                Combine::Any
            } else {
                Combine::All
            },
            conditions,
        }))
    }

    pub fn to_field(&self) -> Result<Field, String> {
        let name = if self.label.trim().is_empty() {
            self.key.clone()
        } else {
            self.label.trim().to_owned()
        };
        let int = |s: &str| -> Result<Option<i64>, String> {
            if s.trim().is_empty() {
                Ok(None)
            } else {
                s.trim()
                    .parse()
                    .map(Some)
                    .map_err(|_| format!("{name}: {s} is not a whole number"))
            }
        };
        let kind = match self.kind {
            FieldType::ShortText => FieldKind::ShortText,
            FieldType::LongText => FieldKind::LongText,
            FieldType::Number => FieldKind::Number {
                min: int(&self.min)?,
                max: int(&self.max)?,
            },
            FieldType::Phone => FieldKind::Phone,
            FieldType::Email => FieldKind::Email,
            FieldType::Date => FieldKind::Date,
            FieldType::SingleChoice => FieldKind::SingleChoice {
                options: choices(&self.options),
            },
            FieldType::MultiChoice => FieldKind::MultiChoice {
                options: choices(&self.options),
            },
            FieldType::Dropdown => FieldKind::Dropdown {
                options: choices(&self.options),
            },
            FieldType::Time => FieldKind::Time,
            FieldType::DateTime => FieldKind::DateTime,
            FieldType::IdCard => FieldKind::IdCard,
            FieldType::Region => FieldKind::Region,
            FieldType::Consent => FieldKind::Consent {
                link: self.link.trim().to_owned(),
            },
            FieldType::Section => FieldKind::Section,
            FieldType::Hidden => FieldKind::Hidden,
            FieldType::Upload => FieldKind::Upload {
                max_files: if self.max_quantity.trim().is_empty() {
                    1
                } else {
                    self.max_quantity
                        .trim()
                        .parse()
                        .map_err(|_| format!("{name}: the number of files is a whole number"))?
                },
                max_mb: if self.max.trim().is_empty() {
                    5
                } else {
                    self.max
                        .trim()
                        .parse()
                        .map_err(|_| format!("{name}: the size in MB is a whole number"))?
                },
                accept: match self.options.trim() {
                    "pdf" => UploadAccept::Pdf,
                    "images_and_pdf" => UploadAccept::ImagesAndPdf,
                    _ => UploadAccept::Images,
                },
            },
            FieldType::Payment => FieldKind::Payment(match self.payment_mode {
                PaymentModeType::Fixed => PaymentMode::Fixed {
                    amount: money(&self.amount, &name)?,
                },
                PaymentModeType::PricedOptions => {
                    let mut options = Vec::new();
                    for (key, line) in options_of(&self.options) {
                        let (label, price) = line.rsplit_once('=').ok_or_else(|| {
                            format!("{name}: write each option as `label = 12.50`")
                        })?;
                        options.push(PricedOption {
                            key,
                            label: label.trim().to_owned(),
                            price: money(price.trim(), &name)?,
                        });
                    }
                    let max_quantity =
                        self.max_quantity.trim().parse().map_err(|_| {
                            format!("{name}: the maximum quantity is a whole number")
                        })?;
                    PaymentMode::PricedOptions {
                        options,
                        max_quantity,
                    }
                }
                PaymentModeType::PayerAmount => PaymentMode::PayerAmount {
                    min: money(&self.min, &name)?,
                    max: money(&self.max, &name)?,
                },
                PaymentModeType::Items => PaymentMode::Items {
                    items: options_of(&self.options)
                        .into_iter()
                        .map(|(key, line)| item_of(key, &line, &name))
                        .collect::<Result<_, _>>()?,
                },
            }),
        };
        Ok(Field {
            key: self.key.trim().to_owned(),
            label: self.label.trim().to_owned(),
            help: self.help.trim().to_owned(),
            // A payable form is never submitted without paying.
            required: (self.required && self.kind.can_be_required())
                || matches!(kind, FieldKind::Payment(_)),
            kind,
            logic: self.logic()?,
        })
    }

    pub fn from_field(f: &Field) -> FieldDraft {
        let mut d = FieldDraft::new(f.key.clone());
        d.label = f.label.clone();
        d.help = f.help.clone();
        d.required = f.required;
        d.kind = FieldType::of(&f.kind);
        if let Some(logic) = &f.logic {
            d.logic_action = match logic.action {
                LogicAction::Show => "show",
                LogicAction::Require => "require",
            }
            .to_owned();
            d.logic_any = logic.combine == Combine::Any;
        }
        match &f.kind {
            FieldKind::Number { min, max } => {
                d.min = min.map(|v| v.to_string()).unwrap_or_default();
                d.max = max.map(|v| v.to_string()).unwrap_or_default();
            }
            FieldKind::Consent { link } => d.link = link.clone(),
            FieldKind::Upload {
                max_files,
                max_mb,
                accept,
            } => {
                d.max_quantity = max_files.to_string();
                d.max = max_mb.to_string();
                d.options = match accept {
                    UploadAccept::Images => "images",
                    UploadAccept::Pdf => "pdf",
                    UploadAccept::ImagesAndPdf => "images_and_pdf",
                }
                .to_owned();
            }
            FieldKind::SingleChoice { options }
            | FieldKind::MultiChoice { options }
            | FieldKind::Dropdown { options } => {
                d.options = options
                    .iter()
                    .map(|o| o.label.clone())
                    .collect::<Vec<_>>()
                    .join("\n");
            }
            FieldKind::Payment(PaymentMode::Fixed { amount }) => {
                d.payment_mode = PaymentModeType::Fixed;
                d.amount = amount.to_yuan_string();
            }
            FieldKind::Payment(PaymentMode::PayerAmount { min, max }) => {
                d.payment_mode = PaymentModeType::PayerAmount;
                d.min = min.to_yuan_string();
                d.max = max.to_yuan_string();
            }
            FieldKind::Payment(PaymentMode::Items { items }) => {
                d.payment_mode = PaymentModeType::Items;
                d.options = items
                    .iter()
                    .map(|i| {
                        let mut line = format!("{} = {}", i.label, i.price.to_yuan_string());
                        if i.min > 0 {
                            line.push_str(&format!(", min {}", i.min));
                        }
                        line.push_str(&format!(", max {}", i.max));
                        if let Some(stock) = i.stock {
                            line.push_str(&format!(", stock {stock}"));
                        }
                        line
                    })
                    .collect::<Vec<_>>()
                    .join("\n");
            }
            FieldKind::Payment(PaymentMode::PricedOptions {
                options,
                max_quantity,
            }) => {
                d.payment_mode = PaymentModeType::PricedOptions;
                d.options = options
                    .iter()
                    .map(|o| format!("{} = {}", o.label, o.price.to_yuan_string()))
                    .collect::<Vec<_>>()
                    .join("\n");
                d.max_quantity = max_quantity.to_string();
            }
            _ => {}
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drafts_round_trip_every_type() {
        let mut drafts = Vec::new();
        for (i, kind) in FieldType::ALL.into_iter().enumerate() {
            let mut d = FieldDraft::new(format!("f{i}"));
            d.label = format!("Field {i}");
            d.kind = kind;
            d.options = "红\n黄\n蓝".into();
            drafts.push(d);
        }
        drafts[8].payment_mode = PaymentModeType::PricedOptions;
        drafts[8].options = "成人 = 50\n儿童 = 20.50".into();
        drafts[8].max_quantity = "3".into();
        assert_eq!(drafts[14].kind, FieldType::Consent);
        drafts[14].link = "https://example.com/terms".into();
        drafts[14].required = true;
        // A heading cannot be required, whatever the box said.
        drafts[15].required = true;
        let fields: Vec<Field> = drafts
            .iter()
            .map(|d| d.to_field().expect("valid"))
            .collect();
        for t in FieldType::ALL {
            assert_eq!(FieldType::parse(t.as_str()), Some(t));
        }
        assert_eq!(super::super::form::validate_fields(&fields), Ok(()));
        for (d, f) in drafts.iter().zip(&fields) {
            assert_eq!(
                FieldDraft::from_field(f).to_field().as_ref(),
                Ok(f),
                "{:?}",
                d.kind
            );
        }
        assert!(fields[14].required);
        assert!(!fields[15].required);
        assert!(!FieldType::Hidden.can_be_required());
    }

    #[test]
    fn rules_round_trip_with_option_labels() {
        let mut size = FieldDraft::new("size".into());
        size.label = "Size".into();
        size.kind = FieldType::Dropdown;
        size.options = "小号\n大号".into();
        let mut shirt = FieldDraft::new("shirt".into());
        shirt.label = "Shirt".into();
        shirt.logic_action = "show".into();
        shirt.logic_any = true;
        shirt.logic_rules = "size = 大号\nsize = 小号 | o2\nsize filled".into();
        let fields = fields_from_drafts(&[size, shirt]).expect("valid");
        let logic = fields[1].logic.as_ref().expect("a rule");
        assert_eq!(logic.action, LogicAction::Show);
        assert_eq!(logic.combine, Combine::Any);
        assert_eq!(
            logic.conditions[0].test,
            Test::Equals { value: "o2".into() }
        );
        assert_eq!(
            logic.conditions[1].test,
            Test::OneOf {
                values: vec!["o1".into(), "o2".into()]
            }
        );
        assert_eq!(logic.conditions[2].test, Test::Filled);
        assert_eq!(super::super::form::validate_fields(&fields), Ok(()));
        let again = drafts_from_fields(&fields);
        assert_eq!(
            again[1].logic_rules,
            "size = 大号\nsize = 小号 | 大号\nsize filled"
        );
        assert_eq!(fields_from_drafts(&again), Ok(fields));
        let mut bad = again[1].clone();
        bad.logic_rules = "size is big".into();
        assert!(bad.to_field().is_err());
    }

    #[test]
    fn item_lines_round_trip() {
        let mut d = FieldDraft::new("tickets".into());
        d.label = "Tickets".into();
        d.kind = FieldType::Payment;
        d.payment_mode = PaymentModeType::Items;
        d.options = "成人票 = 80, 最多 5, 库存 50\n儿童票 = 40.50, min 1, max 3\nT 恤 = 60".into();
        let f = d.to_field().expect("valid");
        let FieldKind::Payment(PaymentMode::Items { items }) = &f.kind else {
            panic!("items: {f:?}");
        };
        assert_eq!(items.len(), 3);
        assert_eq!((items[0].max, items[0].stock), (5, Some(50)));
        assert_eq!((items[1].min, items[1].max, items[1].stock), (1, 3, None));
        assert_eq!(items[1].price, Money::parse_yuan("40.50").expect("price"));
        assert_eq!((items[2].min, items[2].max), (0, 1));
        assert_eq!(FieldDraft::from_field(&f).to_field(), Ok(f));
        d.options = "成人票 = 80, lots 5".into();
        assert!(d.to_field().is_err());
    }

    #[test]
    fn bad_drafts_say_what_is_wrong() {
        let mut d = FieldDraft::new("fee".into());
        d.label = "Fee".into();
        d.kind = FieldType::Payment;
        d.payment_mode = PaymentModeType::Fixed;
        d.amount = "1.234".into();
        assert!(d.to_field().expect_err("bad amount").starts_with("Fee"));
        d.payment_mode = PaymentModeType::PricedOptions;
        d.options = "no price".into();
        assert!(d.to_field().is_err());
        d.kind = FieldType::Number;
        d.min = "x".into();
        assert!(d.to_field().is_err());
    }
}
