//! A small SQL builder that numbers placeholders `$1, $2, ...` (understood by both SQLite and
//! PostgreSQL through sqlx) while values are bound in the same order.

use sqlx::any::{Any, AnyArguments};
use sqlx::{Arguments, Encode, Type};

pub(crate) struct Sql {
    text: String,
    args: AnyArguments<'static>,
    count: usize,
    error: Option<String>,
}

impl Sql {
    pub fn new(text: &str) -> Self {
        Self { text: text.to_string(), args: AnyArguments::default(), count: 0, error: None }
    }

    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends a placeholder for `value`.
    pub fn bind<T>(&mut self, value: T) -> &mut Self
    where
        T: 'static + Send + Encode<'static, Any> + Type<Any>,
    {
        self.count += 1;
        self.text.push('$');
        self.text.push_str(&self.count.to_string());
        if let Err(e) = self.args.add(value) {
            self.error.get_or_insert(e.to_string());
        }
        self
    }

    /// Appends `$a, $b, ...` for every value.
    pub fn bind_list<T>(&mut self, values: impl IntoIterator<Item = T>) -> &mut Self
    where
        T: 'static + Send + Encode<'static, Any> + Type<Any>,
    {
        for (i, v) in values.into_iter().enumerate() {
            if i > 0 {
                self.text.push_str(", ");
            }
            self.bind(v);
        }
        self
    }

    pub fn into_parts(self) -> Result<(String, AnyArguments<'static>), sqlx::Error> {
        match self.error {
            Some(e) => Err(sqlx::Error::Encode(e.into())),
            None => Ok((self.text, self.args)),
        }
    }
}

/// Runs a built statement: `run!(sql, fetch_all(&pool))`.
macro_rules! run {
    ($sql:expr, $method:ident($exec:expr)) => {{
        let (text, args) = $sql.into_parts()?;
        sqlx::query_with(&text, args).$method($exec).await
    }};
    ($sql:expr, as $row:ty, $method:ident($exec:expr)) => {{
        let (text, args) = $sql.into_parts()?;
        sqlx::query_as_with::<_, $row, _>(&text, args).$method($exec).await
    }};
}
pub(crate) use run;
