//! Queries built from parts, with typed binds. sqlx's `QueryBuilder` writes
//! `?` placeholders for the `Any` driver, which PostgreSQL refuses; this one
//! numbers them (`$1`, `$2`, …), which both databases accept, and otherwise
//! works the same way: text is pushed, values are bound, never spliced.

use anyhow::Context;
use sqlx::any::{AnyArguments, AnyQueryResult};
use sqlx::{Any, Arguments, Encode, Type};

pub struct Sql<'q> {
    text: String,
    args: AnyArguments<'q>,
    binds: usize,
    /// A value that could not be encoded (reported when the query runs).
    error: Option<String>,
    /// Whether the connection keeps the prepared statement for next time.
    cached: bool,
}

impl<'q> Sql<'q> {
    pub fn new(text: &str) -> Sql<'q> {
        Sql {
            text: text.to_owned(),
            args: AnyArguments::default(),
            binds: 0,
            error: None,
            cached: true,
        }
    }

    /// Appends SQL text (never a value).
    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends a placeholder and binds `value` to it.
    pub fn bind<T>(&mut self, value: T) -> &mut Self
    where
        T: 'q + Encode<'q, Any> + Type<Any>,
    {
        self.binds += 1;
        self.text.push('$');
        self.text.push_str(&self.binds.to_string());
        if let Err(e) = self.args.add(value) {
            self.error.get_or_insert(e.to_string());
        }
        self
    }

    /// Appends a placeholder for each of `values`, separated by commas (the
    /// inside of `IN (…)`), and binds them.
    pub fn bind_list<T, I>(&mut self, values: I) -> &mut Self
    where
        T: 'q + Encode<'q, Any> + Type<Any>,
        I: IntoIterator<Item = T>,
    {
        for (i, value) in values.into_iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.bind(value);
        }
        self
    }

    /// Binds `value` to the next placeholder already written in the text
    /// (for a statement given whole: `Sql::new("… $1 …").arg(v)`).
    pub fn arg<T>(mut self, value: T) -> Self
    where
        T: 'q + Encode<'q, Any> + Type<Any>,
    {
        self.binds += 1;
        if let Err(e) = self.args.add(value) {
            self.error.get_or_insert(e.to_string());
        }
        self
    }

    /// The SQL so far.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Not kept prepared by the connection: for text that is rarely the
    /// same twice (a multi-row insert of as many rows as were waiting),
    /// which would only push the statements that repeat out of its cache.
    pub fn uncached(mut self) -> Self {
        self.cached = false;
        self
    }

    /// Whether the statement is kept prepared ([`Sql::uncached`]).
    pub fn is_cached(&self) -> bool {
        self.cached
    }

    /// The text and its values, for a caller that runs them itself.
    pub fn into_parts(self) -> anyhow::Result<(String, AnyArguments<'q>)> {
        match self.error {
            Some(e) => Err(anyhow::anyhow!("cannot bind a value: {e}")),
            None => Ok((self.text, self.args)),
        }
    }

    /// The text and its values, for a caller that runs them itself and may
    /// still give the query to sqlx after.
    pub fn parts(&self) -> anyhow::Result<(&str, &[sqlx_core::any::AnyValueKind<'q>])> {
        match &self.error {
            Some(e) => Err(anyhow::anyhow!("cannot bind a value: {e}")),
            None => Ok((&self.text, &self.args.values.0)),
        }
    }

    pub async fn execute<'e, E>(self, executor: E) -> anyhow::Result<AnyQueryResult>
    where
        E: sqlx::Executor<'e, Database = Any>,
    {
        let cached = self.cached;
        let (text, args) = self.into_parts()?;
        sqlx::query_with(&text, args)
            .persistent(cached)
            .execute(executor)
            .await
            .context("the query failed")
    }

    pub async fn fetch_all<'e, T, E>(self, executor: E) -> anyhow::Result<Vec<T>>
    where
        E: sqlx::Executor<'e, Database = Any>,
        T: Send + Unpin + for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow>,
    {
        let (text, args) = self.into_parts()?;
        sqlx::query_as_with(&text, args)
            .fetch_all(executor)
            .await
            .context("the query failed")
    }

    pub async fn fetch_optional<'e, T, E>(self, executor: E) -> anyhow::Result<Option<T>>
    where
        E: sqlx::Executor<'e, Database = Any>,
        T: Send + Unpin + for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow>,
    {
        let (text, args) = self.into_parts()?;
        sqlx::query_as_with(&text, args)
            .fetch_optional(executor)
            .await
            .context("the query failed")
    }

    pub async fn fetch_one<'e, T, E>(self, executor: E) -> anyhow::Result<T>
    where
        E: sqlx::Executor<'e, Database = Any>,
        T: Send + Unpin + for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow>,
    {
        let (text, args) = self.into_parts()?;
        sqlx::query_as_with(&text, args)
            .fetch_one(executor)
            .await
            .context("the query failed")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_in_order() {
        let mut q = Sql::new("SELECT 1 FROM t WHERE a = ");
        q.bind(1_i64).push(" AND b = ").bind("x".to_owned());
        q.push(" AND c = ").bind(3_i64);
        assert_eq!(
            q.text(),
            "SELECT 1 FROM t WHERE a = $1 AND b = $2 AND c = $3"
        );
        // A statement given whole binds in the same order.
        let whole = Sql::new("SELECT 1 FROM t WHERE a = $1").arg(1_i64);
        assert_eq!(whole.binds, 1);
        assert!(whole.error.is_none());
    }
}
