//! Integration tests of tm-config.

mod keys;
mod load;
mod support;
