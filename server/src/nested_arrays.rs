//! Lists of lists as PostgreSQL multidimensional arrays. PostgreSQL keeps an array's
//! dimensions in each value, not in its type, so `[[1, 2], [3, 4]]` is an `int8[]` like
//! `[1, 2]`: `{{1,2},{3,4}}` in text, two dimensions in binary. Text also shows lists of
//! different lengths (`{{1,2},{3}}`) and NULL lists as they are; the binary format has no
//! room for them, so such a value fails with PostgreSQL's 2202E.

use std::sync::Arc;

use bytes::{BufMut, BytesMut};
use floe_engine::arrow::array::{Array, ArrayRef, AsArray, ListArray};
use floe_engine::arrow::compute::cast;
use floe_engine::arrow::datatypes::{DataType, Field};
use pgwire::api::Type;
use pgwire::api::results::{FieldFormat, FieldInfo};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};

use crate::data_rows::{Column, Text, arrow_error};

/// Whether `data_type` is a list whose items are lists.
pub fn is_nested(data_type: &DataType) -> bool {
    list_item(data_type).is_some_and(|item| list_item(item.data_type()).is_some())
}

/// The PostgreSQL array type of nested lists: the array type of their innermost items.
pub fn array_type(data_type: &DataType) -> PgWireResult<Type> {
    let mut item = list_item(data_type);
    while let Some(inner) = item.and_then(|field| list_item(field.data_type())) {
        item = Some(inner);
    }
    let item = item
        .cloned()
        .unwrap_or_else(|| Arc::new(Field::new("item", DataType::Null, true)));
    arrow_pg::datatypes::into_pg_type(&DataType::List(item))
}

fn list_item(data_type: &DataType) -> Option<&Arc<Field>> {
    match data_type {
        DataType::List(item) | DataType::LargeList(item) | DataType::FixedSizeList(item, _) => {
            Some(item)
        }
        _ => None,
    }
}

/// `data_type` with every list level as a `List` (32-bit offsets), so one walk serves
/// large and fixed-size lists too.
fn as_lists(data_type: &DataType) -> DataType {
    match list_item(data_type) {
        Some(item) => DataType::List(Arc::new(Field::new(
            item.name(),
            as_lists(item.data_type()),
            item.is_nullable(),
        ))),
        None => data_type.clone(),
    }
}

/// A column of nested lists, resolved for one batch.
pub struct NestedArrays {
    column: String,
    format: FieldFormat,
    /// The list levels, outermost first: `levels[0]` is the column itself.
    levels: Vec<ListArray>,
    leaves: ArrayRef,
    /// How each innermost item is written (as a cell: length, then bytes).
    leaf_cells: Box<Column>,
    element_oid: u32,
    /// One item's cell, before it is quoted into the text of an array.
    scratch: BytesMut,
}

impl NestedArrays {
    pub fn new(column: &str, array: &ArrayRef, format: FieldFormat) -> PgWireResult<Self> {
        let lists = as_lists(array.data_type());
        let mut array = if &lists == array.data_type() {
            array.clone()
        } else {
            cast(array, &lists).map_err(arrow_error)?
        };
        let mut levels = Vec::new();
        while let Some(list) = array.as_list_opt::<i32>() {
            levels.push(list.clone());
            array = list.values().clone();
        }
        let element = arrow_pg::datatypes::into_pg_type(array.data_type())?;
        let element_field = FieldInfo::new(String::new(), None, None, element.clone(), format);
        let leaf_cells = Column::new(
            &Field::new("item", array.data_type().clone(), true),
            &array,
            &element_field,
        )?;
        Ok(NestedArrays {
            column: column.to_string(),
            format,
            levels,
            leaves: array,
            leaf_cells: Box::new(leaf_cells),
            element_oid: element.oid(),
            scratch: BytesMut::new(),
        })
    }

    /// Gets the innermost items ready, and in binary checks that each of the first `rows`
    /// values has matching dimensions; otherwise returns the first row that does not.
    pub fn prepare(&mut self, rows: usize) -> Result<(), (usize, PgWireError)> {
        self.leaf_cells
            .prepare(self.leaves.len())
            .map_err(|(_, err)| (0, err))?;
        if self.format == FieldFormat::Binary {
            for row in 0..rows {
                if self.levels[0].is_valid(row) && self.dimensions(row).is_none() {
                    return Err((row, self.ragged_error()));
                }
            }
        }
        Ok(())
    }

    fn ragged_error(&self) -> PgWireError {
        PgWireError::UserError(Box::new(ErrorInfo::new(
            "ERROR".to_string(),
            "2202E".to_string(),
            format!(
                "multidimensional arrays must have array expressions with matching \
                 dimensions: column \"{}\" holds lists of different lengths or NULL lists, \
                 which the binary format cannot carry (text can)",
                self.column
            ),
        )))
    }

    /// The dimensions of the value in `row` and the range of its innermost items; `None`
    /// when lists at one level differ in length or one of them is NULL.
    fn dimensions(&self, row: usize) -> Option<(Vec<usize>, usize, usize)> {
        let (mut start, mut end) = (row, row + 1);
        let mut dimensions = Vec::with_capacity(self.levels.len());
        for list in &self.levels {
            let offsets = list.value_offsets();
            let length = (offsets[start + 1] - offsets[start]) as usize;
            for item in start..end {
                if list.is_null(item) || (offsets[item + 1] - offsets[item]) as usize != length {
                    return None;
                }
            }
            dimensions.push(length);
            (start, end) = (offsets[start] as usize, offsets[end] as usize);
            if length == 0 {
                break;
            }
        }
        Some((dimensions, start, end))
    }

    pub fn write(&mut self, row: usize, text: &Text, out: &mut BytesMut) {
        if self.levels[0].is_null(row) {
            return out.put_i32(-1);
        }
        let start = out.len();
        out.put_i32(0);
        match self.format {
            FieldFormat::Text => self.write_text(0, row, text, out),
            FieldFormat::Binary => self.write_binary(row, text, out),
        }
        let length = (out.len() - start - 4) as i32;
        out[start..start + 4].copy_from_slice(&length.to_be_bytes());
    }

    /// PostgreSQL's binary array: dimensions, a has-NULLs flag, the element type, each
    /// dimension's size and lower bound (1), then the items as cells. An array with an
    /// empty dimension is PostgreSQL's empty array (no dimensions).
    fn write_binary(&mut self, row: usize, text: &Text, out: &mut BytesMut) {
        // `prepare` refused the batch's values without dimensions.
        let Some((dimensions, start, end)) = self.dimensions(row) else {
            return;
        };
        if dimensions.contains(&0) {
            out.put_i32(0);
            out.put_i32(0);
            out.put_u32(self.element_oid);
            return;
        }
        out.put_i32(dimensions.len() as i32);
        out.put_i32(i32::from(
            (start..end).any(|item| self.leaves.is_null(item)),
        ));
        out.put_u32(self.element_oid);
        for size in dimensions {
            out.put_i32(size as i32);
            out.put_i32(1);
        }
        for item in start..end {
            self.leaf_cells.write(item, text, out);
        }
    }

    /// PostgreSQL's array text: `{...}` per list, items separated by commas, NULL items
    /// and lists as `NULL`, items quoted when PostgreSQL quotes them.
    fn write_text(&mut self, level: usize, index: usize, text: &Text, out: &mut BytesMut) {
        let list = &self.levels[level];
        if list.is_null(index) {
            return out.extend_from_slice(b"NULL");
        }
        let offsets = list.value_offsets();
        let (start, end) = (offsets[index] as usize, offsets[index + 1] as usize);
        out.put_u8(b'{');
        for item in start..end {
            if item > start {
                out.put_u8(b',');
            }
            if level + 1 < self.levels.len() {
                self.write_text(level + 1, item, text, out);
            } else {
                self.write_item_text(item, text, out);
            }
        }
        out.put_u8(b'}');
    }

    fn write_item_text(&mut self, item: usize, text: &Text, out: &mut BytesMut) {
        self.scratch.clear();
        self.leaf_cells.write(item, text, &mut self.scratch);
        if i32::from_be_bytes([
            self.scratch[0],
            self.scratch[1],
            self.scratch[2],
            self.scratch[3],
        ]) < 0
        {
            return out.extend_from_slice(b"NULL");
        }
        let value = &self.scratch[4..];
        if !needs_quotes(value) {
            return out.extend_from_slice(value);
        }
        out.put_u8(b'"');
        for &byte in value {
            if byte == b'"' || byte == b'\\' {
                out.put_u8(b'\\');
            }
            out.put_u8(byte);
        }
        out.put_u8(b'"');
    }
}

/// PostgreSQL's `array_out` quotes an item that is empty, spells NULL, or holds a brace,
/// comma, quote, backslash or white space.
fn needs_quotes(value: &[u8]) -> bool {
    value.is_empty()
        || value.eq_ignore_ascii_case(b"NULL")
        || value.iter().any(|byte| {
            matches!(
                byte,
                b'{' | b'}' | b',' | b'"' | b'\\' | b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c
            )
        })
}
