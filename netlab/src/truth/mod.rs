//! Ground truth for lab measurements (`netlab truth`): kernel timestamps of
//! every packet where it enters the emulated WAN (sent by a site's stack into
//! its TUN device) and where it leaves it (written by the forwarder into the
//! destination site's TUN), so a tool's one-way delays can be checked packet
//! by packet against what the WAN did, not against the configured delay.
//!
//! Pure parts only: a packet's identity (`packet_id`), the recorded lines
//! (`record`), pairing entries with exits (`transit`) and comparing a tool's
//! per-packet delays with them (`compare`). The sockets that record are in
//! `crate::truth_recorder`.

pub mod compare;
pub mod packet_id;
pub mod record;
pub mod transit;

pub use compare::{compare, Comparison, Measured};
pub use packet_id::{packet_id, PacketId};
pub use record::{parse_lines, Direction, TruthRecord};
pub use transit::{transits, Transit};
