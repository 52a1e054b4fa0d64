//! Tests of the avatar asset format: round trips, and hostile files that must be refused
//! with a typed error and never a panic.

mod hostile;
mod round_trip;
mod support;
