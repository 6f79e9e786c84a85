//! Graph and SMT engines that prove properties of policies.
