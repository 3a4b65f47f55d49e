//! Configuration and inventory loading. Being written.
