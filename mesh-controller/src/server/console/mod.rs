//! The console: the front-end in `mesh-controller/console/` (built by
//! `scripts/console-build.sh` into `console/dist/`, committed, embedded here),
//! served live at `GET /` over the JSON API, and written whole into one
//! self-contained `report.html` with a snapshot of the data it reads.

pub mod assets;
pub mod page;
pub mod snapshot;
pub mod topology_view;

pub use page::{live_page, snapshot_page};
pub use snapshot::{routes_that_matter, snapshot, Snapshot, MAX_SNAPSHOT_ROUTES};
pub use topology_view::TopologyView;
