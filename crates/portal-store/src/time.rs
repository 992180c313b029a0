//! `jiff::Timestamp` at the database edge: sea-orm has no jiff support, so every timestamp is
//! stored as BIGINT Unix **microseconds** (UTC) through [`UnixMicros`]. Sub-microsecond
//! precision is dropped on write (truncated).

use jiff::Timestamp;
use sea_orm::sea_query::{ArrayType, ColumnType, Nullable, ValueType, ValueTypeErr};
use sea_orm::{ColIdx, QueryResult, TryGetError, TryGetable, Value};

/// A timestamp as stored: BIGINT microseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnixMicros(pub Timestamp);

impl UnixMicros {
    /// The stored integer.
    #[must_use]
    pub fn micros(self) -> i64 {
        self.0.as_microsecond()
    }

    /// Reads a stored integer back; `None` when it is outside jiff's range.
    #[must_use]
    pub fn from_micros(micros: i64) -> Option<Self> {
        Timestamp::from_microsecond(micros).ok().map(Self)
    }
}

impl From<Timestamp> for UnixMicros {
    fn from(at: Timestamp) -> Self {
        Self(at)
    }
}

impl From<UnixMicros> for Timestamp {
    fn from(at: UnixMicros) -> Self {
        at.0
    }
}

impl From<UnixMicros> for Value {
    fn from(at: UnixMicros) -> Self {
        Value::BigInt(Some(at.micros()))
    }
}

impl TryGetable for UnixMicros {
    fn try_get_by<I: ColIdx>(res: &QueryResult, index: I) -> Result<Self, TryGetError> {
        let micros = <i64 as TryGetable>::try_get_by(res, index)?;
        Self::from_micros(micros).ok_or_else(|| {
            TryGetError::DbErr(sea_orm::DbErr::Type(format!("timestamp out of range: {micros} µs since the epoch")))
        })
    }
}

impl ValueType for UnixMicros {
    fn try_from(v: Value) -> Result<Self, ValueTypeErr> {
        let micros = <i64 as ValueType>::try_from(v)?;
        Self::from_micros(micros).ok_or(ValueTypeErr)
    }

    fn type_name() -> String {
        "UnixMicros".to_owned()
    }

    fn array_type() -> ArrayType {
        ArrayType::BigInt
    }

    fn column_type() -> ColumnType {
        ColumnType::BigInteger
    }
}

impl Nullable for UnixMicros {
    fn null() -> Value {
        Value::BigInt(None)
    }
}

impl sea_orm::IntoActiveValue<UnixMicros> for UnixMicros {
    fn into_active_value(self) -> sea_orm::ActiveValue<UnixMicros> {
        sea_orm::ActiveValue::Set(self)
    }
}

impl sea_orm::sea_query::postgres_array::NotU8 for UnixMicros {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn microseconds_round_trip_and_finer_precision_is_truncated() {
        let at = Timestamp::from_microsecond(1_800_000_000_123_456).unwrap();
        assert_eq!(UnixMicros::from_micros(UnixMicros(at).micros()), Some(UnixMicros(at)));
        let finer = Timestamp::from_nanosecond(1_800_000_000_123_456_789).unwrap();
        assert_eq!(UnixMicros(finer).micros(), 1_800_000_000_123_456);
        assert_eq!(UnixMicros::from_micros(i64::MAX), None);
    }

    #[test]
    fn values_convert_both_ways() {
        let at = UnixMicros(Timestamp::from_second(1_800_000_000).unwrap());
        let value: Value = at.into();
        assert_eq!(<UnixMicros as ValueType>::try_from(value).unwrap(), at);
        assert_eq!(<UnixMicros as Nullable>::null(), Value::BigInt(None));
    }
}
