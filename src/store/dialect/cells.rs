//! Reading a column of any type into a [`Cell`], for statements whose columns the code does not
//! know in advance (reports). SQLite types each value (INTEGER, REAL, TEXT, BLOB), PostgreSQL
//! each column; both end up as the same few kinds of cell, so a report shows the same values on
//! both: every integer width is an integer, PostgreSQL's NUMERIC (what `SUM` and `AVG` of
//! integers give) an integer when it is whole and a float otherwise, as SQLite's arithmetic
//! gives them.

use super::sql::{Cell, Row};
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row as _, TypeInfo as _, ValueRef as _};

impl Row {
    /// The value at `index` whatever its type, for rows whose shape the code does not know
    /// (reports).
    pub fn cell(&self, index: usize) -> sqlx::Result<Cell> {
        match self {
            Row::Sqlite(row) => sqlite(row, index),
            Row::Postgres(row) => postgres(row, index),
        }
    }
}

fn sqlite(row: &SqliteRow, index: usize) -> sqlx::Result<Cell> {
    let raw = row.try_get_raw(index)?;
    if raw.is_null() {
        return Ok(Cell::Text(None));
    }
    let kind = raw.type_info().name().to_owned();
    Ok(match kind.as_str() {
        "INTEGER" => Cell::Int(Some(row.try_get_unchecked(index)?)),
        "REAL" => Cell::Float(Some(row.try_get_unchecked(index)?)),
        "BLOB" => Cell::Text(Some(hex::encode(
            row.try_get_unchecked::<Vec<u8>, _>(index)?,
        ))),
        _ => Cell::Text(Some(row.try_get_unchecked(index)?)),
    })
}

fn postgres(row: &PgRow, index: usize) -> sqlx::Result<Cell> {
    let raw = row.try_get_raw(index)?;
    let kind = raw.type_info().name().to_owned();
    if kind == "NUMERIC" {
        if raw.is_null() {
            return Ok(Cell::Float(None));
        }
        let bytes = raw.as_bytes().map_err(|source| decode(index, source))?;
        return numeric(bytes).ok_or_else(|| decode(index, "malformed NUMERIC".into()));
    }
    Ok(match kind.as_str() {
        "INT2" => Cell::Int(
            row.try_get_unchecked::<Option<i16>, _>(index)?
                .map(i64::from),
        ),
        "INT4" => Cell::Int(
            row.try_get_unchecked::<Option<i32>, _>(index)?
                .map(i64::from),
        ),
        "INT8" => Cell::Int(row.try_get_unchecked(index)?),
        "FLOAT4" => Cell::Float(
            row.try_get_unchecked::<Option<f32>, _>(index)?
                .map(f64::from),
        ),
        "FLOAT8" => Cell::Float(row.try_get_unchecked(index)?),
        "BOOL" => Cell::Bool(row.try_get_unchecked(index)?),
        "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" | "CHAR" | "UNKNOWN" => {
            Cell::Text(row.try_get_unchecked(index)?)
        }
        "TIMESTAMPTZ" => Cell::Time(row.try_get_unchecked(index)?),
        "TIMESTAMP" => Cell::Time(
            row.try_get_unchecked::<Option<chrono::NaiveDateTime>, _>(index)?
                .map(|t| t.and_utc()),
        ),
        "DATE" => Cell::Text(
            row.try_get_unchecked::<Option<chrono::NaiveDate>, _>(index)?
                .map(|d| d.to_string()),
        ),
        "JSON" | "JSONB" => Cell::Json(row.try_get_unchecked(index)?),
        // Network bounds: the 32 hex digits SQLite holds, not the uuid's dashed spelling.
        "UUID" => Cell::Text(
            row.try_get_unchecked::<Option<sqlx::types::Uuid>, _>(index)?
                .map(|u| crate::net::hex(u.as_u128())),
        ),
        other => {
            let what =
                format!("a column of type {other}, which reports cannot show: CAST it to TEXT");
            return Err(decode(index, what.into()));
        }
    })
}

fn decode(index: usize, source: Box<dyn std::error::Error + Send + Sync>) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: format!("{index}"),
        source,
    }
}

/// A NUMERIC in PostgreSQL's binary format (digit count, weight, sign, scale, then base-10000
/// digits, all big-endian 16-bit): an integer cell when whole and within i64, else a float
/// (the nearest to its exact decimal value).
fn numeric(bytes: &[u8]) -> Option<Cell> {
    let word = |i: usize| {
        let b = bytes.get(2 * i..2 * i + 2)?;
        Some(i16::from_be_bytes([b[0], b[1]]))
    };
    let count = usize::try_from(word(0)?).ok()?;
    let weight = i32::from(word(1)?);
    let sign = word(2)? as u16;
    let digit = |k: i32| match usize::try_from(k) {
        Ok(k) if k < count => word(4 + k),
        _ => Some(0),
    };
    match sign {
        0x0000 | 0x4000 => {}
        0xC000 => return Some(Cell::Float(Some(f64::NAN))),
        0xD000 => return Some(Cell::Float(Some(f64::INFINITY))),
        0xF000 => return Some(Cell::Float(Some(f64::NEG_INFINITY))),
        _ => return None,
    }
    // Digit k stands for digit(k) * 10000^(weight - k).
    let mut whole = String::new();
    for k in 0..=weight {
        let d = digit(k)?;
        if whole.is_empty() {
            whole = d.to_string();
        } else {
            whole.push_str(&format!("{d:04}"));
        }
    }
    let whole = if whole.is_empty() {
        "0".to_owned()
    } else {
        whole
    };
    let count = i32::try_from(count).ok()?;
    let mut fraction = String::new();
    for k in (weight + 1).max(0)..count {
        // Positions between the point and the first digit (weight < -1) are zeros.
        if fraction.is_empty() {
            for _ in 0..(k - weight - 1) {
                fraction.push_str("0000");
            }
        }
        fraction.push_str(&format!("{:04}", digit(k)?));
    }
    let fraction = fraction.trim_end_matches('0');
    let minus = if sign == 0x4000 { "-" } else { "" };
    if fraction.is_empty()
        && let Ok(n) = format!("{minus}{whole}").parse::<i64>()
    {
        return Some(Cell::Int(Some(n)));
    }
    let text = format!("{minus}{whole}.{fraction}");
    Some(Cell::Float(Some(text.parse().ok()?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A NUMERIC's binary form from its base-10000 digits.
    fn binary(weight: i16, negative: bool, scale: i16, digits: &[i16]) -> Vec<u8> {
        let count = i16::try_from(digits.len()).unwrap();
        let sign: u16 = if negative { 0x4000 } else { 0 };
        let mut out = Vec::new();
        for word in [count, weight, sign as i16, scale] {
            out.extend(word.to_be_bytes());
        }
        for d in digits {
            out.extend(d.to_be_bytes());
        }
        out
    }

    #[test]
    fn numerics_read_as_sqlite_would_compute_them() {
        // SUM of integers: 123456789 = 1,2345,6789.
        let sum = binary(2, false, 0, &[1, 2345, 6789]);
        assert_eq!(numeric(&sum), Some(Cell::Int(Some(123_456_789))));
        assert_eq!(numeric(&binary(0, false, 0, &[])), Some(Cell::Int(Some(0))));
        // 20000 = 2 * 10000^1, trailing zero digits not sent.
        assert_eq!(
            numeric(&binary(1, false, 0, &[2])),
            Some(Cell::Int(Some(20_000)))
        );
        // AVG: 2.5000000000000000.
        let avg = binary(0, false, 16, &[2, 5000]);
        assert_eq!(numeric(&avg), Some(Cell::Float(Some(2.5))));
        // -0.00012 = -1.2 * 10000^-1 ... weight -1: 0.0001 2000.
        let small = binary(-1, true, 5, &[1, 2000]);
        assert_eq!(numeric(&small), Some(Cell::Float(Some(-0.00012))));
        // 0.000000005: weight -3 (a zero group between the point and the digit).
        let tiny = binary(-3, false, 9, &[5000]);
        assert_eq!(numeric(&tiny), Some(Cell::Float(Some(0.000_000_005))));
        // 1/3 to 20 places reads as the f64 SQLite computes.
        let third = binary(-1, false, 20, &[3333, 3333, 3333, 3333, 3333]);
        assert_eq!(numeric(&third), Some(Cell::Float(Some(1.0 / 3.0))));
        assert!(numeric(&[0, 1]).is_none());
    }
}
