//! A small SQL builder that writes each placeholder in its database's style while values are bound
//! in the same order: `$1, $2, ...` for PostgreSQL, anonymous `?` for SQLite. (SQLite also reads
//! `$N`, but it resolves named and numbered parameters by a linear search per parameter: a
//! 7,500-parameter batch insert then spends ~200 ms in the parser instead of ~1 ms.)

use sqlx::any::{Any, AnyArguments};
use sqlx::{Arguments, Encode, Type};

use crate::Backend;

pub(crate) struct Sql {
    backend: Backend,
    text: String,
    args: AnyArguments<'static>,
    count: usize,
    error: Option<String>,
}

impl Sql {
    pub fn new(backend: Backend, text: &str) -> Self {
        Self { backend, text: text.to_string(), args: AnyArguments::default(), count: 0, error: None }
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
        match self.backend {
            Backend::Postgres => {
                self.text.push('$');
                self.text.push_str(&self.count.to_string());
            }
            Backend::Sqlite => self.text.push('?'),
        }
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
