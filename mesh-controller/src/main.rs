//! `mesh-controller`: plans, checks and (later) runs the measured mesh.

fn main() {}
