//! RFC 3161 timestamps (`src/tsa/`): the co-hosted time-stamp authority driven by the
//! real `openssl ts` command, and the depot's TSA client against it and against TSAs we
//! did not write. `pki` makes the certificates both use.

mod authority;
mod client;
pub mod pki;
