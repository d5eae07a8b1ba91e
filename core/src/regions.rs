//! The region field's data: China's administrative divisions (province,
//! city, district) bundled from `data/regions.tsv` (origin in
//! `data/README.md`), and the server's check of a region answer.

use domain::form::{Answer, AnswerError, Field, FieldKind};
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// One division and the divisions under it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegionNode {
    /// The statistical division code: 2 digits for a province, 4 for a city, 6 for a district.
    pub code: String,
    pub name: String,
    pub children: Vec<RegionNode>,
}

static DATA: &str = include_str!("../data/regions.tsv");

/// The whole tree, parsed once.
pub fn tree() -> &'static [RegionNode] {
    static TREE: OnceLock<Vec<RegionNode>> = OnceLock::new();
    TREE.get_or_init(|| parse(DATA))
}

fn parse(data: &str) -> Vec<RegionNode> {
    let mut provinces: Vec<RegionNode> = Vec::new();
    for line in data.lines() {
        let Some((code, name)) = line.split_once('\t') else {
            continue;
        };
        let node = RegionNode {
            code: code.to_owned(),
            name: name.to_owned(),
            children: Vec::new(),
        };
        // Parents come before their children: a code's prefix names its parent.
        match code.len() {
            2 => provinces.push(node),
            4 => {
                if let Some(p) = provinces
                    .iter_mut()
                    .rev()
                    .find(|p| code.starts_with(&p.code))
                {
                    p.children.push(node);
                }
            }
            // A city without districts (东莞, 中山, 儋州, 嘉峪关) lists its
            // towns, with nine-digit codes.
            6 | 9 => {
                if let Some(c) = provinces
                    .iter_mut()
                    .rev()
                    .find(|p| code.starts_with(&p.code))
                    .and_then(|p| {
                        p.children
                            .iter_mut()
                            .rev()
                            .find(|c| code.starts_with(&c.code))
                    })
                {
                    c.children.push(node);
                }
            }
            _ => {}
        }
    }
    provinces
}

/// The divisions directly under `parent` (a province's or a city's code), or
/// the provinces for an empty code, as `(code, name)` pairs: what one of the
/// region field's drop-downs lists. Unknown codes have none.
pub fn children(parent: &str) -> Vec<(String, String)> {
    let list: &[RegionNode] = match parent.len() {
        0 => tree(),
        2 => tree()
            .iter()
            .find(|p| p.code == parent)
            .map_or(&[], |p| &p.children),
        4 => tree()
            .iter()
            .find(|p| parent.starts_with(&p.code))
            .and_then(|p| p.children.iter().find(|c| c.code == parent))
            .map_or(&[], |c| &c.children),
        _ => &[],
    };
    list.iter()
        .map(|n| (n.code.clone(), n.name.clone()))
        .collect()
}

/// The names of a district, province first: `["广东省", "深圳市", "南山区"]`.
/// Takes its code (six digits; nine for a town of a city without
/// districts), or its three names separated by spaces or `/`
/// (what a payer types on the page without JavaScript).
pub fn resolve(text: &str) -> Option<[&'static str; 3]> {
    let text = text.trim();
    if matches!(text.len(), 6 | 9) && text.bytes().all(|b| b.is_ascii_digit()) {
        let p = tree().iter().find(|p| text.starts_with(&p.code))?;
        let c = p.children.iter().find(|c| text.starts_with(&c.code))?;
        let d = c.children.iter().find(|d| d.code == text)?;
        return Some([&p.name, &c.name, &d.name]);
    }
    let parts: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || c == '/')
        .filter(|s| !s.is_empty())
        .collect();
    let [p, c, d] = parts.as_slice() else {
        return None;
    };
    let p = tree().iter().find(|x| x.name == *p)?;
    let c = p.children.iter().find(|x| x.name == *c)?;
    let d = c.children.iter().find(|x| x.name == *d)?;
    Some([&p.name, &c.name, &d.name])
}

/// Replaces every region answer with its names (`广东省 深圳市 南山区`), or
/// says which are no district.
pub fn settle_answers(
    fields: &[Field],
    answers: &mut BTreeMap<String, Answer>,
) -> Result<(), BTreeMap<String, AnswerError>> {
    let mut errors = BTreeMap::new();
    for f in fields.iter().filter(|f| f.kind == FieldKind::Region) {
        if let Some(Answer::Text(text)) = answers.get_mut(&f.key) {
            match resolve(text) {
                Some(names) => *text = names.join(" "),
                None => {
                    errors.insert(f.key.clone(), AnswerError::BadRegion);
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_divisions_are_whole() {
        let t = tree();
        assert_eq!(t.len(), 31, "mainland provinces");
        let cities: usize = t.iter().map(|p| p.children.len()).sum();
        let districts: usize = t
            .iter()
            .flat_map(|p| &p.children)
            .map(|c| c.children.len())
            .sum();
        // Every line of the file found its parent.
        assert_eq!(31 + cities + districts, DATA.lines().count());
        assert!(t.iter().all(|p| !p.children.is_empty()));
        assert!(t
            .iter()
            .flat_map(|p| &p.children)
            .all(|c| !c.children.is_empty()));
    }

    #[test]
    fn each_level_lists_its_children() {
        assert_eq!(children("").len(), 31);
        assert!(children("44").contains(&("4403".into(), "深圳市".into())));
        assert!(children("4403").contains(&("440305".into(), "南山区".into())));
        assert!(children("440305").is_empty());
        assert!(children("99").is_empty());
        assert!(children("x").is_empty());
    }

    #[test]
    fn districts_resolve_by_code_or_names() {
        assert_eq!(resolve("440305"), Some(["广东省", "深圳市", "南山区"]));
        assert_eq!(resolve(" 广东省 / 深圳市 / 南山区 "), resolve("440305"));
        assert_eq!(resolve("110101"), Some(["北京市", "市辖区", "东城区"]));
        assert_eq!(resolve("441900003"), Some(["广东省", "东莞市", "东城街道"]));
        for bad in [
            "440300",
            "4403",
            "44",
            "999999",
            "广东省 深圳市",
            "广东省 广州市 南山区",
            "",
        ] {
            assert_eq!(resolve(bad), None, "{bad}");
        }
    }
}
