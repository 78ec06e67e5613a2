//! kvd
