//! SQL cursors, per connection: `DECLARE name [BINARY] [NO SCROLL] CURSOR [WITH HOLD] FOR
//! query`, `FETCH [n | ALL | NEXT | FORWARD [n | ALL]] FROM name`, `CLOSE name | ALL`.
//! The engine runs the query once, at DECLARE; each FETCH pulls only the batches it needs
//! from that running query, so a cursor over a huge result holds one batch at a time.
//! Cursors only move forward (NO SCROLL). Floe runs in autocommit mode, so a cursor lives
//! until CLOSE or the end of the session, except that one declared without HOLD inside
//! BEGIN ... COMMIT/ROLLBACK is closed with that block, as in PostgreSQL.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use floe_engine::arrow::array::RecordBatch;
use floe_engine::arrow::datatypes::SchemaRef;
use floe_engine::sql::DFStatement;
use floe_engine::sql::ast::{
    CloseCursor, Declare, DeclareType, FetchDirection, Statement as SqlStatement, Value,
};
use floe_engine::{FloeError, Statement};
use futures::StreamExt;
use futures::stream::BoxStream;

/// SQLSTATEs of cursor errors.
const INVALID_CURSOR_NAME: &str = "34000";
const DUPLICATE_CURSOR: &str = "42P03";
const OBJECT_NOT_IN_PREREQUISITE_STATE: &str = "55000";
const FEATURE_NOT_SUPPORTED: &str = "0A000";

/// A cursor statement, recognised among the engine's parsed statements.
#[derive(Debug, Clone)]
pub enum CursorStatement {
    Declare {
        name: String,
        binary: bool,
        hold: bool,
        query: Statement,
    },
    Fetch {
        name: String,
        /// `None`: all remaining rows.
        count: Option<u64>,
    },
    /// `None`: CLOSE ALL.
    Close(Option<String>),
}

impl CursorStatement {
    /// The cursor statement `statement` is, if it is one; an error for the forms Floe's
    /// forward-only cursors cannot take.
    pub fn recognise(statement: &Statement) -> Option<Result<CursorStatement, FloeError>> {
        let Statement::DataFusion(df) = statement else {
            return None;
        };
        let DFStatement::Statement(sql) = df.as_ref() else {
            return None;
        };
        match sql.as_ref() {
            SqlStatement::Declare { stmts } => match stmts.as_slice() {
                [declare] if declare.declare_type == Some(DeclareType::Cursor) => {
                    Some(declaration(declare))
                }
                _ => None,
            },
            SqlStatement::Fetch {
                name,
                direction,
                into: None,
                ..
            } => Some(fetch_count(direction).map(|count| CursorStatement::Fetch {
                name: name.value.clone(),
                count,
            })),
            SqlStatement::Close { cursor } => Some(Ok(CursorStatement::Close(match cursor {
                CloseCursor::All => None,
                CloseCursor::Specific { name } => Some(name.value.clone()),
            }))),
            _ => None,
        }
    }
}

fn declaration(declare: &Declare) -> Result<CursorStatement, FloeError> {
    let [name] = declare.names.as_slice() else {
        return Err(FloeError::new("42601", "DECLARE CURSOR names one cursor"));
    };
    if declare.scroll == Some(true) {
        return Err(FloeError::new(
            FEATURE_NOT_SUPPORTED,
            "SCROLL cursors are not supported: Floe's cursors only move forward",
        ));
    }
    let query = declare
        .for_query
        .clone()
        .ok_or_else(|| FloeError::new("42601", "DECLARE CURSOR needs FOR followed by a query"))?;
    Ok(CursorStatement::Declare {
        name: name.value.clone(),
        binary: declare.binary == Some(true),
        hold: declare.hold == Some(true),
        query: Statement::DataFusion(Box::new(DFStatement::Statement(Box::new(
            SqlStatement::Query(query),
        )))),
    })
}

fn fetch_count(direction: &FetchDirection) -> Result<Option<u64>, FloeError> {
    let count = |value: &Value| match value {
        Value::Number(n, _) => n
            .parse::<i64>()
            .map_err(|_| FloeError::new("22003", format!("FETCH count {n} is out of range"))),
        other => Err(FloeError::new(
            "42601",
            format!("FETCH count must be a number, not {other}"),
        )),
    };
    let forward = |n: i64| {
        u64::try_from(n).map(Some).map_err(|_| {
            FloeError::new(
                OBJECT_NOT_IN_PREREQUISITE_STATE,
                "cursor can only scan forward",
            )
        })
    };
    match direction {
        FetchDirection::Next => Ok(Some(1)),
        FetchDirection::All | FetchDirection::ForwardAll => Ok(None),
        FetchDirection::Forward { limit: None } => Ok(Some(1)),
        FetchDirection::Count { limit } | FetchDirection::Forward { limit: Some(limit) } => {
            forward(count(limit)?)
        }
        _ => Err(FloeError::new(
            OBJECT_NOT_IN_PREREQUISITE_STATE,
            "cursor can only scan forward",
        )),
    }
}

/// An open cursor: the running query and the rows of its last batch not fetched yet.
pub struct Cursor {
    pub schema: SchemaRef,
    pub binary: bool,
    hold: bool,
    rows: tokio::sync::Mutex<Rows>,
}

struct Rows {
    batches: BoxStream<'static, Result<RecordBatch, FloeError>>,
    pending: Option<RecordBatch>,
    finished: bool,
}

impl Rows {
    /// The next rows, at most `max` of them, as they come: `None` at the end.
    async fn next(&mut self, max: u64) -> Option<Result<RecordBatch, FloeError>> {
        loop {
            let batch = match self.pending.take() {
                Some(batch) => batch,
                None if self.finished => return None,
                None => match self.batches.next().await {
                    Some(Ok(batch)) => batch,
                    Some(Err(err)) => {
                        // A failed query has nothing more to give.
                        self.finished = true;
                        return Some(Err(err));
                    }
                    None => {
                        self.finished = true;
                        return None;
                    }
                },
            };
            if batch.num_rows() == 0 {
                continue;
            }
            if batch.num_rows() as u64 > max {
                let take = max as usize;
                self.pending = Some(batch.slice(take, batch.num_rows() - take));
                return Some(Ok(batch.slice(0, take)));
            }
            return Some(Ok(batch));
        }
    }
}

impl Cursor {
    /// A cursor over `batches`. `hold`: it outlives the transaction block it was
    /// declared in.
    pub fn new(
        schema: SchemaRef,
        binary: bool,
        hold: bool,
        batches: BoxStream<'static, Result<RecordBatch, FloeError>>,
    ) -> Cursor {
        Cursor {
            schema,
            binary,
            hold,
            rows: tokio::sync::Mutex::new(Rows {
                batches,
                pending: None,
                finished: false,
            }),
        }
    }

    /// The next `count` rows (all that remain for `None`), pulled from the query batch by
    /// batch as the stream is read.
    pub fn fetch(
        self: Arc<Self>,
        count: Option<u64>,
    ) -> BoxStream<'static, Result<RecordBatch, FloeError>> {
        let remaining = count.unwrap_or(u64::MAX);
        futures::stream::unfold((self, remaining), |(cursor, remaining)| async move {
            if remaining == 0 {
                return None;
            }
            let next = cursor.rows.lock().await.next(remaining).await?;
            let taken = next.as_ref().map_or(0, |batch| batch.num_rows() as u64);
            Some((next, (cursor, remaining - taken)))
        })
        .boxed()
    }
}

/// The cursors of one connection.
#[derive(Default)]
pub struct Cursors {
    open: Mutex<HashMap<String, Arc<Cursor>>>,
}

impl Cursors {
    /// Whether `name` is free for a new cursor (checked before its query starts).
    pub fn check_free(&self, name: &str) -> Result<(), FloeError> {
        if self.open.lock().expect("cursors lock").contains_key(name) {
            return Err(FloeError::new(
                DUPLICATE_CURSOR,
                format!("cursor \"{name}\" already exists"),
            ));
        }
        Ok(())
    }

    pub fn declare(&self, name: &str, cursor: Cursor) -> Result<(), FloeError> {
        self.check_free(name)?;
        self.open
            .lock()
            .expect("cursors lock")
            .insert(name.to_string(), Arc::new(cursor));
        Ok(())
    }

    pub fn get(&self, name: &str) -> Result<Arc<Cursor>, FloeError> {
        self.open
            .lock()
            .expect("cursors lock")
            .get(name)
            .cloned()
            .ok_or_else(|| no_such_cursor(name))
    }

    /// CLOSE name (an error if there is none) or CLOSE ALL (`None`).
    pub fn close(&self, name: Option<&str>) -> Result<(), FloeError> {
        let mut open = self.open.lock().expect("cursors lock");
        match name {
            None => open.clear(),
            Some(name) => {
                open.remove(name).ok_or_else(|| no_such_cursor(name))?;
            }
        }
        Ok(())
    }

    /// Closes the cursors declared without HOLD, at the end of a transaction block.
    pub fn end_transaction(&self) {
        self.open
            .lock()
            .expect("cursors lock")
            .retain(|_, cursor| cursor.hold);
    }
}

fn no_such_cursor(name: &str) -> FloeError {
    FloeError::new(
        INVALID_CURSOR_NAME,
        format!("cursor \"{name}\" does not exist"),
    )
}
