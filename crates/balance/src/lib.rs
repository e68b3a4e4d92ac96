//! The balance layer of bulwark. **It holds nothing yet**: it is being built on
//! [`bulwark_policy`], the shared vocabulary of every bulwark layer.
#![forbid(unsafe_code)]
