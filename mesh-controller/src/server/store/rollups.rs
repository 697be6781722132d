//! Rollup rows as the store hands them out, whatever the backend: one per
//! (level, sender endpoint, reflector endpoint, bucket), holding the exactly
//! merged windows of that session direction (see `history::rollup`).

use super::StoreError;
use crate::history::Rollup;

/// One window's contribution: its session direction, start and rollup.
#[derive(Debug, Clone, PartialEq)]
pub struct RollupInput {
    pub sender: String,
    pub reflector: String,
    pub start_ms: u64,
    pub rollup: Rollup,
}

/// A stored row as read (names and bytes borrowed from the row).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RollupRow<'a> {
    pub level_ms: u64,
    pub sender: &'a str,
    pub reflector: &'a str,
    pub bucket_ms: u64,
    /// The rollup record's bytes ([`Rollup::encode`]).
    pub data: &'a [u8],
}

impl RollupRow<'_> {
    pub fn rollup(&self) -> Result<Rollup, StoreError> {
        decode(self.data)
    }

    /// Adds this row into `acc` (see [`Rollup::merge_encoded`]).
    pub fn merge_into(
        &self,
        acc: &mut Rollup,
        scratch: &mut protocol::window::SparseHistogram,
    ) -> Result<(), StoreError> {
        acc.merge_encoded(self.data, scratch)
            .map_err(|e| StoreError::Corrupt(e.to_string()))
    }
}

/// Which session directions to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Directions<'a> {
    /// Every one.
    All,
    /// Both session directions between two endpoints.
    Between(&'a str, &'a str),
}

/// When each session direction was first and last measured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectionSeen {
    pub sender: String,
    pub reflector: String,
    /// Start of the earliest and the latest window stored (Unix ms).
    pub first_ms: u64,
    pub last_ms: u64,
}

/// A rollup record decoded from its bytes.
pub(crate) fn decode(bytes: &[u8]) -> Result<Rollup, StoreError> {
    Rollup::decode(bytes).map_err(|e| StoreError::Corrupt(e.to_string()))
}
