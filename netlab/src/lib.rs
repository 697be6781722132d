//! hubmesh netlab: an emulated WAN (network namespaces + TUN) built from a
//! topology file.
